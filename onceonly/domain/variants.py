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


UNIHAN_VARIANTS = Path("/usr/share/unicode/Unihan_Variants.txt.bz2")
"""Unihan's variant fields as Debian's ``unicode-data`` package installs them (offline)."""
_UNIHAN_FIELDS = ("kZVariant", "kSemanticVariant", "kTraditionalVariant")


def _unihan_pairs(path: Path) -> list[tuple[str, str]]:
    import bz2

    pairs = []
    with bz2.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if not line.startswith("U+"):
                continue
            code, field, values = line.rstrip("\n").split("\t")
            if field not in _UNIHAN_FIELDS:
                continue
            char = chr(int(code[2:], 16))
            targets = {chr(int(v.split("<")[0][2:], 16)) for v in values.split()} - {char}
            # A simplified form with several traditional ones (后: 後, 后) is ambiguous:
            # only one-to-one traditional variants are folded.
            if field == "kTraditionalVariant" and len(targets) != 1:
                continue
            pairs += [(char, target) for target in targets]
    return pairs


@cache
def matching_table() -> dict[str, str]:
    """Character -> the one character its variant group is compared as, for linkage only
    (names are stored as registered): Unihan's Z, semantic and one-to-one traditional
    variants, the project's variant table, and its ``matching`` supplement for pairs Unihan
    does not list (凃/涂). Without the Unihan file, the project's tables alone."""
    data = yaml.safe_load(VARIANTS_FILE.read_text("utf-8"))
    pairs = list(variant_table().items()) + list(data.get("matching", {}).items())
    if UNIHAN_VARIANTS.is_file():
        pairs += _unihan_pairs(UNIHAN_VARIANTS)
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.get(x, x) != x:
            x = parent[x]
        return x

    preferred = set(variant_table().values()) | set(data.get("matching", {}).values())
    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        # the group's face: a canonical form of the project's tables, else the smaller code
        if ra in preferred and rb not in preferred:
            keep, drop = ra, rb
        elif rb in preferred and ra not in preferred:
            keep, drop = rb, ra
        else:
            keep, drop = min(ra, rb), max(ra, rb)
        parent[drop] = keep
    return {c: find(c) for c in parent if find(c) != c}


@cache
def _matching_translation() -> dict[int, str]:
    return {ord(k): v for k, v in matching_table().items()}


def fold_for_matching(text: str) -> str:
    """``text`` with every variant character as its group's face: ``凃`` and ``涂``, ``黄``
    and ``黃`` compare equal. Idempotent."""
    return text.translate(_matching_translation())
