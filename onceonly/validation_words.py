"""Pydantic's refusals of input, in our words, in either language.

Pydantic words its errors in English only ("Field required", "Input should be a valid
integer"). An API caller and an operator reading a plan file read them in Traditional Chinese
or English instead: each common kind of error has a message of ours, keyed by the kind
(``missing``, ``too_long``, ``bad_type`` with the kind of value wanted, ...). The messages
live under a prefix: ``validation.`` for the API; a capability with wording of its own (the
consolidation plan's ``consolidate.plan.``) passes its prefix, and a kind it does not word
falls back to ``validation.``. Anything else keeps Pydantic's words inside ours.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic_core import PydanticCustomError

from onceonly.i18n import catalogue, normalise_language, t

MAX_UNKNOWN_KEYS = 10
"""Unknown keys named one by one; past this, one error names the first few. Pydantic builds
an error per key, and 75,000 keys (under the 1 MiB body limit) cost 0.5 s to anyone: the
citizen sign-in takes no credentials."""


class ApiInput(BaseModel):
    """Every JSON body the API takes: a key it does not know is refused, named, in words
    (``validation.unknown_key``). Ignored, a misspelt optional key let a request go on as if
    it had not been sent (an agency system never learns it is wrong)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _few_unknown_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and len(data) > MAX_UNKNOWN_KEYS:
            known = set(cls.model_fields)
            unknown = [str(key) for key in data if key not in known]
            if len(unknown) > MAX_UNKNOWN_KEYS:
                raise PydanticCustomError(
                    "too_many_unknown_keys",
                    "{count} keys that are not fields, such as {keys}",
                    {"count": len(unknown), "keys": ", ".join(unknown[:3])},
                )
        return data


_EXPECTED = {
    "string": "text",
    "str": "text",
    "int": "integer",
    "float": "number",
    "decimal": "number",
    "bool": "boolean",
    "date": "date",
    "datetime": "date",
    "list": "list",
    "tuple": "list",
    "set": "list",
    "dict": "mapping",
    "model": "mapping",
}
"""The first word of a Pydantic type error (``float_parsing``) -> the kind of value wanted,
itself a message (``validation.kind.number``)."""

_BOUNDS = {
    "greater_than": ("gt", "greater_than"),
    "greater_than_equal": ("ge", "at_least"),
    "less_than": ("lt", "less_than"),
    "less_than_equal": ("le", "at_most"),
}


def _message(prefix: str, name: str, lang: str | None, **params: Any) -> str:
    key = f"{prefix}.{name}"
    return t(key if key in catalogue() else f"validation.{name}", lang, **params)


def reason(error: Mapping[str, Any], lang: str | None, prefix: str = "validation") -> str:
    """Why ``error`` (one of ``ValidationError.errors()``) refused its value, in ``lang``."""
    kind = str(error.get("type", ""))
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    say = lambda name, **params: _message(prefix, name, lang, **params)  # noqa: E731
    if kind == "missing":
        return say("missing")
    if kind == "extra_forbidden":
        return say("unknown_key")
    if kind == "too_many_unknown_keys":
        return say("unknown_keys", count=ctx.get("count", 0), keys=ctx.get("keys", ""))
    if kind == "json_invalid":
        return say("json", error=ctx.get("error", ""))
    if kind in ("literal_error", "enum"):
        expected = str(ctx.get("expected", ""))
        allowed = re.findall(r"'([^']*)'", expected) or [expected]
        joiner = "、" if normalise_language(lang) == "zh-TW" else ", "
        return say("not_allowed", allowed=joiner.join(allowed))
    if kind == "string_pattern_mismatch":
        return say("bad_format", pattern=ctx.get("pattern", ""))
    if kind in ("too_short", "string_too_short"):
        return say("too_short", min=ctx.get("min_length", 1))
    if kind in ("too_long", "string_too_long"):
        return say("too_long", max=ctx.get("max_length", 0))
    if kind in _BOUNDS:
        name, key = _BOUNDS[kind]
        return say(key, bound=ctx.get(name, ""))
    if kind in ("value_error", "assertion_error"):  # our own validators' words
        return (
            str(error.get("msg", ""))
            .removeprefix("Value error, ")
            .removeprefix("Assertion failed, ")
        )
    first = kind.split("_")[0]
    if first in _EXPECTED and ("_type" in kind or "_parsing" in kind):
        return say("bad_type", expected=say(f"kind.{_EXPECTED[first]}"))
    return say("invalid", msg=error.get("msg", ""))
