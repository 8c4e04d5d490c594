"""A route's change is committed before its answer leaves: a client told "revoked" is never
ahead of the database, and a commit that fails is an error, not a 200 for nothing.

(``Depends(get_db)`` used to close its session after the response was sent: another worker
could still find the rule approved after the owner saw 200, and a failing commit went
unnoticed by the client.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

import onceonly
from onceonly.policy.service import get_rule
from tests.conftest import DemoEnv
from tests.exchange.support import Counter


def test_a_revocation_whose_commit_fails_is_not_answered_200(
    demo_env: DemoEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = Counter(demo_env)
    subject = demo_env.sample("low_income_applicant")
    first = counter.results(counter.ask("tpe-udd-clerk", subject))
    rule_id = first["is_low_income_household"]["rule_ids"][0]
    owner = counter.headers("tpe-social-owner")

    assert counter.client.get("/api/v1/auth/whoami", headers=owner).status_code == 200

    def failing_commit(self: Session) -> None:  # the owner's token is already resolved
        raise OperationalError("COMMIT", {}, Exception("disk full"))

    monkeypatch.setattr(Session, "commit", failing_commit)
    client = TestClient(counter.app, raise_server_exceptions=False)
    answer: Any = client.post(
        f"/api/v1/access-rules/{rule_id}/revoke", json={"reason": "稽核"}, headers=owner
    )
    monkeypatch.undo()
    assert answer.status_code >= 500, answer.text
    with counter.app.state.sessions() as db:
        rule = get_rule(db, rule_id)
    assert rule is not None and rule.status == "approved"
    client.close()
    counter.client.close()


def test_routes_take_the_session_only_as_db() -> None:
    """Every route gets its session through ``onceonly.web.deps.Db``, whose scope commits
    before the answer; a ``Depends(get_db)`` of its own would commit after it again."""
    package = Path(onceonly.__file__).parent
    own = [
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if path.name != "deps.py" and "Depends(get_db" in path.read_text("utf-8")
    ]
    assert own == []
