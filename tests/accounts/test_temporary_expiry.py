"""A temporary password (set by an administrator or the operator) signs in only for
``Settings.temporary_password_days``: one handed over on paper and never used is not a way in
for ever. Its holder is told why, and only when they typed it right; a session opened with it
ends with it; the administrator sees it expired.

Nothing sleeps: ``password_changed_at`` is moved back in the database.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from onceonly.accounts.models import User
from onceonly.accounts.password_changes import require_password_change, set_password
from onceonly.accounts.password_rules import OPERATOR, PASSWORD_CHANGE_PATH, SELF, TEMPORARY_EXPIRED
from onceonly.accounts.signin import authenticate
from onceonly.accounts.users import UserView, create_user, get_user
from onceonly.cli import app as cli
from onceonly.config import Settings
from onceonly.db import make_engine, make_session_factory, utcnow
from onceonly.errors import Problem
from onceonly.i18n import taipei_time
from onceonly.web.app import create_app
from tests.accounts.conftest import PASSWORD, login
from tests.conftest import post_login

MakeUser = Callable[..., UserView]
CHANGE = PASSWORD_CHANGE_PATH
ADMIN_CHOSEN = "the administrator chose this"
OWN = "only the clerk knows this one"
CLERK = "tpe-land-clerk"
EXPIRED_ZH = "您的臨時密碼已過期"
ASK_ZH = "請向貴機關的系統管理者索取新的臨時密碼"
EXPIRED_EN = "Your temporary password has expired"
WRONG_ZH = "帳號或密碼不正確"


def _set_temporary(db: Session, username: str = CLERK) -> None:
    set_password(db, username, ADMIN_CHOSEN, by=OPERATOR)
    db.commit()


def _age(settings: Settings, username: str, **delta: float) -> None:
    """Move the account's password ``delta`` into the past, as if set that long ago."""
    engine = make_engine(settings.resolved_database_url)
    with make_session_factory(engine)() as db:
        user = db.scalar(select(User).where(User.username == username))
        assert user is not None
        user.password_changed_at = utcnow() - timedelta(**delta)
        db.commit()
    engine.dispose()


def _signs_in(client: TestClient, password: str, username: str = CLERK, lang: str = "") -> Any:
    fresh = TestClient(client.app, follow_redirects=False)
    url = f"/login?lang={lang}" if lang else "/login"
    return post_login(fresh, url=url, data={"username": username, "password": password})


def _past_expiry(settings: Settings) -> dict[str, float]:
    return {"days": settings.temporary_password_days, "minutes": 1}


def test_an_expired_temporary_password_is_refused_with_the_reason(
    client: TestClient, make_user: MakeUser, db: Session, settings: Settings
) -> None:
    make_user(CLERK)
    _set_temporary(db)
    _age(settings, CLERK, **_past_expiry(settings))

    refused = _signs_in(client, ADMIN_CHOSEN)
    assert refused.status_code == 403
    assert EXPIRED_ZH in refused.text and ASK_ZH in refused.text
    assert f"設定後 {settings.temporary_password_days} 天內" in refused.text
    assert 'id="f-password-error"' in refused.text, "said on the password it is about"
    english = _signs_in(client, ADMIN_CHOSEN, lang="en")
    assert EXPIRED_EN in english.text and "Ask your administrator" in english.text

    wrong = _signs_in(client, "not the temporary one")
    assert wrong.status_code == 401 and WRONG_ZH in wrong.text
    assert "過期" not in wrong.text, "a stranger learns nothing the usual failure does not tell"
    assert _signs_in(client, PASSWORD).status_code == 401, "the replaced password neither"

    with pytest.raises(Problem) as problem:
        authenticate(db, CLERK, ADMIN_CHOSEN)
    assert problem.value.kind == TEMPORARY_EXPIRED
    with pytest.raises(Problem) as problem:
        authenticate(db, CLERK, "not the temporary one")
    assert problem.value.kind == "login-failed"


def test_a_fresh_temporary_password_still_signs_in(
    client: TestClient, make_user: MakeUser, db: Session, settings: Settings
) -> None:
    make_user(CLERK)
    _set_temporary(db)
    _age(settings, CLERK, days=settings.temporary_password_days, minutes=-1)
    signed_in = _signs_in(client, ADMIN_CHOSEN)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == CHANGE

    longer = create_app(settings.model_copy(update={"temporary_password_days": 30}))
    with TestClient(longer, follow_redirects=False) as other:
        _age(settings, CLERK, days=20)
        assert _signs_in(other, ADMIN_CHOSEN).headers["location"] == CHANGE, "the setting counts"


def test_a_self_chosen_password_of_the_same_age_still_signs_in(
    client: TestClient, make_user: MakeUser, db: Session, settings: Settings
) -> None:
    """Only a password someone else set expires: not the holder's own, not one older than
    the record, even when the operator marked them for change after upgrading."""
    make_user("tpe-tax-clerk", agency="taipei-city.tax")  # who set it: not recorded
    create_user(db, CLERK, PASSWORD, "clerk", "taipei-city.land_office", "王", set_by=SELF)
    db.commit()
    for username in (CLERK, "tpe-tax-clerk"):
        _age(settings, username, days=10 * settings.temporary_password_days)
        assert _signs_in(client, PASSWORD, username).headers["location"] == "/counter", username
    require_password_change(db, None)
    db.commit()
    for username in (CLERK, "tpe-tax-clerk"):
        assert _signs_in(client, PASSWORD, username).headers["location"] == CHANGE, username


def test_a_session_on_a_temporary_password_ends_when_it_expires(
    client: TestClient, make_user: MakeUser, db: Session, settings: Settings
) -> None:
    make_user(CLERK)
    _set_temporary(db)
    csrf = login(client, CLERK, ADMIN_CHOSEN)
    api = TestClient(client.app, follow_redirects=False)
    login(api, CLERK, ADMIN_CHOSEN)
    page = client.get(CHANGE)
    assert "這個臨時密碼可用至" in page.text, "the holder is told the deadline"
    assert 'action="/logout"' in client.get("/catalog").text, "signed in on a public page"

    _age(settings, CLERK, **_past_expiry(settings))
    assert 'action="/logout"' not in client.get("/catalog").text, "no longer signed in there"
    change = {
        "csrf_token": csrf,
        "current_password": ADMIN_CHOSEN,
        "new_password": OWN,
        "new_password_again": OWN,
    }
    refused = client.post(CHANGE, data=change, headers={"Accept": "text/html"})
    assert refused.status_code == 303
    assert refused.headers["location"] == "/login?temporary_expired=1", "signed out, told why"
    told = client.get(refused.headers["location"])
    assert told.status_code == 200 and EXPIRED_ZH in told.text and ASK_ZH in told.text
    assert 'role="alert"' in told.text
    again = client.post(CHANGE, data=change, headers={"Accept": "text/html"})
    assert again.headers["location"].startswith("/login"), "the session is over"

    ended = api.get("/api/v1/auth/whoami?lang=en", headers={"Accept": "application/json"})
    assert ended.status_code == 401
    assert ended.json()["type"].endswith(TEMPORARY_EXPIRED)
    assert EXPIRED_EN in ended.json()["detail"]
    assert api.get("/api/v1/auth/whoami").status_code == 401

    account = get_user(db, CLERK)
    assert account is not None and account.must_change_password, "no password was set"
    assert account.password_set_by == OPERATOR
    assert _signs_in(client, OWN).status_code == 401


def test_the_administrators_page_and_the_command_line_show_it_expired(
    client: TestClient,
    make_user: MakeUser,
    db: Session,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_user("tpe-admin", role="admin", agency="taipei-city.civil_affairs")
    make_user(CLERK)
    make_user("tpe-tax-clerk", agency="taipei-city.tax")
    _set_temporary(db)
    _set_temporary(db, "tpe-tax-clerk")
    _age(settings, CLERK, **_past_expiry(settings))
    account = get_user(db, CLERK)
    assert account is not None
    until = account.temporary_until(settings.temporary_password_days)
    assert until is not None and until < utcnow()
    login(client, "tpe-admin")

    page = client.get("/admin/users").text
    row = page[page.index(f"<td>{CLERK}</td>") :].split("</tr>")[0]
    assert "臨時密碼已過期" in row and "請重新設定臨時密碼" in row
    assert f"過期時間：{taipei_time(until, 'zh-TW')}" in row
    fresh = page[page.index("<td>tpe-tax-clerk</td>") :].split("</tr>")[0]
    assert "已過期" not in fresh and "可用至：" in fresh
    english = client.get("/admin/users?lang=en").text
    assert "Temporary password expired (set by the node" in english
    assert f"expired at: {taipei_time(until, 'en')}" in english

    monkeypatch.setenv("ONCEONLY_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("ONCEONLY_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("ONCEONLY_LANGUAGE", "en")
    monkeypatch.setenv("COLUMNS", "1000")
    listed = CliRunner().invoke(cli, ["users", "list"])
    assert listed.exit_code == 0, listed.output
    [line] = [line for line in listed.output.splitlines() if f" {CLERK} " in line]
    assert "Temporary password expired" in line and taipei_time(until, "en") in line
    [line] = [line for line in listed.output.splitlines() if " tpe-tax-clerk " in line]
    assert "expired" not in line and "Temporary (set by the node's operator" in line


@pytest.mark.parametrize("days", [0, -1])
def test_the_setting_is_at_least_one_day(days: int, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(temporary_password_days=days)
    assert "temporary_password_days" in str(refused.value)
    assert "greater than or equal to 1" in str(refused.value)
    monkeypatch.setenv("ONCEONLY_TEMPORARY_PASSWORD_DAYS", str(days))
    with pytest.raises(ValidationError):
        Settings()
    monkeypatch.setenv("ONCEONLY_TEMPORARY_PASSWORD_DAYS", "1")
    assert Settings().temporary_password_days == 1
    assert Settings.model_fields["temporary_password_days"].default == 3
