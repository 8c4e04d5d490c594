"""An English counter page punctuates in English: "Owner: Department of…", "Signature: valid
(Department of…)", "missing: A, B", never the full-width colon, brackets, 、 or ； that the
Chinese page uses. The citizen's data (names, addresses, a law's article 第4條、第4條之1) stay
as written: a full-width mark between two Chinese characters is data, one touching English
words or digits is the page's own punctuation, written in the wrong language."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from onceonly.counter.evidence import format_value, predicate_question
from onceonly.i18n.punctuation import bracketed, colon, join_words
from tests.conftest import DemoEnv
from tests.counter.support import Visitor
from tests.counter.test_parcel_on_case import _ask_about_a_parcel

Visit = Callable[[str], Visitor]
ITEM = "public-housing-low-income"
_FULL_WIDTH = "：（）、；，"
_CJK = re.compile(r"[\u3000-\u9fff\uf900-\ufaff\uff00-\uffef]")


def _visible(page: str) -> str:
    """The page's text as a reader sees it: no markup, scripts, styles or drawn SVG."""
    page = re.sub(r"(?s)<(script|style|svg)\b.*?</\1>", " ", page)
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def _chinese_marks_in_english(page: str) -> list[str]:
    """Each full-width mark beside a character that is not Chinese (spaces skipped), in its
    context. Neighbours are looked for in the mark's own run of text (a table cell, a link):
    a register's name ending "（昭和18年除戶）" in one cell is data whatever the next cell
    says; a mark alone between two elements is always the page's own."""
    page = re.sub(r"(?s)<(script|style|svg)\b.*?</\1>", " ", page)
    found = []
    for run in re.split(r"<[^>]+>", page):
        text = html.unescape(run)
        for match in re.finditer(f"[{_FULL_WIDTH}]", text):
            beside = [text[: match.start()].rstrip()[-1:], text[match.end() :].lstrip()[:1]]
            present = [c for c in beside if c]
            if not present or not all(_CJK.match(c) for c in present):
                found.append(" ".join(text[max(0, match.start() - 30) : match.end() + 30].split()))
    return found


def _in_english(visitor: Visitor) -> Visitor:
    """Every page from now on in English, as the reader's remembered choice says."""
    visitor.client.cookies.set("lang", "en")
    return visitor


def test_the_case_print_and_transcript_pages_punctuate_english_in_english(
    visit: Visit, demo_env: DemoEnv
) -> None:
    clerk = visit("tpe-udd-clerk")
    _in_english(clerk)
    opened = clerk.open_case(ITEM, demo_env.sample("low_income_applicant"))
    assert opened.status_code == 200, opened.text
    number = Visitor.case_number(opened)
    assert clerk.post(f"/counter/cases/{number}/evidence").status_code == 200
    for path in (
        f"/counter/cases/{number}",
        f"/counter/cases/{number}/print",
        f"/counter/cases/{number}/transcripts/household_registration/0",
    ):
        page = clerk.get(path)
        assert page.status_code == 200, path
        assert 'lang="en"' in page.text
        assert _chinese_marks_in_english(page.text) == [], path
    case = _visible(clerk.get(f"/counter/cases/{number}").text)
    assert "Owner: Department of Household Registration" in case
    assert "✔ Signature: valid (Department of Household Registration" in case
    printed = _visible(clerk.get(f"/counter/cases/{number}/print").text)
    assert "Answered by (5): Keelung City Land Offices, New Taipei City Land Offices" in printed
    transcript = clerk.get(f"/counter/cases/{number}/transcripts/household_registration/0")
    assert "Electronic transcript: Household registration transcript" in _visible(transcript.text)


def _waiting_for_consent(clerk: Visitor, demo_env: DemoEnv) -> str:
    """A case whose two papers wait for the citizen's consent: it cannot be approved yet."""
    subject = demo_env.sample("low_income_applicant")
    opened = clerk.open_case("job-seeking-transport-allowance", subject)
    assert opened.status_code == 200, opened.text
    number = Visitor.case_number(opened)
    assert clerk.post(f"/counter/cases/{number}/evidence").status_code == 200
    return number


def test_the_papers_still_missing_are_listed_in_english(visit: Visit, demo_env: DemoEnv) -> None:
    clerk = visit("tpe-labour-clerk")
    _in_english(clerk)
    page = clerk.get(f"/counter/cases/{_waiting_for_consent(clerk, demo_env)}")
    assert 'id="decision-approved-missing"' in page.text
    missing = re.search(r'id="decision-approved-missing"[^>]*>(.*?)</p>', page.text)
    assert missing is not None
    assert "missing: Household registration transcript, Low-income household" in missing.group(1)
    assert _chinese_marks_in_english(page.text) == []


def test_the_chinese_pages_keep_their_full_width_marks(visit: Visit, demo_env: DemoEnv) -> None:
    labour = visit("tpe-labour-clerk")
    waiting = labour.get(f"/counter/cases/{_waiting_for_consent(labour, demo_env)}")
    assert "戶籍謄本、低收入戶證明" in _visible(waiting.text)
    clerk = visit("tpe-udd-clerk")
    number = Visitor.case_number(clerk.open_case(ITEM, demo_env.sample("low_income_applicant")))
    clerk.post(f"/counter/cases/{number}/evidence")
    case = _visible(clerk.get(f"/counter/cases/{number}").text)
    assert "資料所屬機關：內政部戶政司" in case
    assert "數位簽章：有效（內政部戶政司）" in case
    assert "（臺北市政府都市發展局）" in case  # who did each step, and for which agency


def test_a_kept_parcel_answer_and_the_kinship_chart_punctuate_english_in_english(
    visit: Visit, demo_env: DemoEnv
) -> None:
    clerk, number, _ = _ask_about_a_parcel(visit, demo_env)
    _in_english(clerk)
    for path in (f"/counter/cases/{number}", f"/counter/cases/{number}/print"):
        page = clerk.get(path)
        assert page.status_code == 200 and 'id="lookup-answer"' in page.text
        assert _chinese_marks_in_english(page.text) == [], path

    household = visit("tpe-hh-clerk")
    _in_english(household)
    opened = household.open_case(
        "kinship-chart", demo_env.sample("kinship_deceased"), confirmed="deceased"
    )
    assert opened.status_code == 200, opened.text
    kin_case = Visitor.case_number(opened)
    household.post(f"/counter/cases/{kin_case}/evidence")
    charted = household.post(f"/counter/cases/{kin_case}/kinship")
    assert charted.status_code == 200 and 'class="kin-heirs"' in charted.text
    assert "Spouse, always an heir" in charted.text  # its whole English label (counter.yaml)
    for path in (f"/counter/cases/{kin_case}", f"/counter/cases/{kin_case}/print"):
        page = household.get(path)
        assert page.status_code == 200
        assert _chinese_marks_in_english(page.text) == [], path


def test_each_language_punctuates_its_own_way() -> None:
    assert join_words(["戶籍謄本", "低收入戶證明"], "zh-TW") == "戶籍謄本、低收入戶證明"
    assert join_words(["A", "B"], "en") == "A, B"
    assert colon("數位簽章", "zh-TW") == "數位簽章：" and colon("Signature", "en") == "Signature: "
    assert bracketed("內政部戶政司", "zh-TW") == "（內政部戶政司）"
    assert bracketed("Ministry", "en") == " (Ministry)" and bracketed("", "en") == ""
    assert format_value([2025, 2026], "en") == "2025, 2026"
    assert format_value([2025, 2026], "zh-TW") == "2025、2026"
    assert predicate_question(None, "some_question", {"year": 2026}, "en") == (
        "some_question (year 2026)"
    )
    assert predicate_question(None, "some_question", {"year": 2026}, "zh-TW") == (
        "some_question（year 2026）"
    )
