"""The accounts holes an outside probe found (issue 12), each proved closed:

* a platform administrator minted a token for a tenant's clerk, or made an auditor inside a
  tenant, and so read that tenant's personal data as someone else;
* the sign-in form had no anti-forgery token;
* sign-in throttling counted per username only: one address could try many usernames
  unslowed, and anyone could lock a known account by failing its password.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from onceonly.accounts.api_tokens import (
    hash_token,
    issue_api_token,
    list_api_tokens,
    resolve_api_token,
)
from onceonly.accounts.deps import SESSION_COOKIE
from onceonly.accounts.models import ApiToken, User
from onceonly.accounts.password_changes import set_password
from onceonly.accounts.password_rules import OPERATOR
from onceonly.accounts.passwords import hash_password
from onceonly.accounts.principal import NODE_OPERATOR
from onceonly.accounts.signin import ADDRESS_LIMIT, MAX_FAILURES, USERNAME_LIMIT, authenticate
from onceonly.accounts.tenancy import Scope, scope_for
from onceonly.accounts.users import UserView, create_user, get_user
from onceonly.citizens.accounts import ensure_citizen, national_id_of
from onceonly.db import utcnow
from onceonly.errors import Problem
from tests.accounts.conftest import PASSWORD, login
from tests.conftest import post_login

MakeUser = Callable[..., UserView]


def _token(client: TestClient, csrf: str, username: str) -> object:
    return client.post(
        "/api/v1/auth/tokens",
        json={"username": username, "name": "x", "days": 1},
        headers={"X-CSRF-Token": csrf},
    )


# --- 1. nobody becomes someone else -----------------------------------------------------------


def test_platform_admin_cannot_mint_a_token_for_a_tenants_clerk(
    client: TestClient, make_user: MakeUser, db: Session
) -> None:
    make_user("admin", role="admin", agency="central.ndc")
    make_user("tpe-udd-clerk", agency="taipei-city.urban_development")
    csrf = login(client, "admin")
    refused = _token(client, csrf, "tpe-udd-clerk")
    assert refused.status_code == 403, refused.text  # type: ignore[attr-defined]
    problem = refused.json()  # type: ignore[attr-defined]
    assert problem["errors"][0]["field"] == "username"
    assert "tpe-udd-clerk" in problem["detail"]
    page = client.post(
        "/admin/api-tokens?lang=en",
        data={"csrf_token": csrf, "username": "tpe-udd-clerk", "name": "x", "days": "1"},
    )
    assert page.status_code == 422
    assert 'id="f-username-error"' in page.text and "only to one&#39;s own account" in page.text
    assert list_api_tokens(db) == [], "no token was made"
    # the platform administrator's own token is fine, and says who issued it
    own = _token(client, csrf, "admin")
    assert own.status_code == 201  # type: ignore[attr-defined]
    bearer = {"Authorization": f"Bearer {own.json()['token']}"}  # type: ignore[attr-defined]
    client.cookies.clear()
    me = client.get("/api/v1/auth/whoami", headers=bearer).json()
    assert (me["username"], me["auth_method"], me["issued_by"]) == ("admin", "token", "admin")


def test_a_tenants_administrator_issues_its_system_accounts_tokens_recorded_as_such(
    client: TestClient, make_user: MakeUser
) -> None:
    """A clerk-role system account (no password): a person's account gets its tokens only
    from its holder (``tests/accounts/test_token_holders.py``)."""
    make_user("tpe-admin", role="admin", agency="taipei-city.civil_affairs")
    make_user("tpe-udd-system", agency="taipei-city.urban_development", system=True)
    make_user("khh-social-system", agency="kaohsiung-city.social_welfare", system=True)
    csrf = login(client, "tpe-admin")
    made = _token(client, csrf, "tpe-udd-system")
    assert made.status_code == 201, made.text  # type: ignore[attr-defined]
    assert made.json()["created_by"] == "tpe-admin"  # type: ignore[attr-defined]
    other = _token(client, csrf, "khh-social-system")
    assert other.status_code == 422, "another tenant's account is as if it did not exist"  # type: ignore[attr-defined]
    bearer = {"Authorization": f"Bearer {made.json()['token']}"}  # type: ignore[attr-defined]
    client.cookies.clear()
    me = client.get("/api/v1/auth/whoami", headers=bearer).json()
    assert (me["username"], me["issued_by"]) == ("tpe-udd-system", "tpe-admin")


def test_platform_admin_makes_only_node_wide_accounts(
    client: TestClient, make_user: MakeUser, db: Session
) -> None:
    make_user("admin", role="admin", agency="central.ndc")
    csrf = login(client, "admin")
    form = {"csrf_token": csrf, "display_name": "x", "password": "a long enough password"}
    offered = client.get("/admin/users").text.split('id="f-agency_code-options"')[1]
    assert "taipei-city." not in offered.split("</datalist>")[0], "tenant agencies not offered"
    for username, role, agency in (
        ("tpe-sneaky-auditor", "auditor", "taipei-city.civil_affairs"),
        ("tpe-sneaky-admin", "admin", "taipei-city.civil_affairs"),
        ("moi-sneaky-auditor", "auditor", "central.mohw"),
        ("moi-sneaky-clerk", "clerk", "central.mohw"),
        ("moi-sneaky-owner", "owner", "central.mohw"),
        ("fia-sneaky-owner", "owner", "central.fia"),
    ):
        page = client.post(
            "/admin/users?lang=en",
            data={**form, "username": username, "role": role, "agency_code": agency},
        )
        assert page.status_code == 422, (username, page.text[-500:])
        assert 'id="f-agency_code-error"' in page.text
        assert "own administrator creates it" in page.text
        assert get_user(db, username) is None
    made = client.post(
        "/admin/users",
        data={**form, "username": "ndc-ops", "role": "admin", "agency_code": "central.mohw"},
    )
    assert made.status_code == 303, made.text


def test_only_a_tenants_administrator_makes_its_accounts(
    client: TestClient, make_user: MakeUser
) -> None:
    make_user("tpe-admin", role="admin", agency="taipei-city.civil_affairs")
    csrf = login(client, "tpe-admin")
    form = {"csrf_token": csrf, "display_name": "x", "password": "a long enough password"}
    made = client.post(
        "/admin/users",
        data={
            **form,
            "username": "tpe-new-auditor",
            "role": "auditor",
            "agency_code": "taipei-city.civil_affairs",
        },
    )
    assert made.status_code == 303
    national = client.post(
        "/admin/users",
        data={**form, "username": "moi-x", "role": "owner", "agency_code": "central.mohw"},
    )
    assert national.status_code == 422


def test_no_administrator_makes_a_citizen_or_a_token_for_one(
    client: TestClient, make_user: MakeUser, db: Session
) -> None:
    """A city's administrator made ``citizen-<national ID>`` with a password of its own, signed
    in as that citizen, gave consent and approved previews in their name; when the citizen
    first signed in with their card, the account (and the administrator's password) was
    handed to them. Only the card makes a citizen's account now."""
    make_user("tpe-admin", role="admin", agency="taipei-city.civil_affairs")
    make_user("admin", role="admin", agency="central.ndc")
    citizen = ensure_citizen(db, "A123456789", "王小明")
    db.commit()
    for admin, staff_role, own_agency in (
        ("tpe-admin", "clerk", "taipei-city.civil_affairs"),
        ("admin", "admin", "central.mohw"),
    ):
        client.cookies.clear()
        csrf = login(client, admin)
        form = {"csrf_token": csrf, "display_name": "x", "password": "a long enough password"}
        for username, role, agency, field in (
            ("citizen-a101897884", "citizen", own_agency, "role"),
            ("citizen-a101897884", "citizen", "public.citizen", "role"),
            ("citizen-a101897884", staff_role, own_agency, "username"),
        ):
            page = client.post(
                "/admin/users?lang=en",
                data={**form, "username": username, "role": role, "agency_code": agency},
            )
            assert page.status_code == 422, (admin, role, page.text[-500:])
            assert f'id="f-{field}-error"' in page.text
            assert get_user(db, username) is None
        assert 'value="citizen"' not in client.get("/admin/users").text, "not offered"
        refused = _token(client, csrf, citizen.username)
        assert refused.status_code in (403, 404, 422), refused.text  # type: ignore[attr-defined]
    with pytest.raises(Problem) as no_token:
        issue_api_token(db, citizen, "backdoor", 1)  # not even the node's own tools
    assert no_token.value.status == 422
    with pytest.raises(Problem) as no_password:
        set_password(db, citizen.username, "a long enough password", by=OPERATOR)
    assert no_password.value.status == 422
    assert list_api_tokens(db) == []


def test_a_citizen_account_made_before_that_is_no_way_in(
    client: TestClient, make_user: MakeUser, db: Session
) -> None:
    """Such accounts may be in a database from before: a password or a token of a citizen
    account opens nothing, and the card never hands its holder an account not made for it."""
    make_user("tpe-admin", role="admin", agency="taipei-city.civil_affairs")
    citizen = ensure_citizen(db, "A123456789", "王小明")
    made = db.get(User, citizen.id)
    assert made is not None
    made.password_hash = hash_password(PASSWORD)  # as an administrator's form once set it
    plain = "oot_" + "x" * 43
    db.add(ApiToken(user_id=citizen.id, name="old", token_hash=hash_token(plain),
                    prefix=plain[:10], created_at=utcnow(),
                    expires_at=utcnow() + timedelta(days=9)))  # fmt: skip
    db.commit()
    signed = post_login(client, {"username": citizen.username, "password": PASSWORD})
    assert signed.status_code == 401 and SESSION_COOKIE not in signed.cookies
    bearer = client.get("/api/v1/auth/whoami", headers={"Authorization": f"Bearer {plain}"})
    assert bearer.status_code == 401
    # a staff account under a citizen's name (made before the name was reserved)
    staff = User(
        username="citizen-b123456780",
        display_name="x",
        role="clerk",
        agency_code="taipei-city.land_office",
        active=True,
        created_at=utcnow(),
    )
    db.add(staff)
    db.commit()
    with pytest.raises(Problem) as taken:
        ensure_citizen(db, "B123456780", "李小華")
    assert taken.value.status == 409
    held = get_user(db, "citizen-b123456780")
    assert held is not None and national_id_of(held) is None


def test_scope_provisions() -> None:
    platform = scope_for("admin", "central.ndc")
    assert platform.provisions("admin", "central.mohw")
    for role in ("clerk", "auditor", "owner"):  # owners decide who reads: the shell makes them
        assert not platform.provisions(role, "central.mohw")
    for role in ("admin", "owner", "clerk", "auditor"):
        assert not platform.provisions(role, "taipei-city.civil_affairs")
        assert Scope("taipei-city").provisions(role, "taipei-city.civil_affairs")
        assert not Scope("taipei-city").provisions(role, "keelung-city.civil_affairs")
    for scope in (platform, Scope("taipei-city")):
        for agency in ("public.citizen", "taipei-city.civil_affairs", "central.mohw"):
            assert not scope.provisions("citizen", agency)


# --- 2. the sign-in form carries an anti-forgery token --------------------------------------


def test_sign_in_without_the_forms_token_is_refused(
    client: TestClient, make_user: MakeUser
) -> None:
    make_user("tpe-land-clerk")
    data = {"username": "tpe-land-clerk", "password": PASSWORD}
    forged = client.post("/login?lang=en", data=data)
    assert forged.status_code == 403
    assert "not sent from this site" in forged.text
    assert SESSION_COOKIE not in forged.cookies
    # a token from another browser's form does not do either
    other = TestClient(client.app, follow_redirects=False)
    other.get("/login")
    stolen = other.cookies.get("onceonly_login_csrf")
    client.cookies.clear()
    client.get("/login")
    mismatched = client.post("/login", data={**data, "csrf_token": stolen or ""})
    assert mismatched.status_code == 403
    assert post_login(client, data).status_code == 303


# --- 3. throttles per address, per (username, address) and, briefly, per username ---------


def test_one_address_trying_many_usernames_is_slowed(
    client: TestClient, make_user: MakeUser
) -> None:
    make_user("tpe-land-clerk")
    statuses = []
    for n in range(30):
        answer = post_login(
            client, {"username": f"guess-{n:02d}", "password": "password1"}, url="/login?lang=en"
        )
        statuses.append(answer.status_code)
    assert 429 in statuses, statuses
    first = statuses.index(429)
    assert first == ADDRESS_LIMIT.failures - 1
    locked = post_login(
        client, {"username": "tpe-land-clerk", "password": PASSWORD}, url="/login?lang=en"
    )
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) > 0
    assert "from your network address" in locked.text
    # another address is not slowed by this one
    elsewhere = TestClient(client.app, follow_redirects=False, client=("192.0.2.7", 5000))
    assert (
        post_login(elsewhere, {"username": "tpe-land-clerk", "password": PASSWORD}).status_code
        == 303
    )


def test_a_stranger_cannot_lock_the_owner_out(db: Session) -> None:
    create_user(db, "tpe-land-clerk", PASSWORD, "clerk", "taipei-city.land_office", "王")
    start = utcnow()
    for attempt in range(MAX_FAILURES):
        with pytest.raises(Problem):
            authenticate(
                db,
                "tpe-land-clerk",
                "wrong",
                address="203.0.113.9",
                now=start + timedelta(seconds=attempt),
            )
    with pytest.raises(Problem) as stranger:
        authenticate(
            db, "tpe-land-clerk", PASSWORD, address="203.0.113.9", now=start + timedelta(seconds=6)
        )
    assert stranger.value.status == 429 and stranger.value.extra["locked"] == "pair"
    owner = authenticate(
        db, "tpe-land-clerk", PASSWORD, address="198.51.100.4", now=start + timedelta(seconds=6)
    )
    assert owner.username == "tpe-land-clerk", "the owner at their own address signs in"


def test_many_addresses_on_one_username_get_only_a_short_back_off(db: Session) -> None:
    create_user(db, "tpe-land-clerk", PASSWORD, "clerk", "taipei-city.land_office", "王")
    start = utcnow()
    limit = USERNAME_LIMIT
    for n in range(limit.failures - 1):
        with pytest.raises(Problem) as failed:
            authenticate(db, "tpe-land-clerk", "wrong", address=f"203.0.113.{n}", now=start)
        assert failed.value.status == 401
    with pytest.raises(Problem) as backed_off:
        authenticate(db, "tpe-land-clerk", "wrong", address="203.0.113.99", now=start)
    problem = backed_off.value
    assert (problem.status, problem.extra["locked"]) == (429, "username")
    assert problem.retry_after == limit.seconds <= 60, "short: anyone can cause it"
    later = start + timedelta(seconds=limit.seconds + 1)
    owner = authenticate(db, "tpe-land-clerk", PASSWORD, address="198.51.100.4", now=later)
    assert owner.username == "tpe-land-clerk"


def test_a_token_from_the_node_operators_tools_names_them(db: Session) -> None:
    """``onceonly users issue-token`` (no signed-in issuer) is recorded as the operator's."""
    user = create_user(db, "tpe-udd-clerk", None, "clerk", "taipei-city.fire", "系統")
    plain, _ = issue_api_token(db, user, "cli", 1)
    principal = resolve_api_token(db, plain)
    assert principal.credential == {
        "kind": "token",
        "id": principal.token_id,
        "issued_by": NODE_OPERATOR,
    }
