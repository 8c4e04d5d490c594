"""``onceonly init``: a deployment with no demo data, the one path the demo is built on too.

A deployment is a data directory holding its settings file (:data:`~onceonly.config.
SETTINGS_FILE`), the owners' connectors and private keys (or wherever the file says), and a
database brought to the newest schema by Alembic, with the national catalog loaded and a first
administrator to sign in with. ``onceonly demo`` calls :func:`init_deployment` and then adds
its registries, connectors, accounts and rules.
"""

from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from onceonly import migrations
from onceonly.config import SETTINGS_FILE, Settings
from onceonly.db import make_engine, make_session_factory, transaction

PLATFORM_AGENCY = "central.ndc"
"""The platform operator (國家發展委員會): its administrators run the node and see no
citizen's data (``accounts.tenancy``)."""


@dataclass(frozen=True)
class FirstAdmin:
    """The administrator ``init`` creates; the password is never printed or written."""

    username: str
    password: str
    agency: str = PLATFORM_AGENCY
    display_name: str = "系統管理者 Administrator"


@dataclass(frozen=True)
class InitResult:
    settings_file: Path
    settings_written: bool
    catalog_loaded: bool
    admin_created: bool


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def settings_document(settings: Settings) -> str:
    """The settings file for ``settings``: every value an operator is expected to look at,
    grouped and explained; paths absolute so any working directory reads it the same."""
    data_dir = settings.data_dir.resolve()

    def line(name: str, value: Any, comment: str = "") -> str:
        return (f"# {comment}\n" if comment else "") + f"{name} = {_toml_value(value)}\n"

    database = settings.database_url or settings.resolved_database_url
    parts = [
        "# onceonly settings (written by `onceonly init`; see docs/deploy.md).\n"
        "# Every name may also be set in the environment as ONCEONLY_<NAME>, which wins.\n\n",
        "## node identity\n",
        line("data_dir", str(data_dir)),
        line("node_name", settings.node_name or data_dir.name, "shown to people"),
        line("language", settings.language),
        "# audit_origin: drawn once and kept in the data directory when not given\n\n",
        "## database (PostgreSQL in production; the password may come from the environment)\n",
        line("database_url", database),
        "\n## connectors and keys\n",
        line("connectors_dir", str(settings.registries_dir.resolve()), "owners' connector files"),
        line("signing_keys_dir", str(settings.keys_dir.resolve()), "private keys, mode 0700"),
        "\n## mail and SMS to citizens\n",
        line("smtp_host", settings.smtp_host),
        line("smtp_port", settings.smtp_port),
        line("smtp_from", settings.smtp_from),
        line("sms_mode", settings.sms_mode, "only the administrators' outbox is built"),
        "\n## accounts\n",
        line(
            "temporary_password_days",
            settings.temporary_password_days,
            "days a password set by an administrator or the operator signs in (at least 1)",
        ),
        "\n## operations\n",
        line("trusted_proxies", settings.trusted_proxies, "peers whose X-Request-ID is kept"),
        line("log_format", settings.log_format),
        '# metrics_token = "..."  # lets a remote Prometheus read /metrics (docs/deploy.md)\n',
        line("audit_publish_seconds", settings.audit_publish_seconds),
    ]
    return "".join(parts)


def write_settings_file(settings: Settings, path: Path | None = None) -> tuple[Path, bool]:
    """Write the settings file unless one is there (an operator's edits are kept); returns
    its path and whether it was written."""
    path = path or settings.data_dir / SETTINGS_FILE
    if path.exists():
        return path, False
    path.parent.mkdir(parents=True, exist_ok=True)
    text = settings_document(settings)
    tomllib.loads(text)  # what we write must read back
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(text)
    return path, True


def _private_sqlite(url: str) -> None:
    """A SQLite database file (and its journals) readable by its owner and group only."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return
    for suffix in ("", "-wal", "-shm", "-journal"):
        path = Path(parsed.database + suffix)
        if path.is_file():
            os.chmod(path, stat.S_IMODE(path.stat().st_mode) & 0o770)


def init_deployment(settings: Settings, admin: FirstAdmin | None = None) -> InitResult:
    """Make (or complete) a deployment: folders, settings file, schema, national catalog and
    the first administrator. Safe to run again: nothing that exists is changed."""
    from onceonly.accounts.users import create_user, get_user
    from onceonly.catalog import service as catalog
    from onceonly.catalog.loader import load_catalog

    url = settings.resolved_database_url
    make_url(url)  # a URL that cannot be parsed fails here, before anything is made
    settings.ensure_dirs()
    os.chmod(settings.keys_dir, 0o700)
    # Other users of the machine reach nothing inside: the default SQLite database (and the
    # -wal/-shm files SQLite makes later with the process's umask) holds password hashes, the
    # badge key and citizens' data.
    os.chmod(settings.data_dir, 0o750)
    migrations.upgrade(url)
    # only now: a settings file is never changed by a later init, so one naming a database
    # that could not be used would outlive the corrected command
    settings_file, written = write_settings_file(settings)
    _private_sqlite(url)
    engine = make_engine(url)
    try:
        sessions = make_session_factory(engine)
        with transaction(sessions) as session:
            catalog_loaded = not catalog.list_jurisdictions(session)
            if catalog_loaded:
                load_catalog(session)
        admin_created = False
        if admin is not None:
            with transaction(sessions) as session:
                if get_user(session, admin.username) is None:
                    create_user(
                        session,
                        admin.username,
                        admin.password,
                        "admin",
                        admin.agency,
                        admin.display_name,
                        lang=settings.language,
                    )
                    admin_created = True
    finally:
        engine.dispose()
    return InitResult(settings_file, written, catalog_loaded, admin_created)
