"""A count reads right in English whatever it is: "1 pieces of evidence" stood under a
catalogue item with one required document. Where the noun would change with the number, the
English says "Evidence required: 1" instead, which holds for any count."""

from __future__ import annotations

import re

import pytest

from onceonly.i18n import t

COUNTED = {
    "catalog.item.evidence_count": {},
    "catalog.search.count": {},
    "audit.page.head": {},
    "audit.page.pages": {"page": 1, "pages": 1},
    "citizens.me.count": {"page": 1, "pages": 1},
}
"""Messages that put a count before a noun, with what else they are filled in with."""
PLURAL_AFTER_ONE = re.compile(r"\b1 (?:[a-z]+ ){0,2}?(?:[a-z]+s|people)\b")


def _count_name(key: str) -> str:
    return "total" if key in ("audit.page.pages", "citizens.me.count") else "count"


@pytest.mark.parametrize("key", sorted(COUNTED))
def test_a_count_reads_right_in_english_whatever_it_is(key: str) -> None:
    for count in (0, 1, 2, 1234):
        assert str(count) in t(key, "en", **{_count_name(key): count}, **COUNTED[key])
    one = t(key, "en", **{_count_name(key): 1}, **COUNTED[key])
    assert not PLURAL_AFTER_ONE.search(one), one


def test_the_check_knows_a_wrong_plural() -> None:
    assert PLURAL_AFTER_ONE.search("1 pieces of evidence")
    assert PLURAL_AFTER_ONE.search("Page 1 of 1 (1 entries you may see that match)")
    assert not PLURAL_AFTER_ONE.search("Evidence required: 1")
    assert not PLURAL_AFTER_ONE.search("Page 1 of 1; entries you may see that match: 1")
