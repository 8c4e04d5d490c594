"""The punctuation a page writes between words of its own. Traditional Chinese uses the
full-width marks (``數位簽章：有效``, ``戶籍謄本、低收入戶證明``, ``（內政部戶政司）``),
English its own (``Signature: valid``, ``A, B``, `` (Department of…)``). Words are joined
through these rather than with a mark written into the code or template, which an English
page then showed (``Owner：…``). Pages use them as Jinja filters (:data:`FILTERS`):
``names | join_words(lang)``, ``label | colon(lang)``, ``note | bracketed(lang)``,
``'semicolon' | mark(lang)``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from onceonly.i18n import normalise_language

_MARKS = {
    "zh-TW": {
        "list": "、",
        "comma": "，",
        "colon": "：",
        "semicolon": "；",
        "open": "（",
        "close": "）",
    },
    # an English parenthesis is set off from the word before it; a full-width one carries its
    # own space
    "en": {
        "list": ", ",
        "comma": ", ",
        "colon": ": ",
        "semicolon": "; ",
        "open": " (",
        "close": ")",
    },
}


def mark(name: str, lang: str | None) -> str:
    """The mark ``name`` (``list``, ``comma``, ``colon``, ``semicolon``, ``open``, ``close``)
    as ``lang`` writes it."""
    return _MARKS[normalise_language(lang)][name]


def list_separator(lang: str | None) -> str:
    """Between the items of a list: ``、`` / ``, ``."""
    return mark("list", lang)


def join_words(items: Iterable[Any], lang: str | None) -> str:
    """``戶籍謄本、低收入戶證明`` / ``Household registration transcript, Low-income…``."""
    return list_separator(lang).join(str(item) for item in items)


def colon(label: Any, lang: str | None) -> str:
    """The label and the colon that introduces what follows it: ``數位簽章：`` / ``Signature: ``."""
    return f"{label}{mark('colon', lang)}"


def bracketed(note: Any, lang: str | None) -> str:
    """A note set after what it qualifies: ``（內政部戶政司）`` / `` (Department of…)``; nothing
    for no note."""
    if note is None or note == "":
        return ""
    return f"{mark('open', lang)}{note}{mark('close', lang)}"


FILTERS = {"join_words": join_words, "colon": colon, "bracketed": bracketed, "mark": mark}
"""The Jinja filters of :mod:`onceonly.web.templating`."""
