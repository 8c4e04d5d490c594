"""Folding the spellings legacy systems disagree on: full-width digits and letters, variant
characters (臺/台 …), names with spacing and rare characters, national IDs typed with
separators.

Every function here is idempotent (``f(f(x)) == f(x)``), so a value normalised by one
system and again by the next stays the same. The variant table is data
(``onceonly/consolidate/data/variants.yaml``), versioned with the code that reads it.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import yaml

VARIANTS_FILE = Path(__file__).resolve().parent.parent / "consolidate" / "data" / "variants.yaml"

_FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_FULL_WIDTH[0x3000] = 0x20  # ideographic space
_DOTS = re.compile(r"[・‧•．･∙⋅]")
_SPACES = re.compile(r"\s+")
_CJK_GAP = re.compile(r"(?<=[^\x00-\x7f])\s+|\s+(?=[^\x00-\x7f])")
_ID_SEPARATORS = re.compile(r"[\s\-_./]")


@cache
def variant_table() -> dict[str, str]:
    """Variant character -> canonical character (the loaded YAML table, checked)."""
    data = yaml.safe_load(VARIANTS_FILE.read_text("utf-8"))
    table: dict[str, str] = dict(data["characters"])
    clash = set(table) & set(table.values())
    if clash:
        raise ValueError(f"{VARIANTS_FILE.name}: canonical characters listed as variants: {clash}")
    return table


@cache
def _translation() -> dict[int, str]:
    return {ord(k): v for k, v in variant_table().items()}


def fold_width(text: str) -> str:
    """Full-width ASCII (０-９, Ａ-Ｚ, ！…) and the ideographic space to their half-width forms.

    Unlike NFKC this leaves CJK compatibility ideographs alone: a rare character in a name
    must survive exactly as registered.
    """
    return text.translate(_FULL_WIDTH)


def fold_variants(text: str) -> str:
    """Variant characters to their canonical form: ``台南`` -> ``臺南``."""
    return text.translate(_translation())


def normalise_name(text: str) -> str:
    """A person's name as one registry would write it.

    Chinese names lose every space (``王 小明`` -> ``王小明``); runs of Latin letters keep one
    space between words and are upper-cased; the many middle dots of indigenous and
    transliterated names become ``·``; variant characters are folded. Rare characters
    (including private-use 造字 code points) are kept as they are.
    """
    folded = fold_variants(fold_width(_DOTS.sub("·", text))).strip()
    folded = _CJK_GAP.sub("", folded)
    folded = _SPACES.sub(" ", folded)
    return folded.replace(" ·", "·").replace("· ", "·").upper()


def has_rare_characters(text: str) -> bool:
    """Whether ``text`` holds private-use (造字) or supplementary-plane characters, which many
    legacy systems cannot display and some replaced with ``?``."""
    return any(0xE000 <= ord(c) <= 0xF8FF or ord(c) > 0xFFFF for c in text)


def clean_national_id(text: str) -> str:
    """A national ID as typed (full-width, lower case, spaces or dashes) to its bare
    10-character form; it is not checked here (see :mod:`onceonly.domain.national_id`)."""
    return _ID_SEPARATORS.sub("", fold_width(text)).upper()
