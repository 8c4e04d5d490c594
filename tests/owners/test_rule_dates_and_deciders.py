"""The rules page says a rule's dates as people here read them and who decided in words: a
rule asked for at 05:20 on 8 December in Taipei (21:20 on the 7th in UTC, the day its first
day defaults to) starts on 2026-12-08, not the 7th; a rule the demo's set-up approved says
so, and never ends in its set-up's raw reason "demo"."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime

from fastapi import FastAPI
from sqlalchemy import update

from onceonly.db import transaction
from onceonly.policy.models import AccessRule
from tests.counter.support import Visitor
from tests.owners.test_rule_terms import WIDE, _approve_form, _article, file_rule
from tests.web.test_tour_pages import visible_text

__all__ = ["file_rule"]

Visit = Callable[[str], Visitor]
FILED = datetime(2026, 12, 7, 21, 20, tzinfo=UTC)
"""2026-12-08 05:20 in Taipei."""


def test_a_rule_asked_for_early_in_the_morning_starts_on_the_taipei_day(
    visit: Visit, file_rule: Callable[..., int], demo_app: FastAPI
) -> None:
    plain = {k: v for k, v in WIDE.items() if k not in ("valid_from", "valid_until")}
    rule_id = file_rule("tpe-udd-clerk", **plain | {"predicate_params": {}})
    with transaction(demo_app.state.sessions) as db:  # as policy.request_rule keeps it
        db.execute(
            update(AccessRule)
            .where(AccessRule.id == rule_id)
            .values(requested_at=FILED, valid_from=FILED.date())
        )
    owner = visit("tpe-tax-owner")
    chinese = visible_text(_article(owner.get("/owners/rules").text, rule_id))
    assert "自 2026-12-08 起，無結束日期" in chinese, chinese
    assert "2026-12-08 05:20（臺北時間）" in chinese
    assert "2026-12-07" not in chinese
    article = _article(owner.get("/owners/rules?lang=en").text, rule_id)
    english = visible_text(article)
    assert "From 2026-12-08, with no end date" in english, english
    assert "2026-12-07" not in english
    assert "backdated" not in visible_text(_approve_form(article, rule_id))


def test_a_backdated_first_day_is_still_said_and_warned_of(
    visit: Visit, file_rule: Callable[..., int], demo_app: FastAPI
) -> None:
    plain = {k: v for k, v in WIDE.items() if k not in ("valid_from", "valid_until")}
    rule_id = file_rule("tpe-udd-clerk", **plain | {"predicate_params": {}})
    with transaction(demo_app.state.sessions) as db:
        db.execute(
            update(AccessRule)
            .where(AccessRule.id == rule_id)
            .values(requested_at=FILED, valid_from=date(2026, 12, 1))
        )
    article = _article(visit("tpe-tax-owner").get("/owners/rules?lang=en").text, rule_id)
    assert "From 2026-12-01, with no end date" in visible_text(article)
    warned = visible_text(_approve_form(article, rule_id))
    assert "It starts on 2026-12-01, before it was asked for on 2026-12-08" in warned


def _decided(article: str) -> str:
    found = re.search(r"<dt>(?:決定|Decided)</dt><dd>(.*?)</dd>", article, re.S)
    assert found, "no decision line"
    return visible_text(found.group(1))


def test_a_rule_the_demo_set_up_says_who_decided_in_words(visit: Visit) -> None:
    owner = visit("tpe-social-owner")
    for url, words in (
        ("/owners/rules", "示範資料預設（臺北市政府社會局）"),
        ("/owners/rules?lang=en", "Set up by the demo (Taipei City Department of Social Welfare)"),
    ):
        page = owner.get(url).text
        ids = re.findall(r'<article class="rule approved" id="rule-(\d+)"', page)
        assert ids, "the demo's approved rules are listed"
        for rule_id in ids:
            decided = _decided(_article(page, int(rule_id)))
            assert decided.startswith(words), decided
            assert not decided.rstrip().endswith("demo"), decided
