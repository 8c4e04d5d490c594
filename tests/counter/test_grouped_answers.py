"""A piece asked of every land office gets one answer per office: identical answers are shown
once with every office that gave it (each office's transcript still a link away), a different
answer separately, and in the printout each answer keeps its own signature line."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from onceonly.counter.evidence import Cell, TranscriptCard, group_answers
from tests.conftest import DemoEnv
from tests.counter.support import Visitor

NO_HOME = "owns_no_residential_property"
SAME = ("基隆市各地政事務所", "新北市各地政事務所", "臺南市各地政事務所", "宜蘭縣各地政事務所")
OTHER = "臺北市各地政事務所"
"""The demo's 臺北市 home owner: every land office says "no home there" but 臺北市's."""

Visit = Callable[[str], Visitor]


def _fetched(visit: Visit, demo_env: DemoEnv) -> tuple[Visitor, str]:
    clerk = visit("tpe-udd-clerk")
    opened = clerk.open_case("public-housing-general", demo_env.sample("taipei_home_owner"))
    number = clerk.case_number(opened)
    assert clerk.post(f"/counter/cases/{number}/evidence").status_code == 200
    return clerk, number


def _blocks(html: str, start: str, end: str, opening: str) -> list[str]:
    """The parts of the piece's ``start``..``end`` region that begin with ``opening``."""
    region = html[html.index(start) :]
    region = region[: region.index(end)]
    return [opening + part for part in region.split(opening)[1:]]


def _links(block: str, number: str) -> set[int]:
    found = re.findall(rf'href="/counter/cases/{number}/transcripts/{NO_HOME}/(\d+)"', block)
    return {int(i) for i in found}


def test_the_case_page_shows_the_common_answer_once_with_every_office(
    visit: Visit, demo_env: DemoEnv
) -> None:
    clerk, number = _fetched(visit, demo_env)
    page = clerk.get(f"/counter/cases/{number}").text
    answers = _blocks(page, f'id="ev-{NO_HOME}"', "</article>", '<section class="transcript')
    assert len(answers) == 2, answers
    common, different = answers
    assert common.count("名下無住宅：是") == 1 and "名下無住宅：否" not in common
    assert all(office in common for office in SAME) and OTHER not in common
    assert "4 個機關答覆相同" in common and "<details" in common
    assert different.count("名下無住宅：否") == 1 and OTHER in different
    assert not any(office in different for office in SAME)
    assert page.count("名下無住宅：是") == 1
    # every office's transcript stays one click away, each in the answer it gave
    assert len(_links(common, number)) == 4 and len(_links(different, number)) == 1
    assert _links(common, number) | _links(different, number) == set(range(5))
    english = clerk.get(f"/counter/cases/{number}?lang=en").text
    assert "The same answer from 4 offices" in english


def test_the_printout_keeps_each_answer_with_its_signature_line(
    visit: Visit, demo_env: DemoEnv
) -> None:
    clerk, number = _fetched(visit, demo_env)
    printout = clerk.get(f"/counter/cases/{number}/print").text
    start = printout.index("全戶建物登記謄本（無自有住宅證明）")
    answers = _blocks(printout[start:], "<td", "</tr>", '<div class="answer-block">')
    assert len(answers) == 2, answers
    common, different = answers
    for block in answers:  # one answer, one signature line, in the same block
        assert block.count("數位簽章：") == 1 and block.count('class="answer"') == 1
    assert "名下無住宅：是" in common and "答覆機關（4 個）" in common
    assert all(office in common for office in SAME) and OTHER not in common
    assert "名下無住宅：否" in different and OTHER in different
    assert printout.count("名下無住宅：是") == 1
    assert _links(common, number) | _links(different, number) == set(range(5))


def test_print_styles_keep_an_answer_and_its_signature_together() -> None:
    css = (Path(__file__).parents[2] / "onceonly/web/static/site.css").read_text()
    printed = " ".join(re.findall(r"@media print \{(.*?)\n\}", css, re.S))
    rule = re.search(r"\.answer-block[^{]*\{([^}]*)\}", printed)
    assert rule and "break-inside:avoid" in rule.group(1)


AT = datetime(2030, 1, 1, tzinfo=UTC)


def _card(index: int, owner: str, sentence: str | None, *, valid: bool = True) -> TranscriptCard:
    return TranscriptCard(
        index=index, owner=owner, owner_name=f"{owner} 地政事務所", kid="k", valid=valid,
        problem=None if valid else "簽章不符", cells=() if sentence else (Cell("面積", "12"),),
        sentence=sentence, issued_at=AT, expires_at=AT + timedelta(days=index + 1),
        legal_basis="", claims_case=None, request_id="r", jti=f"j{index}",
    )  # fmt: skip


ANSWERS = st.sampled_from(["名下無住宅：是", "名下無住宅：否", None])


@given(st.lists(st.tuples(ANSWERS, st.booleans()), max_size=12))
def test_grouping_keeps_every_transcript_once_and_joins_only_equal_answers(
    said: list[tuple[str | None, bool]],
) -> None:
    cards = [_card(i, f"o{i}", s, valid=v) for i, (s, v) in enumerate(said)]
    groups = group_answers(cards)
    assert sorted(c.index for g in groups for c in g.transcripts) == list(range(len(cards)))
    shown = [(g.first.valid, g.first.sentence, g.first.cells) for g in groups]
    assert len(shown) == len(set(shown))  # each distinct answer once
    for group in groups:
        assert {(c.valid, c.sentence, c.cells) for c in group.transcripts} == {
            (group.first.valid, group.first.sentence, group.first.cells)
        }
        assert group.owner_names == [c.owner_name for c in group.transcripts]
        assert group.expires_at == min(c.expires_at for c in group.transcripts if c.expires_at)
    assert [g.first.index for g in groups] == sorted(g.first.index for g in groups)


def test_an_unreadable_transcript_stands_alone() -> None:
    unread = replace(_card(0, "", None, valid=False), owner="", owner_name="", cells=())
    groups = group_answers([unread, replace(unread, index=1)])
    assert [len(g.transcripts) for g in groups] == [1, 1]
