"""What an operator reads when a command cannot use a file it was given, the settings it
runs with, a value a domain rule refuses or a database URL: what and why, in both languages
(the settings that would choose one may be what is wrong), instead of a traceback ending in
an exception's name. :func:`explained` is what ``onceonly``'s ``main`` asks."""

from __future__ import annotations

import json
import os
import tomllib

from pydantic import ValidationError
from sqlalchemy.exc import ArgumentError

from onceonly.config import CONFIG_ENV
from onceonly.domain.errors import DomainValueError
from onceonly.i18n import LANGUAGES, t

_WHY = {
    FileExistsError: "cli.file.is_a_file",
    FileNotFoundError: "cli.file.missing",
    IsADirectoryError: "cli.file.is_a_folder",
    NotADirectoryError: "cli.file.not_a_folder",
    PermissionError: "cli.file.no_permission",
}


def explained(exc: BaseException) -> str | None:
    """The words for ``exc`` if it is one of the troubles below, else ``None`` (which keeps
    its traceback: an error nobody foresaw is a bug to report, not a message to polish)."""
    return file_trouble(exc) or settings_trouble(exc) or value_trouble(exc) or url_trouble(exc)


def in_both(key: str, **params: object) -> str:
    return "\n".join(t(key, lang, **params) for lang in LANGUAGES)


def file_trouble(exc: BaseException) -> str | None:
    """Words for a file or folder that could not be read or written, or for a file whose
    content is not text or not JSON; ``None`` otherwise."""
    if isinstance(exc, OSError) and exc.filename is not None:
        # a rename names its source first: the path the operator gave is the destination
        path = os.fsdecode(exc.filename2 if exc.filename2 is not None else exc.filename)
        if path == os.environ.get(CONFIG_ENV):
            return in_both("cli.settings.missing", path=path, env=CONFIG_ENV)
        key = next((k for kind, k in _WHY.items() if isinstance(exc, kind)), None)
        if key is None:
            return in_both("cli.file.trouble", path=path, reason=exc.strerror or exc)
        return in_both(key, path=path)
    if isinstance(exc, UnicodeDecodeError):
        return in_both("cli.file.not_text", position=exc.start)
    if isinstance(exc, json.JSONDecodeError):
        return in_both("cli.file.not_json", line=exc.lineno, column=exc.colno)
    return None


def settings_trouble(exc: BaseException) -> str | None:
    """Words for settings that cannot be read (the file ``ONCEONLY_CONFIG`` names is not
    TOML) or hold a value of the wrong kind (each setting named); ``None`` otherwise."""
    path = os.environ.get(CONFIG_ENV, "")
    if isinstance(exc, tomllib.TOMLDecodeError):
        return in_both("cli.settings.not_toml", path=path, env=CONFIG_ENV)
    if isinstance(exc, ValidationError) and exc.title == "Settings":
        names = ", ".join(".".join(str(part) for part in error["loc"]) for error in exc.errors())
        return in_both("cli.settings.invalid", names=names, path=path or "-", env=CONFIG_ENV)
    return None


def value_trouble(exc: BaseException) -> str | None:
    """Words for a value a domain rule refused (a national ID's length or check digit, ...):
    the rule's own message in both languages; ``None`` otherwise."""
    if isinstance(exc, DomainValueError):
        return f"{exc.message_zh}\n{exc.message_en}"
    return None


def url_trouble(exc: BaseException) -> str | None:
    """Words for a database URL SQLAlchemy cannot parse (``--database-url`` or
    ``ONCEONLY_DATABASE_URL``); ``None`` for any other error."""
    if isinstance(exc, ArgumentError) and "Could not parse SQLAlchemy URL" in str(exc):
        return in_both("cli.database.bad_url")
    return None
