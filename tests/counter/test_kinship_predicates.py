"""Issue 17 at the counter: a 親等關聯 case shows the household office's answers to the
kinship predicates in words, Chinese first - the heirs by relationship and order, and, for
a person the clerk names, the line and degree - and a wrong national ID is refused on the
page naming the field."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from tests.conftest import DemoEnv
from tests.counter.support import Visitor
from tests.counter.test_kinship_chart import CLERK, ITEM, _son

Visit = Callable[[str], Visitor]


def _sentences(text: str) -> list[str]:
    return [html.unescape(s) for s in re.findall(r'<p class="sentence">(.*?)</p>', text, re.S)]


def test_the_heirs_and_a_degree_of_kinship_read_as_words(visit: Visit, demo_env: DemoEnv) -> None:
    clerk = visit(CLERK)
    opened = clerk.open_case(ITEM, demo_env.sample("kinship_deceased"), confirmed="deceased")
    assert opened.status_code == 200, opened.text
    number = Visitor.case_number(opened)
    fetched = clerk.post(f"/counter/cases/{number}/evidence")
    assert fetched.status_code == 200, fetched.text
    said = _sentences(fetched.text)
    assert (
        "被繼承人有法定繼承人（民法第1138條）：是；繼承人：配偶 1 人、第1順序直系血親卑親屬 2 人；"
        "部分親屬之紀錄由其他戶政事務所保存，本答覆僅依本所保存之紀錄，可能不完整"
    ) in said, said
    assert 'id="f-ask-within_kinship_degree"' in fetched.text  # asked only with the other named
    # its card says so, not "not fetched yet: fetch all" (which had just been pressed)
    assert "請在本頁下方填入另一人的身分證統一編號後詢問" in html.unescape(fetched.text)

    wrong = clerk.post(f"/counter/cases/{number}/ask/within_kinship_degree", {"other": "A1234"})
    assert wrong.status_code == 422
    assert "須為有效的國民身分證統一編號" in wrong.text and 'aria-invalid="true"' in wrong.text

    son = _son(clerk, number)
    asked = clerk.post(f"/counter/cases/{number}/ask/within_kinship_degree", {"other": son})
    assert asked.status_code == 200, asked.text
    assert "他方為當事人之配偶或 6 親等內之親屬：是；直系血親 1 親等；" in "".join(
        _sentences(asked.text)
    )
    assert son not in "".join(_sentences(asked.text))
    english = clerk.get(f"/counter/cases/{number}?lang=en")
    assert "lineal blood relative, degree 1" in html.unescape(english.text)
