"""An agency that handles no application item of its own, before anything is searched: the
"Open a new case" box says so and how to find another agency's items, not that no item
matches "" (the query nobody typed)."""

from __future__ import annotations

import re
from collections.abc import Callable

from tests.counter.support import Visitor

Visit = Callable[[str], Visitor]


def _open_box(page: str) -> str:
    found = re.search(r'<fieldset id="[^"]*application_item".*?</fieldset>', page, re.S)
    assert found, "no item choices on the page"
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(0)).split())


def test_nothing_searched_yet_says_what_to_do(visit: Visit) -> None:
    clerk = visit("tpe-social-clerk")
    chinese = _open_box(clerk.get("/counter").text)
    assert "「」" not in chinese
    assert "臺北市政府社會局沒有受理的申請項目" in chinese and "輸入關鍵字" in chinese, chinese
    english = _open_box(clerk.get("/counter?lang=en").text)
    assert '""' not in english and "&#34;&#34;" not in english
    assert "Taipei City Department of Social Welfare handles no application item" in english
    assert "type a word" in english, english


def test_a_search_that_finds_nothing_still_names_the_query(visit: Visit) -> None:
    clerk = visit("tpe-social-clerk")
    box = _open_box(clerk.get("/counter?q=zzzz-nothing").text)
    assert "找不到符合「zzzz-nothing」的申請項目" in box, box
