"""User-facing text, Traditional Chinese first with English available, kept in one place.

Every capability keeps its messages in ``onceonly/i18n/messages/<capability>.yaml`` as
``key: {zh-TW: ..., en: ...}``; code refers to messages by key and never embeds UI text.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from onceonly.domain.roc_date import TAIWAN

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's loader where PyYAML was built with it: the messages load several times faster."""

LANGUAGES = ("zh-TW", "en")
DEFAULT_LANGUAGE = "zh-TW"
_MESSAGES_DIR = Path(__file__).parent / "messages"


@lru_cache(maxsize=1)
def catalogue() -> dict[str, dict[str, str]]:
    """All messages, merged from every capability's file; duplicate keys are a bug. Loaded
    once per process (the app loads it at start-up, so no request pays for it)."""
    merged: dict[str, dict[str, str]] = {}
    for path in sorted(_MESSAGES_DIR.glob("*.yaml")):
        entries: dict[str, dict[str, str]] = yaml.load(path.read_text("utf-8"), _Loader) or {}
        for key, texts in entries.items():
            if key in merged:
                raise ValueError(f"{path.name}: message key {key!r} is defined twice")
            missing = [lang for lang in LANGUAGES if lang not in texts]
            if missing:
                raise ValueError(f"{path.name}: message {key!r} lacks {', '.join(missing)}")
            merged[key] = texts
    return merged


def normalise_language(value: str | None) -> str:
    if value and value.lower().startswith("en"):
        return "en"
    return DEFAULT_LANGUAGE


def preferred_language(header: str) -> str | None:
    """The language of :data:`LANGUAGES` an ``Accept-Language`` header (RFC 9110 §12.5.4)
    weighs highest, the first of equals; ``None`` when it names neither (``*``, another
    language, nothing). Any Chinese range is taken for Traditional Chinese, the only Chinese
    there is; a range whose weight is not a number from 0 to 1 is skipped, as is ``q=0``."""
    best, best_weight = None, 0.0
    for part in header.split(","):
        tag, *parameters = part.split(";")
        weight = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value.strip())
                except ValueError:
                    weight = 0.0
                if not 0.0 <= weight <= 1.0:  # NaN fails both
                    weight = 0.0
        primary = tag.strip().lower().split("-", 1)[0]
        language = {"en": "en", "zh": "zh-TW"}.get(primary)
        if language is not None and weight > best_weight:
            best, best_weight = language, weight
    return best


def t(key: str, lang: str | None = None, **params: Any) -> str:
    """The message ``key`` in ``lang`` with ``{name}`` placeholders filled in."""
    texts = catalogue().get(key)
    if texts is None:
        raise KeyError(f"no message {key!r} in onceonly/i18n/messages")
    return texts[normalise_language(lang)].format(**params)


def both(key: str, **params: Any) -> dict[str, str]:
    """The message in every language, for documents read by people of either. A parameter
    given per language (a mapping, such as another :func:`both`) is set into each language's
    message in its own (English where it lacks one)."""

    def in_(lang: str) -> dict[str, Any]:
        return {
            k: v.get(lang, v.get("en")) if isinstance(v, Mapping) else v for k, v in params.items()
        }

    return {lang: t(key, lang, **in_(lang)) for lang in LANGUAGES}


def one_line(texts: Mapping[str, str]) -> str:
    """Every language's text of :func:`both` on one line, Traditional Chinese first: for an
    error read where no language was chosen (a command's, an exception's message)."""
    return " / ".join(texts[lang] for lang in LANGUAGES)


def taipei_time(moment: datetime | None, lang: str | None = None, *, seconds: bool = False) -> str:
    """A stored (UTC) time as a person reads it: Taipei wall clock, labelled as such
    (``2026-06-30 10:00（臺北時間）``). The API gives ISO 8601 with its offset instead; pages
    never show a bare or UTC time. ``—`` for no time."""
    if moment is None:
        return "—"
    if moment.tzinfo is None:  # a naive value from storage is UTC
        moment = moment.replace(tzinfo=UTC)
    shown = moment.astimezone(TAIWAN).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    return t("time.taipei", lang, time=shown)
