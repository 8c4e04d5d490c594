"""The prepared demo leaves one rule request for ``tpe-social-owner`` to decide, so a newcomer
sees the approval and its warnings without setting one up; preparing again files no other."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from pathlib import Path

from sqlalchemy import func, select

from onceonly.config import Settings
from onceonly.db import make_engine, make_session_factory, transaction, utcnow
from onceonly.demo.rules import PENDING_OWNER, PENDING_REQUESTER, PENDING_YEARS
from onceonly.demo.run import prepare_demo
from onceonly.policy.models import AccessRule
from onceonly.policy.service import approve_rule
from tests.conftest import DemoEnv
from tests.counter.support import Visitor

Visit = Callable[[str], Visitor]
SMALL_DEMO = 100
"""People in the demo this file prepares twice itself (the shared one is a copy, on
PostgreSQL made from the models without Alembic's stamp, so it cannot be prepared again)."""
PENDING = re.compile(r'<article class="rule pending" id="rule-(\d+)".*?</article>', re.S)


def _pending(page: str) -> dict[int, str]:
    return {int(found.group(1)): found.group(0) for found in PENDING.finditer(page)}


def _filed(settings: Settings) -> list[tuple[int, str]]:
    """(id, status) of every rule request the demo's requesting clerk has filed."""
    engine = make_engine(settings.resolved_database_url)
    try:
        with make_session_factory(engine)() as db:
            query = select(AccessRule.id, AccessRule.status).where(
                AccessRule.requested_by == PENDING_REQUESTER
            )
            return [(row.id, row.status) for row in db.execute(query.order_by(AccessRule.id))]
    finally:
        engine.dispose()


def test_the_owner_finds_the_demo_request_with_its_warnings(
    visit: Visit, demo_env: DemoEnv
) -> None:
    page = visit("tpe-social-owner").get("/owners/rules")
    assert page.status_code == 200
    pending = _pending(page.text)
    assert len(pending) == 1, "the demo leaves exactly one request to decide"
    [(rule_id, article)] = pending.items()
    assert "待核准的申請 (1)" in page.text

    # who asks what for which item, in words
    assert "社會福利身分資料 → 臺北市政府勞動局" in article
    assert "臨時工作津貼" in article
    assert PENDING_REQUESTER in article, "filed by the requesting agency's own account"
    # its approve action, with the warnings beside the button
    assert f'action="/owners/rules/{rule_id}/approve"' in article
    assert f"核准 R-{rule_id}" in article
    assert f'aria-describedby="rule-{rule_id}-warnings"' in article
    assert "核准前請注意：此申請有 2 項放寬存取的條件" in article
    assert "申請的欄位超出本申請項目所需：低收入身分、低收入身分有效期限。" in article
    end = date(utcnow().year + PENDING_YEARS, 12, 31).isoformat()
    assert f"至 {end}，長達 {PENDING_YEARS} 年，超過 5 年。" in article
    assert f'action="/owners/rules/{rule_id}/reject"' in article


def test_preparing_again_files_no_second_request(tmp_path: Path, empty_database_url: str) -> None:
    """``./demo`` run again on its data directory: the request is there once, and once the
    owner has decided it, no other is filed."""
    settings = Settings(
        data_dir=tmp_path / "data", database_url=empty_database_url, secret_key="test-secret"
    )
    first = prepare_demo(settings, people=SMALL_DEMO)
    [(rule_id, status)] = _filed(settings)
    assert (first.pending_rule, status) == (rule_id, "pending")

    again = prepare_demo(settings, people=SMALL_DEMO)
    assert again.pending_rule == rule_id and again.rules_made == 0
    assert _filed(settings) == [(rule_id, "pending")]

    engine = make_engine(settings.resolved_database_url)
    try:
        with transaction(make_session_factory(engine)) as db:
            approve_rule(db, rule_id, "tpe-social-owner", PENDING_OWNER)
    finally:
        engine.dispose()
    decided = prepare_demo(settings, people=SMALL_DEMO)
    assert decided.pending_rule is None, "a decided request is not filed again"
    assert _filed(settings) == [(rule_id, "approved")]


def test_nothing_else_is_pending_in_the_prepared_demo(demo_env: DemoEnv) -> None:
    engine = make_engine(demo_env.settings.resolved_database_url)
    try:
        with make_session_factory(engine)() as db:
            count = db.scalar(
                select(func.count()).select_from(AccessRule).where(AccessRule.status == "pending")
            )
    finally:
        engine.dispose()
    assert count == 1
