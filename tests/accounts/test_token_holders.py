"""A person's API tokens are the person's own: only system accounts get tokens from an
administrator.

The hole these close: once an administrator could no longer choose a clerk's password, they
could still issue an API token for the clerk's account (``/admin/api-tokens``) and act as the
clerk with it: every evidence request ran as the clerk, and the citizen's page of who looked
at their data named the clerk. A *system account* (no password: an agency system's, made
with ``onceonly users create --no-password`` or the system box of ``/admin/users``) gets its
tokens from its administrators; a *personal account* (one that signs in with a password)
only from its holder, signed in, on ``/account``; never from a token.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import ORMExecuteState, Session
from typer.testing import CliRunner

from onceonly.accounts.api_tokens import hash_token, issue_api_token, list_api_tokens
from onceonly.accounts.models import ApiToken, UserSession
from onceonly.accounts.password_changes import set_password
from onceonly.accounts.password_rules import OPERATOR, PASSWORD_CHANGE_PATH
from onceonly.accounts.principal import NODE_OPERATOR
from onceonly.accounts.users import UserView, create_citizen, create_user, get_user
from onceonly.audit.models import AuditEntry
from onceonly.cli import app as cli
from onceonly.config import Settings
from onceonly.db import make_engine, make_session_factory, utcnow
from onceonly.errors import Problem
from tests.accounts.conftest import login

MakeUser = Callable[..., UserView]
TPE = "taipei-city.urban_development"


def _rows(db: Session) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(ApiToken)) or 0


def _page_token(page: Any) -> str:
    return str(page.text.split('id="new-token" readonly value="')[1].split('"')[0])


def _id(db: Session, username: str) -> int:
    user = get_user(db, username)
    assert user is not None, username
    return user.id


def _whoami(client: TestClient, token: str) -> Any:
    return client.get("/api/v1/auth/whoami", headers={"Authorization": f"Bearer {token}"})


def _api_issue(client: TestClient, username: str, headers: dict[str, str]) -> Any:
    return client.post(
        "/api/v1/auth/tokens",
        json={"username": username, "name": "system", "days": 1},
        headers={"Accept": "application/json"} | headers,
    )


# --- the rule ------------------------------------------------------------------------------


def test_the_marker_is_the_missing_password(db: Session) -> None:
    person = create_user(db, "tpe-udd-clerk", "a long password", "clerk", TPE, "王小明")
    system = create_user(db, "tpe-udd-system", None, "clerk", TPE, "國宅申請系統")
    citizen = create_citizen(db, "A123456789", "王小明")
    assert (person.system, system.system, citizen.system) == (False, True, False)


def test_an_administrator_cannot_issue_a_token_for_a_clerks_personal_account(
    client: TestClient, make_user: MakeUser, db: Session
) -> None:
    make_user("tpe-admin", role="admin", agency="taipei-city.civil_affairs")
    make_user("tpe-udd-clerk", agency=TPE)
    csrf = login(client, "tpe-admin")
    form = {"csrf_token": csrf, "username": "tpe-udd-clerk", "name": "國宅系統", "days": ""}
    page = client.post("/admin/api-tokens", data=form)
    assert page.status_code == 422, page.text[-800:]
    error = page.text.split('id="f-username-error" class="error">')[1].split("</p>")[0]
    assert "tpe-udd-clerk" in error and "個人帳號" in error and "我的帳號" in error
    assert 'id="new-token"' not in page.text
    english = client.post("/admin/api-tokens?lang=en", data=form)
    assert english.status_code == 422 and "it is a personal account" in english.text
    api = _api_issue(client, "tpe-udd-clerk", {"X-CSRF-Token": csrf})
    assert api.status_code == 403, api.text
    assert api.json()["errors"] == [
        {"field": "username", "reason": api.json()["detail"], "code": "personal_account"}
    ]
    assert _rows(db) == 0, "no token row was written"


def test_an_administrator_issues_a_system_accounts_token_recorded_as_such(
    client: TestClient,
    make_user: MakeUser,
) -> None:
    make_user("tpe-admin", role="admin", agency="taipei-city.civil_affairs")
    make_user("tpe-udd-system", agency=TPE, system=True)
    make_user("khh-social-system", agency="kaohsiung-city.social_welfare", system=True)
    csrf = login(client, "tpe-admin")
    page = client.post(
        "/admin/api-tokens",
        data={"csrf_token": csrf, "username": "tpe-udd-system", "name": "國宅系統", "days": ""},
    )
    assert page.status_code == 201, page.text[-800:]
    me = _whoami(TestClient(client.app), _page_token(page)).json()
    assert (me["username"], me["issued_by"]) == ("tpe-udd-system", "tpe-admin")
    listed = client.get("/admin/api-tokens").text
    assert "系統帳號" in listed and "系統管理者替個人帳號核發" not in listed
    other = _api_issue(client, "khh-social-system", {"X-CSRF-Token": csrf})
    assert other.status_code == 422, "another tenant's account is as if it did not exist"


def test_a_clerk_makes_their_own_token_on_the_account_page_but_not_with_a_token(
    client: TestClient, make_user: MakeUser, db: Session
) -> None:
    make_user("tpe-udd-clerk", agency=TPE)
    csrf = login(client, "tpe-udd-clerk")
    assert 'action="/account/api-tokens?lang=' in client.get("/account").text
    made = client.post(
        "/account/api-tokens", data={"csrf_token": csrf, "name": "我的查調程式", "days": "7"}
    )
    assert made.status_code == 201, made.text[-800:]
    token = _page_token(made)
    me = _whoami(TestClient(client.app), token).json()
    assert (me["username"], me["auth_method"], me["issued_by"]) == (
        "tpe-udd-clerk",
        "token",
        "tpe-udd-clerk",
    )
    bad = client.post("/account/api-tokens?lang=en", data={"csrf_token": csrf, "name": " "})
    assert bad.status_code == 422 and 'id="f-name-error"' in bad.text
    assert _rows(db) == 1

    bearer = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    by_token = TestClient(client.app).post(
        "/account/api-tokens", data={"name": "x"}, headers=bearer
    )
    assert by_token.status_code == 403, by_token.text
    assert by_token.json()["type"].endswith("/session-only")
    assert "API 權杖不能核發新的權杖" in by_token.json()["detail"]
    assert _rows(db) == 1, "a token does not renew itself"


def test_a_platform_administrator_likewise(
    client: TestClient,
    make_user: MakeUser,
    db: Session,
) -> None:
    make_user("admin", role="admin", agency="central.ndc")
    make_user("ndc-second-admin", role="admin", agency="central.ndc")
    make_user("ndc-ops-system", role="admin", agency="central.ndc", system=True)
    csrf = login(client, "admin")
    own = client.post("/account/api-tokens", data={"csrf_token": csrf, "name": "維運腳本"})
    assert own.status_code == 201, own.text[-800:]
    bearer = {"Authorization": f"Bearer {_page_token(own)}"}
    by_page = _api_issue(client, "admin", {"X-CSRF-Token": csrf})
    assert by_page.status_code == 201, "the holder's own session may use the API too"
    assert _rows(db) == 2

    api = TestClient(client.app)
    for path, kind in (("/account/api-tokens", "form"), ("/api/v1/auth/tokens", "json")):
        body: dict[str, Any] = {"name": "x"} | ({"username": "admin"} if kind == "json" else {})
        sent = (
            api.post(path, json=body, headers=bearer)
            if kind == "json"
            else api.post(path, data=body, headers=bearer | {"Accept": "application/json"})
        )
        assert sent.status_code == 403, (path, sent.text)
        assert sent.json()["type"].endswith("/session-only")
    person = _api_issue(api, "ndc-second-admin", bearer)
    assert person.status_code == 403 and person.json()["errors"][0]["code"] == "personal_account"
    assert _rows(db) == 2
    system = _api_issue(api, "ndc-ops-system", bearer)  # a provisioning script's token may
    assert system.status_code == 201, system.text
    assert system.json()["created_by"] == "admin" and system.json()["personal"] is False


def test_a_temporary_password_makes_no_token(
    client: TestClient, make_user: MakeUser, db: Session
) -> None:
    make_user("tpe-udd-clerk", agency=TPE)
    set_password(db, "tpe-udd-clerk", "the administrator chose this", by=OPERATOR)
    db.commit()
    csrf = login(client, "tpe-udd-clerk", "the administrator chose this")
    form = {"csrf_token": csrf, "name": "x"}
    held = client.post("/account/api-tokens", data=form, headers={"Accept": "text/html"})
    assert held.status_code == 303 and held.headers["location"] == PASSWORD_CHANGE_PATH
    api = client.post("/account/api-tokens", data=form, headers={"Accept": "application/json"})
    assert api.status_code == 403 and api.json()["type"].endswith("/password-change-required")
    assert _rows(db) == 0


def test_the_service_refuses_whoever_is_not_the_holder(db: Session) -> None:
    admin = create_user(db, "tpe-admin", "a long password", "admin", TPE, "管理者")
    clerk = create_user(db, "tpe-udd-clerk", "a long password", "clerk", TPE, "王小明")
    with pytest.raises(Problem) as refused:
        issue_api_token(db, clerk, "x", 1, created_by=admin.id, lang="en")
    assert refused.value.status == 403 and refused.value.errors[0].field == "username"
    _, own = issue_api_token(db, clerk, "mine", 1, created_by=clerk.id)
    _, operator = issue_api_token(db, clerk, "cli", 1)  # the operator's tools may
    assert (own.created_by, operator.created_by) == ("tpe-udd-clerk", None)
    assert not own.issued_by_other and not operator.issued_by_other


# --- administrators make system accounts -------------------------------------------------------


def test_an_administrator_makes_a_system_account_without_a_password(
    client: TestClient, make_user: MakeUser, db: Session
) -> None:
    make_user("tpe-admin", role="admin", agency="taipei-city.civil_affairs")
    csrf = login(client, "tpe-admin")
    form = {
        "csrf_token": csrf,
        "username": "tpe-udd-system",
        "display_name": "臺北市都發局 國宅申請系統",
        "role": "clerk",
        "agency_code": TPE,
        "system": "1",
    }
    with_password = client.post("/admin/users", data=form | {"password": "a long password"})
    assert with_password.status_code == 422 and 'id="f-password-error"' in with_password.text
    assert get_user(db, "tpe-udd-system") is None
    made = client.post("/admin/users", data=form)
    assert made.status_code == 303, made.text[-800:]
    assert "這是系統帳號" in client.get(made.headers["location"]).text
    account = get_user(db, "tpe-udd-system")
    assert account is not None and account.system
    issued = _api_issue(client, "tpe-udd-system", {"X-CSRF-Token": csrf})
    assert issued.status_code == 201, issued.text


# --- tokens issued before ------------------------------------------------------------------


def _issued_before(db: Session, holder: str, issuer: str, name: str = "old") -> tuple[str, int]:
    """A token an administrator issued for ``holder`` before that was refused."""
    plain = "oot_" + re.sub(r"[^A-Za-z0-9]", "x", f"{holder}-{name}").ljust(43, "x")[:43]
    owner, creator = get_user(db, holder), get_user(db, issuer)
    assert owner is not None and creator is not None
    row = ApiToken(
        user_id=owner.id,
        name=name,
        token_hash=hash_token(plain),
        prefix=plain[:10],
        created_at=utcnow(),
        created_by_id=creator.id,
        expires_at=utcnow() + timedelta(days=30),
    )
    db.add(row)
    db.commit()
    return plain, row.id


@pytest.fixture
def runner(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("ONCEONLY_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("ONCEONLY_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("ONCEONLY_LANGUAGE", "en")
    monkeypatch.setenv("COLUMNS", "200")
    return CliRunner()


def test_tokens_issued_before_work_marked_until_the_upgrade_command_revokes_them(
    client: TestClient,
    make_user: MakeUser,
    db: Session,
    runner: CliRunner,
    settings: Settings,
) -> None:
    make_user("tpe-admin", role="admin", agency="taipei-city.civil_affairs")
    make_user("tpe-udd-clerk", agency=TPE)
    make_user("tpe-udd-system", agency=TPE, system=True)
    stand_in, stand_in_id = _issued_before(db, "tpe-udd-clerk", "tpe-admin")
    system, _ = _issued_before(db, "tpe-udd-system", "tpe-admin")
    operator, _ = issue_api_token(db, _id(db, "tpe-udd-clerk"), "cli", 1)
    db.commit()
    api = TestClient(client.app)
    assert _whoami(api, stand_in).json()["issued_by"] == "tpe-admin", "it still works"

    login(client, "tpe-admin")
    page = client.get("/admin/api-tokens").text
    assert 'id="issued-by-other-notice"' in page and "revoke-admin-issued-tokens" in page
    assert page.count("系統管理者替個人帳號核發，以帳號本人的名義行事") == 1
    listed = {t["id"]: t for t in client.get("/api/v1/auth/tokens").json()}
    assert listed[stand_in_id]["issued_by_other"] is True
    assert sum(t["issued_by_other"] for t in listed.values()) == 1
    clerk = TestClient(client.app, follow_redirects=False)
    login(clerk, "tpe-udd-clerk")
    assert "是系統管理者替您核發的" in clerk.get("/account").text

    done = runner.invoke(cli, ["users", "revoke-admin-issued-tokens"])
    assert done.exit_code == 0, done.output
    assert "revoked: 1" in done.output and "issued by tpe-admin for tpe-udd-clerk" in done.output
    gone = _whoami(api, stand_in)
    assert gone.status_code == 401 and gone.json()["reason"] == "token-revoked"
    assert _whoami(api, system).status_code == 200, "a system account's token stays"
    assert _whoami(api, operator).status_code == 200, "so does the operator's"
    assert 'id="issued-by-other-notice"' not in client.get("/admin/api-tokens").text
    again = runner.invoke(cli, ["users", "revoke-admin-issued-tokens"])
    assert "revoked: 0" in again.output

    engine = make_engine(settings.resolved_database_url)
    with make_session_factory(engine)() as session:
        entries = list(
            session.scalars(select(AuditEntry).where(AuditEntry.event == "account.token_revoked"))
        )
    engine.dispose()
    assert len(entries) == 1
    entry = entries[0]
    assert entry.actor_username == NODE_OPERATOR
    assert entry.details["token"]["id"] == stand_in_id
    assert entry.details["token"]["issued_by"].startswith("badge:B-")


def test_the_holder_revokes_one_from_their_account_page(
    client: TestClient, make_user: MakeUser, db: Session
) -> None:
    make_user("tpe-admin", role="admin", agency="taipei-city.civil_affairs")
    make_user("tpe-udd-clerk", agency=TPE)
    make_user("tpe-fire-clerk", agency="taipei-city.fire")
    stand_in, stand_in_id = _issued_before(db, "tpe-udd-clerk", "tpe-admin")
    _, not_theirs = _issued_before(db, "tpe-fire-clerk", "tpe-admin", "fire")
    csrf = login(client, "tpe-udd-clerk")
    page = client.get("/account").text
    assert f'action="/account/api-tokens/{stand_in_id}/revoke?lang=' in page
    other = client.post(f"/account/api-tokens/{not_theirs}/revoke", data={"csrf_token": csrf})
    assert other.status_code == 404
    done = client.post(f"/account/api-tokens/{stand_in_id}/revoke", data={"csrf_token": csrf})
    assert done.status_code == 303 and done.headers["location"] == "/account"
    assert _whoami(TestClient(client.app), stand_in).status_code == 401


def test_a_password_given_to_a_system_account_ends_its_administrators_tokens(
    client: TestClient,
    make_user: MakeUser,
    db: Session,
) -> None:
    """Otherwise: make a system account, issue its token, then give it a password and hand
    it to a new clerk, and the token acts as that clerk."""
    make_user("tpe-admin", role="admin", agency="taipei-city.civil_affairs")
    make_user("tpe-udd-new", agency=TPE, system=True)
    csrf = login(client, "tpe-admin")
    issued = _api_issue(client, "tpe-udd-new", {"X-CSRF-Token": csrf})
    assert issued.status_code == 201
    operator, operator_view = issue_api_token(db, _id(db, "tpe-udd-new"), "cli", 1)
    db.commit()
    reset = client.post(
        "/admin/users/password",
        data={
            "csrf_token": csrf,
            "reset_username": "tpe-udd-new",
            "reset_password": "the administrator chose this",
        },
    )
    assert reset.status_code == 303, reset.text[-800:]
    api = TestClient(client.app)
    gone = _whoami(api, issued.json()["token"])
    assert gone.status_code == 401 and gone.json()["reason"] == "token-revoked"
    assert _whoami(api, operator).json()["reason"] == "token-revoked", "every token ends"
    account = get_user(db, "tpe-udd-new")
    assert account is not None and not account.system
    refused = _api_issue(client, "tpe-udd-new", {"X-CSRF-Token": csrf})
    assert refused.status_code == 403, "a person's account now"
    db.expire_all()
    entry = db.scalars(select(AuditEntry).where(AuditEntry.event == "account.password_set")).one()
    assert entry.details["tokens_revoked"] == [issued.json()["id"], operator_view.id]


# --- the operator's command line -----------------------------------------------------------


def test_the_operator_still_issues_for_anyone_and_is_told_what_it_means(
    runner: CliRunner, db: Session
) -> None:
    helped = runner.invoke(cli, ["users", "issue-token", "--help"])
    assert "personal account" in helped.output and "acts as that person" in " ".join(
        helped.output.split()
    )
    create_user(db, "tpe-udd-clerk", "a long password", "clerk", TPE, "王小明")
    create_user(db, "tpe-udd-system", None, "clerk", TPE, "國宅申請系統")
    db.commit()
    person = runner.invoke(cli, ["users", "issue-token", "tpe-udd-clerk", "--name", "x"])
    assert person.exit_code == 0, person.output
    assert "personal account" in person.output and "node-operator" in person.output
    system = runner.invoke(cli, ["users", "issue-token", "tpe-udd-system", "--name", "x"])
    assert system.exit_code == 0 and "personal account" not in system.output
    assert len(list_api_tokens(db)) == 2


# --- whoever knew a temporary password keeps no token --------------------------------------


def _entries(db: Session, event: str) -> list[AuditEntry]:
    db.expire_all()
    query = select(AuditEntry).where(AuditEntry.event == event).order_by(AuditEntry.seq)
    return list(db.scalars(query))


def _reset(client: TestClient, csrf: str, username: str, password: str) -> None:
    form = {"csrf_token": csrf, "reset_username": username, "reset_password": password}
    reset = client.post("/admin/users/password", data=form)
    assert reset.status_code == 303, reset.text[-800:]


def test_a_reset_ends_the_token_made_by_whoever_knew_the_temporary_password(
    client: TestClient, make_user: MakeUser, db: Session
) -> None:
    """The review's hole: an administrator resets a clerk's password, signs in with it, sets
    their own, makes a ten-year token in the clerk's name, then resets again and hands the
    new temporary password to the clerk. The second reset ends that token."""
    make_user("tpe-admin", role="admin", agency="taipei-city.civil_affairs")
    make_user("tpe-udd-clerk", agency=TPE)
    admin_csrf = login(client, "tpe-admin")
    _reset(client, admin_csrf, "tpe-udd-clerk", "temporary password one")

    posing = TestClient(client.app, follow_redirects=False)
    csrf = login(posing, "tpe-udd-clerk", "temporary password one")
    changed = posing.post(
        PASSWORD_CHANGE_PATH,
        data={
            "csrf_token": csrf,
            "current_password": "temporary password one",
            "new_password": "the administrator's own",
            "new_password_again": "the administrator's own",
        },
    )
    assert changed.status_code == 303, changed.text[-800:]
    made = posing.post(
        "/account/api-tokens", data={"csrf_token": csrf, "name": "備用", "days": "3650"}
    )
    assert made.status_code == 201, made.text[-800:]
    token = _page_token(made)
    api = TestClient(client.app)
    me = _whoami(api, token).json()
    assert (me["username"], me["issued_by"]) == ("tpe-udd-clerk", "tpe-udd-clerk")
    clerk_id = _id(db, "tpe-udd-clerk")
    session_id = db.scalar(
        select(UserSession.id).where(
            UserSession.user_id == clerk_id, UserSession.revoked_at.is_(None)
        )
    )

    _reset(client, admin_csrf, "tpe-udd-clerk", "temporary password two")
    gone = _whoami(api, token)
    assert gone.status_code == 401 and gone.json()["reason"] == "token-revoked"

    (issued,) = _entries(db, "account.token_issued")
    assert issued.details["credential"] == {
        "kind": "session",
        "id": session_id,
        "issued_by": "self",
    }
    assert issued.details["account"]["id"] == clerk_id
    assert issued.details["token"]["id"] == me["token_id"]
    assert issued.details["token"]["name"] == "備用"
    assert issued.details["token"]["expires_at"].startswith(
        str((utcnow() + timedelta(days=3650)).year)
    )
    first, second = _entries(db, "account.password_set")
    assert first.details["tokens_revoked"] == []
    assert second.details["tokens_revoked"] == [me["token_id"]]
    assert second.details["account"]["id"] == clerk_id


def test_the_operators_set_password_ends_every_token_too(
    runner: CliRunner, make_user: MakeUser, db: Session
) -> None:
    make_user("tpe-udd-clerk", agency=TPE)
    clerk = _id(db, "tpe-udd-clerk")
    _, own = issue_api_token(db, clerk, "mine", 1, created_by=clerk)
    db.commit()
    done = runner.invoke(
        cli, ["users", "set-password", "tpe-udd-clerk"], input="the operator chose this\n" * 2
    )
    assert done.exit_code == 0, done.output
    db.expire_all()
    listed = list_api_tokens(db, clerk)
    assert [v.status() for v in listed] == ["revoked"]
    (entry,) = _entries(db, "account.password_set")
    assert entry.details["tokens_revoked"] == [own.id]


def test_a_system_accounts_token_mints_no_token_for_itself(
    client: TestClient, make_user: MakeUser, db: Session
) -> None:
    """Otherwise a system account's token renews itself for ever, and survives the account
    being given a password as a token of the holder's own."""
    make_user("ndc-ops-system", role="admin", agency="central.ndc", system=True)
    plain, _ = issue_api_token(db, _id(db, "ndc-ops-system"), "cli", 1)
    db.commit()
    api = TestClient(client.app)
    sent = _api_issue(api, "ndc-ops-system", {"Authorization": f"Bearer {plain}"})
    assert sent.status_code == 403, sent.text
    assert sent.json()["type"].endswith("/session-only")
    assert sent.json()["errors"][0]["code"] == "session_only"
    assert _rows(db) == 1


def test_every_token_issued_is_audited_with_its_credential(
    client: TestClient, make_user: MakeUser, db: Session, runner: CliRunner
) -> None:
    make_user("admin", role="admin", agency="central.ndc")
    make_user("ndc-ops-system", role="admin", agency="central.ndc", system=True)
    csrf = login(client, "admin")
    own = client.post("/account/api-tokens", data={"csrf_token": csrf, "name": "維運腳本"})
    assert own.status_code == 201, own.text[-800:]
    own_id = _whoami(TestClient(client.app), _page_token(own)).json()["token_id"]
    page = client.post(
        "/admin/api-tokens",
        data={"csrf_token": csrf, "username": "ndc-ops-system", "name": "page", "days": ""},
    )
    assert page.status_code == 201, page.text[-800:]
    by_session = _api_issue(client, "ndc-ops-system", {"X-CSRF-Token": csrf})
    assert by_session.status_code == 201, by_session.text
    bearer = {"Authorization": f"Bearer {_page_token(own)}"}
    by_token = _api_issue(TestClient(client.app), "ndc-ops-system", bearer)
    assert by_token.status_code == 201, by_token.text
    cli_made = runner.invoke(cli, ["users", "issue-token", "ndc-ops-system", "--name", "cli"])
    assert cli_made.exit_code == 0, cli_made.output

    entries = _entries(db, "account.token_issued")
    tokens = list_api_tokens(db)
    assert sorted(e.details["token"]["id"] for e in entries) == sorted(v.id for v in tokens)
    credentials = [(e.details["credential"]["kind"], e.details["account"]["id"]) for e in entries]
    admin, system = _id(db, "admin"), _id(db, "ndc-ops-system")
    assert credentials == [
        ("session", admin),
        ("session", system),
        ("session", system),
        ("token", system),
        ("command-line", system),
    ]
    assert entries[3].details["credential"] == {"kind": "token", "id": own_id, "issued_by": "self"}
    assert entries[4].details["credential"]["issued_by"] == NODE_OPERATOR
    assert entries[4].actor_username == NODE_OPERATOR
    assert [e.actor_username for e in entries[:4]] == ["admin"] * 4
    assert entries[1].details["token"]["name"] == "page"


def test_issuing_and_setting_a_password_lock_the_account_row(db: Session) -> None:
    """On PostgreSQL a token issued while a password is set could otherwise check the
    account before the password lands and commit after the revocation ran: both read the
    account ``FOR UPDATE`` (a no-op on SQLite, so the statements are looked at)."""
    clerk = create_user(db, "tpe-udd-clerk", "a long password", "clerk", TPE, "王小明")
    locked: list[str] = []

    def seen(state: ORMExecuteState) -> None:
        if not state.is_select:
            return
        sql = str(state.statement.compile(dialect=postgresql.dialect()))
        if "FROM users" in sql and sql.rstrip().endswith("FOR UPDATE"):
            locked.append(sql)

    event.listen(db, "do_orm_execute", seen)
    try:
        issue_api_token(db, clerk, "cli", 1)
        assert len(locked) == 1, "issue_api_token"
        set_password(db, "tpe-udd-clerk", "the operator chose this", by=OPERATOR)
        assert len(locked) == 2, "set_password"
    finally:
        event.remove(db, "do_orm_execute", seen)
