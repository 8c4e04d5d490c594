"""Sign-in pages, sessions, CSRF, roles and the auth API through the real app."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import update

from onceonly.accounts.deps import SESSION_COOKIE
from onceonly.accounts.models import ApiToken, UserSession
from onceonly.accounts.routes import safe_next
from onceonly.config import Settings
from onceonly.db import make_engine, utcnow
from tests.accounts.conftest import PASSWORD, login
from tests.conftest import post_login

MakeUser = Callable[..., object]


def _expire(settings: Settings, table: type, **values: object) -> None:
    engine = make_engine(settings.resolved_database_url)
    with engine.begin() as connection:
        connection.execute(update(table).values(**values))
    engine.dispose()


# --- the sign-in page ----------------------------------------------------------------------


def test_login_page_has_labelled_fields_in_chinese_and_english(client: TestClient) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    assert '<html lang="zh-TW">' in page.text
    assert '<label for="f-username">帳號</label>' in page.text
    assert '<label for="f-password">密碼</label>' in page.text
    english = client.get("/login?lang=en")
    assert '<label for="f-username">Username</label>' in english.text
    assert 'action="/login?lang=en"' in english.text


def test_sign_in_sets_a_safe_cookie_and_goes_to_next(
    client: TestClient, make_user: MakeUser
) -> None:
    make_user("tpe-land-clerk")
    response = post_login(
        client,
        url="/login",
        data={"username": "tpe-land-clerk", "password": PASSWORD, "next": "/account?x=1"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/account?x=1"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    assert "Secure" not in cookie, "plain http in tests; https requests get Secure"
    page = client.get("/account")
    assert page.status_code == 200
    assert "tpe-land-clerk" in page.text and "B-" in page.text


def test_https_requests_get_a_secure_cookie(settings: Settings, make_user: MakeUser) -> None:
    from onceonly.web.app import create_app

    make_user("tpe-land-clerk")
    with TestClient(
        create_app(settings), base_url="https://testserver", follow_redirects=False
    ) as c:
        response = post_login(
            c, url="/login", data={"username": "tpe-land-clerk", "password": PASSWORD}
        )
    assert "Secure" in response.headers["set-cookie"]


def test_foreign_next_is_ignored(client: TestClient, make_user: MakeUser) -> None:
    make_user("tpe-land-clerk")
    response = post_login(
        client,
        url="/login",
        data={"username": "tpe-land-clerk", "password": PASSWORD, "next": "//evil.example/x"},
    )
    assert response.headers["location"] == "/counter", "the clerk's own home, never elsewhere"


@given(st.text(max_size=40) | st.text(alphabet="/\\\t\n :.e@", max_size=12))
def test_safe_next_never_leaves_the_site(target: str) -> None:
    result = safe_next(target)
    as_browser_reads_it = re.sub(r"[\x00-\x20\x7f]", "", result)
    parts = urlsplit(as_browser_reads_it)
    assert result in ("/", target)
    assert result.startswith("/") and not as_browser_reads_it.startswith("//")
    assert "\\" not in result and parts.scheme == "" and parts.netloc == ""


def test_wrong_password_is_shown_next_to_the_field(client: TestClient, make_user: MakeUser) -> None:
    make_user("tpe-land-clerk")
    page = post_login(
        client, url="/login", data={"username": "tpe-land-clerk", "password": "wrong one"}
    )
    assert page.status_code == 401
    assert 'id="f-password-error"' in page.text and "帳號或密碼不正確" in page.text
    assert 'value="tpe-land-clerk"' in page.text, "the username is kept"
    assert SESSION_COOKIE not in page.headers.get("set-cookie", "")
    empty = post_login(client, url="/login?lang=en", data={"username": "", "password": ""})
    assert empty.status_code == 422
    assert 'id="f-username-error"' in empty.text and "This field is required" in empty.text


def test_lockout_through_the_form(client: TestClient, make_user: MakeUser) -> None:
    make_user("tpe-land-clerk")
    for _ in range(4):
        assert (
            post_login(
                client, url="/login", data={"username": "tpe-land-clerk", "password": "x"}
            ).status_code
            == 401
        )
    locked = post_login(
        client, url="/login?lang=en", data={"username": "tpe-land-clerk", "password": "x"}
    )
    assert locked.status_code == 429
    assert locked.headers["retry-after"] == "60"
    assert "try again in 60 seconds" in locked.text
    right = post_login(
        client, url="/login", data={"username": "tpe-land-clerk", "password": PASSWORD}
    )
    assert right.status_code == 429, "locked even with the right password"


def test_pages_send_people_to_sign_in_and_back(client: TestClient, make_user: MakeUser) -> None:
    response = client.get("/account?tab=1", headers={"Accept": "text/html"})
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Faccount%3Ftab%3D1"
    form = client.get(response.headers["location"])
    assert 'name="next" value="/account?tab=1"' in form.text


# --- sessions end ---------------------------------------------------------------------------


def test_logout_revokes_the_session(client: TestClient, make_user: MakeUser) -> None:
    make_user("tpe-land-clerk")
    csrf = login(client, "tpe-land-clerk")
    token = client.cookies[SESSION_COOKIE]
    response = client.post("/logout", data={"csrf_token": csrf})
    assert response.status_code == 303
    client.cookies.set(SESSION_COOKIE, token)  # a copy of the old cookie is no use
    assert client.get("/api/v1/auth/whoami").status_code == 401


def test_expired_session_is_refused(
    client: TestClient, make_user: MakeUser, settings: Settings
) -> None:
    make_user("tpe-land-clerk")
    login(client, "tpe-land-clerk")
    assert client.get("/api/v1/auth/whoami").status_code == 200
    _expire(settings, UserSession, expires_at=utcnow() - timedelta(seconds=1))
    assert client.get("/api/v1/auth/whoami").status_code == 401


def test_zero_minute_sessions_never_work(settings: Settings, make_user: MakeUser) -> None:
    from onceonly.web.app import create_app

    make_user("tpe-land-clerk")
    short = settings.model_copy(update={"session_minutes": 0})
    with TestClient(create_app(short), follow_redirects=False) as c:
        assert (
            post_login(
                c, url="/login", data={"username": "tpe-land-clerk", "password": PASSWORD}
            ).status_code
            == 303
        )
        assert c.get("/api/v1/auth/whoami").status_code == 401


# --- CSRF and roles ------------------------------------------------------------------------


def test_form_post_without_csrf_token_is_refused(client: TestClient, make_user: MakeUser) -> None:
    make_user("tpe-land-clerk")
    csrf = login(client, "tpe-land-clerk")
    refused = client.post("/logout", data={}, headers={"Accept": "text/html"})
    assert refused.status_code == 403
    assert "表單已失效" in refused.text
    wrong = client.post("/logout", data={"csrf_token": csrf + "x"})
    assert wrong.status_code == 403 and wrong.json()["type"].endswith("/csrf")
    assert client.get("/api/v1/auth/whoami").status_code == 200, "still signed in"
    assert client.post("/logout", headers={"X-CSRF-Token": csrf}).status_code == 303


def test_clerk_cannot_reach_admin_pages(client: TestClient, make_user: MakeUser) -> None:
    make_user("tpe-land-clerk")
    login(client, "tpe-land-clerk")
    page = client.get("/admin/users", headers={"Accept": "text/html"})
    assert page.status_code == 403
    assert "系統管理者" in page.text, "the page says which role is needed"
    api = client.get("/api/v1/auth/tokens")
    assert api.status_code == 403
    assert api.json()["required_roles"] == ["admin"]


# --- administration ------------------------------------------------------------------------


def test_admin_creates_a_user_and_disables_it(client: TestClient, make_user: MakeUser) -> None:
    make_user("tpe-admin", role="admin", agency="taipei-city.civil_affairs")
    csrf = login(client, "tpe-admin")
    form = {
        "csrf_token": csrf,
        "username": "tpe-fire-clerk",
        "display_name": "臺北市消防局 承辦人",
        "role": "clerk",
        "agency_code": "taipei-city.fire",
        "password": "a long enough password",
    }
    created = client.post("/admin/users", data=form)
    assert created.status_code == 303
    listing = client.get(created.headers["location"])
    assert "tpe-fire-clerk" in listing.text and "臺北市消防局 承辦人" in listing.text

    bad = client.post(
        "/admin/users?lang=en", data={**form, "username": "tpe-fire-clerk", "agency_code": "fire"}
    )
    assert bad.status_code == 422
    assert 'id="f-username-error"' in bad.text and "already taken" in bad.text
    assert 'id="f-agency_code-error"' in bad.text

    unknown = client.post(
        "/admin/users?lang=en",
        data={**form, "username": "tpe-ghost-clerk", "agency_code": "taipei-city.ghost_bureau"},
    )
    assert unknown.status_code == 422
    assert "No agency taipei-city.ghost_bureau in the catalog" in unknown.text
    assert "tpe-ghost-clerk" not in client.get("/admin/users").text, "nothing was created"

    other = TestClient(client.app, follow_redirects=False)
    login(other, "tpe-fire-clerk", "a long enough password")  # a temporary password
    assert other.get("/account/password").status_code == 200
    user_id = int(re.findall(r'action="/admin/users/(\d+)/active', listing.text)[-1])
    assert (
        client.post(
            f"/admin/users/{user_id}/active", data={"csrf_token": csrf, "active": "0"}
        ).status_code
        == 303
    )
    assert other.get("/api/v1/auth/whoami").status_code == 401, "disabling ends the session"


def test_admin_issues_lists_and_revokes_tokens_on_the_page(
    client: TestClient, make_user: MakeUser
) -> None:
    make_user("tpe-admin", role="admin", agency="taipei-city.civil_affairs")
    make_user("tpe-udd-system", agency="taipei-city.urban_development", system=True)
    csrf = login(client, "tpe-admin")
    page = client.post(
        "/admin/api-tokens",
        data={"csrf_token": csrf, "username": "tpe-udd-system", "name": "國宅系統", "days": ""},
    )
    assert page.status_code == 201
    token = page.text.split('id="new-token" readonly value="')[1].split('"')[0]
    assert token.startswith("oot_")
    assert client.get("/admin/api-tokens").text.count(token) == 0, "shown once only"

    system = TestClient(client.app)
    me = system.get("/api/v1/auth/whoami", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["username"] == "tpe-udd-system" and me.json()["auth_method"] == "token"

    token_id = me.json()["token_id"]
    assert (
        client.post(f"/admin/api-tokens/{token_id}/revoke", data={"csrf_token": csrf}).status_code
        == 303
    )
    again = system.get("/api/v1/auth/whoami", headers={"Authorization": f"Bearer {token}"})
    assert again.status_code == 401 and again.json()["reason"] == "token-revoked"


# --- the auth API --------------------------------------------------------------------------


def _admin_token(
    client: TestClient, make_user: MakeUser, username: str = "tpe-admin"
) -> dict[str, str]:
    """A bearer token of an administrator: 臺北市's (``tpe-admin``) or the platform's
    (``admin``), issued by that administrator to their own account."""
    agency = "central.ndc" if username == "admin" else "taipei-city.civil_affairs"
    make_user(username, role="admin", agency=agency)
    csrf = login(client, username)
    created = client.post(
        "/api/v1/auth/tokens",
        json={"username": username, "name": "provisioning", "days": 1},
        headers={"X-CSRF-Token": csrf},
    )
    assert created.status_code == 201, created.text
    client.cookies.clear()
    return {"Authorization": f"Bearer {created.json()['token']}"}


def test_api_token_lifecycle(client: TestClient, make_user: MakeUser, settings: Settings) -> None:
    admin = _admin_token(client, make_user)
    make_user("tpe-social-system", agency="taipei-city.social_welfare", system=True)
    created = client.post(
        "/api/v1/auth/tokens",
        json={"username": "tpe-social-system", "name": "社福系統"},
        headers=admin,
    )
    assert created.status_code == 201
    body = created.json()
    assert body["status"] == "active" and body["created_by"] == "tpe-admin"
    days = (
        datetime.fromisoformat(body["expires_at"]) - datetime.fromisoformat(body["created_at"])
    ).days
    assert days == settings.api_token_days
    clerk = {"Authorization": f"Bearer {body['token']}"}
    assert (
        client.get("/api/v1/auth/whoami", headers=clerk).json()["agency_code"]
        == "taipei-city.social_welfare"
    )

    listed = client.get("/api/v1/auth/tokens", headers=admin).json()
    assert {t["name"] for t in listed} == {"provisioning", "社福系統"}
    assert all("token" not in t for t in listed)

    assert client.delete(f"/api/v1/auth/tokens/{body['id']}", headers=clerk).status_code == 200
    refused = client.get("/api/v1/auth/whoami", headers=clerk)
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["reason"] == "token-revoked"
    assert client.delete("/api/v1/auth/tokens/9999", headers=admin).status_code == 404


def test_expired_token_is_refused_with_the_reason(
    client: TestClient, make_user: MakeUser, settings: Settings
) -> None:
    admin = _admin_token(client, make_user)
    _expire(settings, ApiToken, expires_at=utcnow() - timedelta(minutes=1))
    refused = client.get("/api/v1/auth/whoami?lang=en", headers=admin)
    assert refused.status_code == 401
    assert refused.json()["reason"] == "token-expired"
    assert "expired" in refused.json()["detail"]


def test_token_requests_need_no_csrf_but_clerks_cannot_issue(
    client: TestClient, make_user: MakeUser
) -> None:
    admin = _admin_token(client, make_user)
    make_user("tpe-land-system", system=True)  # a clerk's role, an agency system's account
    created = client.post(
        "/api/v1/auth/tokens", json={"username": "tpe-land-system", "name": "x"}, headers=admin
    )
    clerk = {"Authorization": f"Bearer {created.json()['token']}"}
    refused = client.post(
        "/api/v1/auth/tokens", json={"username": "tpe-land-system", "name": "y"}, headers=clerk
    )
    assert refused.status_code == 403
    other = client.post(
        "/api/v1/auth/tokens", json={"username": "nobody", "name": "y"}, headers=admin
    )
    assert other.status_code == 422 and other.json()["errors"][0]["field"] == "username"
    admin_token_id = client.get("/api/v1/auth/whoami", headers=admin).json()["token_id"]
    assert client.delete(f"/api/v1/auth/tokens/{admin_token_id}", headers=clerk).status_code == 403


def test_no_credentials_and_bad_scheme_get_401_problem(client: TestClient) -> None:
    for headers in (
        {},
        {"Authorization": "Basic YWRtaW46YWRtaW4="},
        {"Authorization": "Bearer nope"},
    ):
        response = client.get("/api/v1/auth/whoami", headers=headers)
        assert response.status_code == 401
        assert response.json()["type"].endswith("/unauthenticated")
