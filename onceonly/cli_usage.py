"""A command typed wrongly (an unknown option, a missing argument, a value of the wrong kind),
told in both languages.

Click and Typer find these before any command runs and word them in English only. The
operator reads what the command's usage is, then the mistake in Traditional Chinese and in
English, naming the option as typed. A value's reason is translated for the kinds of value
the commands take (whole numbers, numbers, true/false, bounds, a choice); any other reason
is quoted as Click gave it.
"""

from __future__ import annotations

import re
from typing import Any

try:  # Typer 0.2x parses with a copy of Click of its own, whose errors these are
    from typer._click import exceptions as errors
except ImportError:  # pragma: no cover - an older Typer, on Click itself
    from click import exceptions as errors  # type: ignore[no-redef]

from onceonly.i18n import LANGUAGES, both, one_line, t

_VALUE_REASONS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), key)
    for pattern, key in (
        (r"valid integer|is not a valid integer", "cli.usage.value.integer"),
        (r"valid number|is not a valid float", "cli.usage.value.number"),
        (r"valid boolean|is not a valid boolean", "cli.usage.value.boolean"),
        (r"greater than or equal to (?P<bound>\S+)", "cli.usage.value.at_least"),
        (r"greater than (?P<bound>\S+)", "cli.usage.value.more_than"),
        (r"less than or equal to (?P<bound>\S+)", "cli.usage.value.at_most"),
        (r"less than (?P<bound>\S+)", "cli.usage.value.less_than"),
        (r"(?:Input should be|is not one of) (?P<choices>'.*')", "cli.usage.value.one_of"),
    )
)
_NO_SUCH_COMMAND = re.compile(r"No such command '(?P<name>[^']*)'")
_MEANT = re.compile(r"Did you mean '(?P<name>[^']*)'")
_EXTRA = re.compile(r"Got unexpected extra argument(?:s|\(s\))? \((?P<args>.*)\)")
_NEEDS_VALUE = re.compile(r"Option '(?P<name>[^']*)' requires an argument")


def _value_reason(message: str, lang: str) -> str:
    for pattern, key in _VALUE_REASONS:
        found = pattern.search(message)
        if found:
            return t(key, lang, **{k: v.rstrip(".") for k, v in found.groupdict().items()})
    return message


def _hint(error: Any) -> str:
    param = getattr(error, "param", None)
    hint = getattr(error, "param_hint", None)
    if hint is None and param is not None:
        try:
            hint = param.get_error_hint()
        except TypeError:  # Click itself asks for the context
            hint = param.get_error_hint(error.ctx)
    parts = hint if isinstance(hint, list | tuple) else str(hint or "").split(" / ")
    return " / ".join(str(part).strip("'\"") for part in parts)


def mistake(error: Any, lang: str) -> str:
    """What was typed wrongly, in ``lang``."""
    message = error.format_message()
    if isinstance(error, errors.NoSuchOption):
        said = t("cli.usage.no_such_option", lang, name=error.option_name)
        if error.possibilities:
            said += t("cli.usage.meant", lang, name=", ".join(sorted(error.possibilities)))
        return said
    if isinstance(error, errors.MissingParameter):
        kind = "argument" if getattr(error.param, "param_type_name", "") == "argument" else "option"
        return t(f"cli.usage.missing_{kind}", lang, name=_hint(error))
    if isinstance(error, errors.BadParameter):
        return t("cli.usage.bad_value", lang, name=_hint(error), reason=_value_reason(
            error.message, lang))  # fmt: skip
    if found := _NO_SUCH_COMMAND.search(message):
        said = t("cli.usage.no_such_command", lang, name=found["name"])
        if meant := _MEANT.search(message):
            said += t("cli.usage.meant", lang, name=meant["name"])
        return said
    if found := _EXTRA.search(message):
        return t("cli.usage.extra", lang, args=found["args"])
    if found := _NEEDS_VALUE.search(message):
        return t("cli.usage.needs_value", lang, name=found["name"])
    return t("cli.usage.other", lang, message=message)


def explained(error: Any) -> str:
    """The usage line, where to find help, then the mistake in every language."""
    lines = []
    if error.ctx is not None:
        lines.append(error.ctx.get_usage())
        if error.ctx.help_option_names:
            helping = f"{error.ctx.command_path} {error.ctx.help_option_names[0]}"
            lines.append(one_line(both("cli.usage.try_help", command=helping)))
    lines.extend(mistake(error, lang) for lang in LANGUAGES)
    return "\n".join(lines)
