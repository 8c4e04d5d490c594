"""Every route of the app, called as every role: only the roles the table below names get
past the route's role check.

The routes are read from the app, and a route missing from :data:`ALLOWED` fails the test:
whoever adds a route decides here who may call it. "Refused" means 401 (no credentials) or
a 403 naming the roles required; anything else (a 404 for a dummy id, a 422 for an empty
body) means the caller got past the check. The role checks are how a platform
administrator is kept away from tenants' personal data: see also
``tests/federation/test_tenancy.py`` for what each allowed role then sees.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

from onceonly.accounts.api_tokens import issue_api_token
from onceonly.accounts.deps import CurrentUser
from onceonly.accounts.users import create_user, get_user
from onceonly.db import make_engine, make_session_factory, transaction
from onceonly.web.app import create_app
from onceonly.web.public_routes import is_public
from tests.conftest import DemoEnv, citizen_headers
from tests.web.test_route_auth import Endpoint, endpoints

CALLERS: dict[str, str | None] = {
    "anonymous": None,
    "citizen": "citizen-a123456789",
    "clerk": "tpe-udd-clerk",
    "owner": "tpe-social-owner",
    "auditor": "tpe-auditor",
    "tenant-admin": "tpe-admin",
    "platform-admin": "admin",
}
"""Role under test -> the account that plays it (a tenant's administrator is an ``admin`` of
臺北市's agency; the platform's is the demo ``admin`` of a national agency)."""

EVERYONE = frozenset(CALLERS) - {"anonymous"}
STAFF = EVERYONE - {"citizen"}
ADMINS = frozenset({"tenant-admin", "platform-admin"})
PUBLIC = frozenset(CALLERS)
CITIZEN = frozenset({"citizen"})
CLERK = frozenset({"clerk"})
OWNER = frozenset({"owner"})
AUDITORS = frozenset({"auditor"})

ALLOWED: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/api/docs"): PUBLIC,
    ("GET", "/catalog"): PUBLIC,
    ("GET", "/catalog/items/{code}"): PUBLIC,
    ("GET", "/catalog/datasets/{code}"): PUBLIC,
    ("GET", "/catalog/jurisdictions"): PUBLIC,
    ("GET", "/api/v1/catalog/application-items"): PUBLIC,
    ("GET", "/api/v1/catalog/application-items/{code}"): PUBLIC,
    ("GET", "/api/v1/catalog/datasets"): PUBLIC,
    ("GET", "/api/v1/catalog/datasets/{code}"): PUBLIC,
    ("GET", "/api/v1/catalog/jurisdictions"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("GET", "/privacy"): PUBLIC,
    ("GET", "/accessibility"): PUBLIC,
    ("GET", "/logout"): PUBLIC,  # the sign-out button, or the sign-in page for nobody
    ("GET", "/favicon.ico"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): EVERYONE,
    ("GET", "/account"): EVERYONE,
    ("GET", "/admin/users"): ADMINS,
    ("POST", "/admin/users"): ADMINS,
    ("POST", "/admin/users/password"): ADMINS,
    ("GET", "/account/password"): STAFF,
    ("POST", "/account/password"): STAFF,
    ("POST", "/account/api-tokens"): STAFF,
    ("POST", "/account/api-tokens/{token_id}/revoke"): STAFF,
    ("POST", "/admin/users/{user_id}/active"): ADMINS,
    ("GET", "/admin/api-tokens"): ADMINS,
    ("POST", "/admin/api-tokens"): ADMINS,
    ("POST", "/admin/api-tokens/{token_id}/revoke"): ADMINS,
    ("GET", "/api/v1/auth/whoami"): EVERYONE,
    ("GET", "/api/v1/auth/tokens"): ADMINS,
    ("POST", "/api/v1/auth/tokens"): ADMINS,
    ("DELETE", "/api/v1/auth/tokens/{token_id}"): EVERYONE,
    ("GET", "/api/v1/audit/entries"): AUDITORS | ADMINS,
    ("GET", "/api/v1/audit/head"): AUDITORS | ADMINS,
    ("GET", "/audit"): AUDITORS | ADMINS,
    ("GET", "/api/v1/audit/tree-heads/latest"): PUBLIC,
    ("GET", "/api/v1/audit/tree-heads/{size}"): PUBLIC,
    ("GET", "/api/v1/audit/consistency"): PUBLIC,
    ("GET", "/api/v1/audit/entries/{seq}/proof"): EVERYONE,
    ("GET", "/citizen/login"): PUBLIC,
    ("POST", "/api/v1/citizen/sign-in/begin"): PUBLIC,
    ("POST", "/api/v1/citizen/sign-in/complete"): PUBLIC,
    ("GET", "/me"): CITIZEN,
    ("GET", "/me/accesses.csv"): CITIZEN,
    ("GET", "/me/accesses.json"): CITIZEN,
    ("GET", "/api/v1/me/accesses"): CITIZEN,
    ("GET", "/me/accesses/{seq}/proof"): CITIZEN,
    ("POST", "/me/accesses/{seq}/flag"): CITIZEN,
    ("GET", "/me/consents"): CITIZEN,
    ("POST", "/me/consents"): CITIZEN,
    ("POST", "/me/consents/{consent_id}/revoke"): CITIZEN,
    ("GET", "/me/previews"): CITIZEN,
    ("POST", "/me/previews/{preview_id}/approve"): CITIZEN,
    ("POST", "/me/previews/{preview_id}/decline"): CITIZEN,
    ("GET", "/me/previews/{preview_id}/transcripts/{index}/jws"): CITIZEN,
    ("GET", "/me/previews/{preview_id}/transcripts/{index}/pdf"): CITIZEN,
    ("GET", "/audit/flags"): frozenset({"auditor"}),
    ("POST", "/audit/flags/{flag_id}/reply"): frozenset({"auditor"}),
    ("GET", "/api/v1/audit/flags"): frozenset({"auditor"}),
    ("GET", "/api/v1/access-rules/alerts"): AUDITORS,
    ("GET", "/owners/alerts"): AUDITORS,
    ("GET", "/me/reports"): CITIZEN,
    ("POST", "/me/reports"): CITIZEN,
    ("POST", "/me/reports/preview"): CITIZEN,
    ("POST", "/api/v1/evidence-requests"): CLERK,
    ("GET", "/.well-known/jwks.json"): PUBLIC,
    ("GET", "/api/v1/access-rules"): EVERYONE,
    ("POST", "/api/v1/access-rules"): CLERK | ADMINS,
    ("POST", "/api/v1/access-rules/{rule_id}/approve"): OWNER,
    ("POST", "/api/v1/access-rules/{rule_id}/reject"): OWNER,
    ("POST", "/api/v1/access-rules/{rule_id}/revoke"): OWNER,
    ("POST", "/api/v1/cases"): CLERK,
    ("GET", "/api/v1/cases"): CLERK,
    ("GET", "/api/v1/cases/queue"): CLERK,
    ("GET", "/api/v1/cases/warnings"): CLERK,
    ("GET", "/api/v1/cases/{number}"): CLERK,
    ("POST", "/api/v1/cases/{number}/evidence"): CLERK,
    ("POST", "/api/v1/cases/{number}/paper"): CLERK,
    ("GET", "/api/v1/cases/{number}/paper/{evidence_type}"): CLERK,
    ("POST", "/api/v1/cases/{number}/relay"): CLERK,
    ("POST", "/api/v1/cases/{number}/decide"): CLERK,
    ("POST", "/api/v1/cases/{number}/close"): CLERK,
    ("GET", "/api/v1/cases/{number}/timeline"): CLERK,
    ("GET", "/api/v1/cases/{number}/summary"): CLERK,
    ("GET", "/api/v1/admin/notifications"): ADMINS,
    ("POST", "/api/v1/admin/notifications/retry"): ADMINS,
    ("GET", "/api/v1/admin/sms-outbox"): ADMINS,
    # a data owner decides who is told and reads no citizen's life events: the operator can
    # make owner accounts of national agencies (tests/notify/test_owner_reads_no_one.py)
    ("POST", "/api/v1/notify/subscriptions"): CLERK,
    ("POST", "/api/v1/notify/events"): CLERK,
    ("POST", "/api/v1/notify/events/preview"): CLERK,
    ("GET", "/counter/tell-us-once"): CLERK,
    ("POST", "/counter/tell-us-once"): CLERK,
    ("POST", "/counter/tell-us-once/preview"): CLERK,
    ("GET", "/api/v1/notify/subscriptions"): STAFF,
    ("POST", "/api/v1/notify/subscriptions/{subscription_id}/approve"): OWNER,
    ("POST", "/api/v1/notify/subscriptions/{subscription_id}/reject"): OWNER,
    ("POST", "/api/v1/notify/subscriptions/{subscription_id}/revoke"): OWNER,
    ("GET", "/api/v1/notify/feed"): CLERK,
    ("POST", "/api/v1/notify/acks"): CLERK,
    ("GET", "/api/v1/notify/citizens/{national_id}/events"): AUDITORS | ADMINS,
    ("GET", "/api/v1/notify/queues"): AUDITORS | ADMINS,
    ("GET", "/api/v1/notify/dead-letters"): ADMINS,
    ("POST", "/api/v1/notify/dead-letters/{dead_letter_id}/replay"): ADMINS,
    ("GET", "/admin/notify"): ADMINS,
    ("GET", "/admin/sms"): ADMINS,
    ("GET", "/admin/mail"): ADMINS,
    ("GET", "/admin/open311/keys"): ADMINS,  # the platform's administrator sees no city's keys
    ("POST", "/admin/open311/keys"): ADMINS,
    ("POST", "/admin/open311/keys/{key_id}/revoke"): ADMINS,
    # GeoReport v2 is public by its specification; a POST is checked by its api_key instead
    ("GET", "/open311/v2/discovery.{fmt}"): PUBLIC,
    ("GET", "/open311/v2/services.{fmt}"): PUBLIC,
    ("GET", "/open311/v2/services/{service_code}.{fmt}"): PUBLIC,
    ("GET", "/open311/v2/requests.{fmt}"): PUBLIC,
    ("POST", "/open311/v2/requests.{fmt}"): PUBLIC,
    ("GET", "/open311/v2/requests/{service_request_id}.{fmt}"): PUBLIC,
    ("GET", "/open311/v2/tokens/{token}.{fmt}"): PUBLIC,
    ("POST", "/admin/notify/dead-letters/{dead_letter_id}/replay"): ADMINS,
    ("GET", "/notify/citizens/{national_id}"): AUDITORS | ADMINS,
    ("GET", "/counter"): CLERK,
    ("POST", "/counter/cases"): CLERK,
    ("GET", "/counter/cases"): CLERK,
    ("GET", "/counter/cases/{number}"): CLERK,
    ("GET", "/counter/cases/{number}/print"): CLERK,
    ("GET", "/counter/cases/{number}/transcripts/{evidence_type}/{index}"): CLERK,
    ("GET", "/counter/cases/{number}/transcripts/{evidence_type}/{index}/jws"): CLERK,
    ("GET", "/counter/cases/{number}/transcripts/{evidence_type}/{index}/pdf"): CLERK,
    ("POST", "/counter/cases/{number}/evidence"): CLERK,
    ("POST", "/counter/cases/{number}/kinship"): CLERK,
    ("POST", "/counter/cases/{number}/lookup"): CLERK,
    ("POST", "/counter/cases/{number}/ask/{evidence_type}"): CLERK,
    ("GET", "/counter/cases/{number}/lookups/{piece}/{index}/jws"): CLERK,
    ("GET", "/counter/cases/{number}/lookups/{piece}/{index}/pdf"): CLERK,
    ("POST", "/counter/cases/{number}/paper"): CLERK,
    ("POST", "/counter/cases/{number}/rule-request"): CLERK,
    ("POST", "/counter/cases/{number}/relay"): CLERK,
    ("POST", "/counter/cases/{number}/consent-request"): CLERK,
    ("POST", "/counter/cases/{number}/decide"): CLERK,
    ("POST", "/counter/cases/{number}/close"): CLERK,
    ("GET", "/owners/rules"): OWNER,
    ("POST", "/owners/rules/{rule_id}/{action}"): OWNER,
    ("GET", "/consolidate/review"): CLERK | ADMINS,
    ("POST", "/consolidate/review/{item_id}"): CLERK | ADMINS,
    ("POST", "/consolidate/review/{item_id}/fix"): CLERK | ADMINS,
    ("GET", "/hotline"): CLERK,  # then a 1999 hotline's clerks only (tests/hotline)
    ("POST", "/hotline/requests"): CLERK,
    ("POST", "/hotline/requests/{request_id}/transfer"): CLERK,
    ("GET", "/survey"): CLERK | AUDITORS | ADMINS,
    ("POST", "/survey/waves"): ADMINS,
    ("POST", "/survey/waves/{wave_id}/close"): ADMINS,
    ("GET", "/survey/waves/{wave_id}"): CLERK,
    ("POST", "/survey/waves/{wave_id}"): CLERK,
    ("GET", "/survey/waves/{wave_id}/results"): AUDITORS | ADMINS,
    ("GET", "/survey/waves/{wave_id}/results.csv"): AUDITORS | ADMINS,
    ("GET", "/stats"): AUDITORS | ADMINS,
    ("GET", "/stats.csv"): AUDITORS | ADMINS,
    ("GET", "/stats/refusals.csv"): AUDITORS | ADMINS,
    ("GET", "/stats/turnaround.csv"): AUDITORS | ADMINS,
    ("GET", "/stats/savings.csv"): AUDITORS | ADMINS,
    ("GET", "/api/v1/stats/savings"): AUDITORS | ADMINS,
    ("POST", "/stats/assumptions"): ADMINS,
    ("GET", "/stats/tell-us-once.csv"): AUDITORS | ADMINS,
    ("GET", "/stats/public"): PUBLIC,
    ("GET", "/verify"): PUBLIC,
    ("POST", "/verify"): PUBLIC,
    ("GET", "/verify/transcripts/{jti}"): PUBLIC,
    ("GET", "/verify/certificates/{kid}"): PUBLIC,
    ("GET", "/api/v1/stats/public"): PUBLIC,
    ("GET", "/api/v1/stats/tell-us-once"): AUDITORS | ADMINS,
    ("GET", "/api/v1/stats/turnaround"): AUDITORS | ADMINS,
    ("GET", "/api/v1/stats/cases"): AUDITORS | ADMINS,
    ("GET", "/static/{path:path}"): PUBLIC,
    ("GET", "/"): PUBLIC,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    # no role check: a loopback peer without the proxy's headers, or the metrics token, is
    # what it asks (tests/test_deploy.py)
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/audit/checkpoint"): PUBLIC,
    ("POST", "/witness/add-checkpoint"): PUBLIC,
    ("GET", "/witness/{origin_hash}/checkpoint"): PUBLIC,
}
"""(method, path template) -> the roles that get past the route's role check. Whatever a
role may then see is the route's tenant check (``tests/federation/test_tenancy.py``); for
platform administrators that must be no tenant's personal data."""


@dataclass
class Callers:
    client: TestClient
    headers: dict[str, dict[str, str]]
    """Role -> the request headers that make a call as that role."""
    citizen: Callable[[], dict[str, str]]
    """The headers of a call as a citizen: a browser session, new for each call."""
    page_problems: list[str] = field(default_factory=list)
    """Pages met on the way whose markup is broken where a reader would see it."""


@pytest.fixture
def callers(demo_env: DemoEnv) -> Iterator[Callers]:
    factory = make_session_factory(make_engine(demo_env.settings.resolved_database_url))
    accept = {"Accept": "application/json"}
    headers: dict[str, dict[str, str]] = {}
    with transaction(factory) as db:
        create_user(db, "tpe-admin", None, "admin", "taipei-city.civil_affairs", "管理")
        for role, username in CALLERS.items():
            if username is None:
                headers[role] = accept
            elif role != "citizen":
                user = get_user(db, username)
                assert user is not None, username
                token, _ = issue_api_token(db, user, "role sweep", 1)
                headers[role] = accept | {"Authorization": f"Bearer {token}"}

    def citizen() -> dict[str, str]:
        """Signed in afresh for each route: a citizen has no token, and the sweep signs out."""
        with transaction(factory) as db:
            return accept | citizen_headers(db, "A123456789", "王小明")

    app = create_app(demo_env.settings)
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as client:
        yield Callers(client, headers, citizen)


def refused(response: Any) -> bool:
    """Whether the route's role check turned the caller away (not a later, business 403)."""
    if response.status_code == 401:
        return True
    if response.status_code != 403:
        return False
    try:
        return "required_roles" in response.json()
    except ValueError:
        return False


def observe(callers: Callers, endpoint: Endpoint) -> frozenset[str]:
    """The roles that get past ``endpoint``'s role check."""
    passed = set()
    for role, headers in [*callers.headers.items(), ("citizen", callers.citizen())]:
        kwargs: dict[str, Any] = {}
        if endpoint.method not in ("GET", "HEAD", "DELETE"):
            kwargs["json"] = {}
        response = callers.client.request(endpoint.method, endpoint.url, headers=headers, **kwargs)
        if not refused(response):
            passed.add(role)
        if response.status_code == 200 and "text/html" in response.headers.get("content-type", ""):
            callers.page_problems += [
                f"{endpoint.method} {endpoint.url} as {role}: {problem}"
                for problem in page_problems(response.text)
            ]
    return frozenset(passed)


def page_problems(html: str) -> list[str]:
    """A tab title with markup in it, or an id given twice (labels, skip links and
    aria references then point at the wrong element)."""
    problems = []
    title = re.search(r"<title>(.*?)</title>", html, re.S)
    if title and "<" in title.group(1):
        problems.append("markup in the <title>")
    ids = re.findall(r'\bid="([^"]+)"', html)
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        problems.append(f"ids given more than once: {twice[:5]}")
    return problems


def routes_of(app: Any) -> list[Endpoint]:
    return [e for e in endpoints(app.routes) if e.method != "WEBSOCKET"]


def misclassified(callers: Callers) -> list[str]:
    """Routes missing from :data:`ALLOWED`, entries naming no route, and routes whose role
    check admits other roles than the table says."""
    found = routes_of(callers.client.app)
    problems = [
        f"{e.method} {e.path}: not in ALLOWED; decide which roles may call it"
        for e in found
        if (e.method, e.path) not in ALLOWED
    ]
    declared = {(e.method, e.path) for e in found}
    problems += [
        f"{m} {p}: in ALLOWED but no such route" for m, p in ALLOWED if (m, p) not in declared
    ]
    for endpoint in found:
        expected = ALLOWED.get((endpoint.method, endpoint.path))
        if expected is None:
            continue
        if is_public(endpoint.method, endpoint.path) != (expected == PUBLIC):
            problems.append(f"{endpoint.method} {endpoint.path}: public list and table disagree")
        got = observe(callers, endpoint)
        if got != expected:
            extra, missing = sorted(got - expected), sorted(expected - got)
            problems.append(
                f"{endpoint.method} {endpoint.path}: also admits {extra}, refuses {missing}"
            )
    return problems


def test_every_route_admits_exactly_the_roles_its_table_entry_names(callers: Callers) -> None:
    problems = misclassified(callers)
    assert problems == [], "\n".join(problems)
    assert callers.page_problems == [], "\n".join(callers.page_problems)


def _open_to_everyone(user: CurrentUser) -> dict[str, str]:
    """The planted bug: an administrators' route that admits any signed-in role."""
    return {"who": user.username}


OWNER_MAY: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", "/owners/rules"),
        ("POST", "/owners/rules/{rule_id}/{action}"),
        ("POST", "/api/v1/access-rules/{rule_id}/approve"),
        ("POST", "/api/v1/access-rules/{rule_id}/reject"),
        ("POST", "/api/v1/access-rules/{rule_id}/revoke"),
        ("POST", "/api/v1/notify/subscriptions/{subscription_id}/approve"),
        ("POST", "/api/v1/notify/subscriptions/{subscription_id}/reject"),
        ("POST", "/api/v1/notify/subscriptions/{subscription_id}/revoke"),
    }
)
"""Every route a data owner reaches beyond what any signed-in staff account does (listing
subscriptions, one's account and tokens): deciding rules and subscriptions, none about a
named citizen. The platform's operator makes owner
accounts of national agencies (``onceonly.accounts.tenancy.NODE_WIDE_ROLES``), so a route
added here must read and write no citizen's data."""


def test_a_data_owner_reaches_only_the_routes_that_decide_and_none_about_a_citizen() -> None:
    owners = {route for route, roles in ALLOWED.items() if "owner" in roles}
    shared = {route for route, roles in ALLOWED.items() if roles >= STAFF}
    assert owners - shared == OWNER_MAY
    # what the sweep above proves of the app: these answer an owner 403 naming the roles
    about_citizens = (
        ("POST", "/api/v1/notify/events"),
        ("POST", "/api/v1/notify/events/preview"),
        ("POST", "/api/v1/notify/subscriptions"),
        ("GET", "/api/v1/notify/feed"),
        ("POST", "/api/v1/notify/acks"),
        ("POST", "/counter/tell-us-once/preview"),
    )
    assert [route for route in about_citizens if "owner" in ALLOWED[route]] == []


def test_the_sweep_catches_a_new_route_and_an_admin_route_open_to_everyone(
    callers: Callers, monkeypatch: pytest.MonkeyPatch
) -> None:
    app: Any = callers.client.app
    app.add_api_route("/api/v1/oops", lambda: {"x": 1}, methods=["GET"], include_in_schema=False)
    app.add_api_route(
        "/api/v1/admin/oops", _open_to_everyone, methods=["GET"], include_in_schema=False
    )
    monkeypatch.setitem(ALLOWED, ("GET", "/api/v1/admin/oops"), ADMINS)
    problems = misclassified(callers)
    assert "GET /api/v1/oops: not in ALLOWED; decide which roles may call it" in problems
    wrong = "GET /api/v1/admin/oops: also admits ['auditor', 'citizen', 'clerk', 'owner']"
    assert any(p.startswith(wrong) for p in problems), problems
