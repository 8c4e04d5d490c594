"""Tenant isolation on one node hosting 基隆市 and 宜蘭縣 (the regional "local cloud").

One prepared demo node (``demo_env``) serves both jurisdictions. 宜蘭縣 gets a case, evidence
requests (audit entries), a rule, an account, a token, a tell-us-once subscription with a
delivery and a dead letter, a consent, a citizen's flag, a held preview, a review pair and
messages to its citizen, each carrying a marker; then every non-public route of the app is
called by every role of 基隆市 (and a 基隆市 citizen) with path parameters taken from 宜蘭縣's
objects, and every reading route once more with 宜蘭縣's values in the query (``?subject=``,
``?agency=``, ...). No answer may carry a 宜蘭縣 marker the caller did not put in the URL,
and 宜蘭縣's objects must be unchanged. The same sweep as 宜蘭縣's own accounts finds the
markers, so their absence means something. The platform's administrator is swept too: it
may see operations, never a citizen's personal data, and cannot mint credentials that would.
"""

from __future__ import annotations

import gzip
import json
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlencode

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from onceonly.accounts.api_tokens import get_api_token, issue_api_token, list_api_tokens
from onceonly.accounts.principal import Principal
from onceonly.accounts.tenancy import Scope, scope_for, tenant_of_agency
from onceonly.accounts.users import (
    CITIZEN_USERNAME_PREFIX,
    create_user,
    get_user,
    get_user_by_id,
    list_users,
)
from onceonly.audit.models import AuditEntry
from onceonly.cases.models import Case, CaseThingAnswer
from onceonly.catalog import service as catalog
from onceonly.citizens import previews
from onceonly.citizens.accounts import ensure_citizen
from onceonly.citizens.flags import flaggable, raise_flag
from onceonly.citizens.models import AccessFlag, EvidencePreview
from onceonly.consolidate import review
from onceonly.consolidate.models import ReviewItem
from onceonly.db import make_engine, make_session_factory, transaction, utcnow
from onceonly.domain.national_id import mask_national_id
from onceonly.federation.backup import BackupInvalid, Opened, open_envelope, seal
from onceonly.federation.tenant_backup import (
    TABLE_RULES,
    dump_tenant,
    restored_files,
    tenant_restore_drill,
)
from onceonly.models import Base
from onceonly.notify import subscriptions
from onceonly.notify.events import LifeEventIn, record_life_event
from onceonly.notify.models import DeadLetter, Delivery
from onceonly.open311 import keys as open311_keys
from onceonly.pki import ca
from onceonly.pki.trust import TrustAnchor
from onceonly.policy import service as policy
from onceonly.policy.models import Consent
from onceonly.survey import service as survey
from onceonly.web.app import create_app
from onceonly.web.public_routes import is_public
from tests.casework import open_case
from tests.conftest import DemoEnv, citizen_headers, post_login
from tests.web.test_route_auth import endpoints

ITEM = "temporary-work-allowance"
"""Offered everywhere by the labour department; needs household registration (central) and
the low-income predicate of welfare status (held where the citizen lives)."""
WELFARE = "is_low_income_household"
EMAIL = "yilan-marker@example.tw"
MOBILE = "0987654321"
RULE_MARKER = "ila-marker-requester"
USER_MARKER = "ila-marker-user"
USER_NAME_MARKER = "宜蘭標記承辦人"
TOKEN_MARKER = "ila-marker-token"
REVIEW_MARKER = "宜蘭複核標記"
FLAG_MARKER = "宜蘭申訴標記"
PREVIEW_MARKER = "宜蘭預覽標記"
SURVEY_MARKER = "宜蘭問卷標記"
OPEN311_MARKER = "宜蘭Open311應用程式標記"
KEELUNG_ROLES = ("kee-labour-clerk", "kee-social-owner", "kee-auditor", "kee-admin")
YILAN_ROLES = ("ila-labour-clerk", "ila-social-owner", "ila-auditor", "ila-admin")


@dataclass
class Tenant:
    """One jurisdiction's objects on the node, and the markers that betray them."""

    code: str
    subject: str
    case: str = ""
    entry_seqs: list[int] = field(default_factory=list)
    request_ids: list[str] = field(default_factory=list)
    """Of its audit entries. (Entry hashes are not markers: the log's head and its leaves
    are node-wide, as public as the signed tree heads over them.)"""
    rule_id: int = 0
    user_id: int = 0
    token_id: int = 0
    subscription_id: int = 0
    event_id: str = ""
    review_item_id: int = 0
    dead_letter_id: int = 0
    consent_id: int = 0
    flag_id: int = 0
    preview_id: int = 0
    wave_id: int = 0
    open311_key_id: int = 0
    lookup_id: int = 0
    """An answer about a parcel kept on its case (its transcript names the subject)."""

    def markers(self) -> list[str]:
        return [
            self.subject,
            mask_national_id(self.subject),
            self.case,
            EMAIL,
            MOBILE,
            RULE_MARKER,
            USER_MARKER,
            USER_NAME_MARKER,
            TOKEN_MARKER,
            REVIEW_MARKER,
            FLAG_MARKER,
            PREVIEW_MARKER,
            SURVEY_MARKER,
            OPEN311_MARKER,
            self.event_id,
            *self.request_ids,
        ]

    def personal_markers(self) -> list[str]:
        """What betrays a citizen's personal data (rather than staff accounts or the node's
        operations): no platform-wide role may ever see these."""
        return [
            self.subject,
            self.case,
            EMAIL,
            MOBILE,
            REVIEW_MARKER,
            FLAG_MARKER,
            PREVIEW_MARKER,
            self.event_id,
            *self.request_ids,
        ]

    def query(self) -> dict[str, str]:
        """The tenant's values for the query parameters routes filter by, so a filter that
        skips the tenant check (``?subject=`` of another tenant's citizen) is called too."""
        return {
            "subject": self.subject,
            "national_id": self.subject,
            "agency": f"{self.code}.labour",
            "agency_code": f"{self.code}.labour",
            "jurisdiction": self.code,
            "application_item": ITEM,
            "include_replayed": "true",
        }


@dataclass
class Node:
    env: DemoEnv
    client: TestClient
    tokens: dict[str, str] = field(default_factory=dict)
    cases: dict[tuple[str, str], str] = field(default_factory=dict)

    def sessions(self) -> Any:
        return make_session_factory(make_engine(self.env.settings.resolved_database_url))

    def auth(self, username: str) -> dict[str, str]:
        """Staff call with a bearer token; a citizen with a browser session (never a token),
        a new one each time (a sweep's call may sign it out)."""
        if username.startswith(CITIZEN_USERNAME_PREFIX):
            national_id = username.removeprefix(CITIZEN_USERNAME_PREFIX).upper()
            with transaction(self.sessions()) as db:
                return citizen_headers(db, national_id, "")
        if username not in self.tokens:
            with transaction(self.sessions()) as db:
                user = get_user(db, username)
                assert user is not None, username
                self.tokens[username], _ = issue_api_token(db, user, "tenancy", 1)
        return {"Authorization": f"Bearer {self.tokens[username]}"}

    def ask(self, username: str, subject: str, case_id: str = "T-1") -> dict[str, Any]:
        """``case_id`` names a real open case of the clerk's agency, opened on first use."""
        if (username, case_id) not in self.cases:
            number = open_case(self.sessions(), username, ITEM, subject)
            self.cases[(username, case_id)] = number
        response = self.client.post(
            "/api/v1/evidence-requests",
            json={
                "case_id": self.cases[(username, case_id)],
                "application_item": ITEM,
                "subject": subject,
            },
            headers=self.auth(username),
        )
        assert response.status_code in (200, 403), response.text
        pieces = {r["evidence_type"]: r for r in response.json()["results"]}
        return dict(pieces[WELFARE]) | {"request_id": response.json()["request_id"]}


@pytest.fixture
def node(demo_env: DemoEnv) -> Iterator[Node]:
    with transaction(
        make_session_factory(make_engine(demo_env.settings.resolved_database_url))
    ) as db:
        for username, agency in (
            ("kee-admin", "keelung-city.civil_affairs"),
            ("ila-admin", "yilan-county.civil_affairs"),
        ):
            create_user(db, username, None, "admin", agency, username)
    with TestClient(create_app(demo_env.settings), follow_redirects=False) as client:
        yield Node(demo_env, client)


def keep_a_lookup(node: Node, number: str, subject: str) -> int:
    """A parcel answer kept on the case whose stored transcript carries the case's markers
    (not a valid signature: only who may download it matters here)."""
    with transaction(node.sessions()) as db:
        case = db.scalars(select(Case).where(Case.number == number)).one()
        row = CaseThingAnswer(
            case_id=case.id, kind="parcel", about=f"{number} 段 0001-0000 地號",
            evidence_type="land_registration", dataset="land_registration", status="issued",
            owners=[], fields={}, withheld_fields=[],
            transcripts=[{"jws": f"{number}.{subject}.signature"}],
            fetched_by="seed", fetched_at=utcnow(),
        )  # fmt: skip
        db.add(row)
        db.flush()
        return row.id


def seed(node: Node, code: str, subject: str, clerk: str) -> Tenant:
    """A case with contact details and fetched evidence, an internal rule, an account with a
    token and a tell-us-once delivery: all of jurisdiction ``code``."""
    tenant = Tenant(code, subject)
    headers = node.auth(clerk)
    opened = node.client.post(
        "/api/v1/cases",
        json={
            "application_item": ITEM,
            "subject": subject,
            "contact_email": EMAIL if code == "yilan-county" else None,
            "contact_mobile": MOBILE if code == "yilan-county" else None,
        },
        headers=headers,
    )
    assert opened.status_code == 201, opened.text
    tenant.case = opened.json()["number"]
    fetched = node.client.post(f"/api/v1/cases/{tenant.case}/evidence", headers=headers)
    assert fetched.status_code == 200, fetched.text
    tenant.lookup_id = keep_a_lookup(node, tenant.case, subject)
    with transaction(node.sessions()) as db:
        rule = policy.request_rule(
            db,
            policy.RuleRequest(
                owner_agency=f"{code}.social_welfare",
                dataset="welfare_status",
                application_item=ITEM,
                legal_basis="social-assistance-act",
                requesting_agency=f"{code}.education",
                predicates=[WELFARE],
                purpose="tenancy test",
            ),
            requested_by=RULE_MARKER if code == "yilan-county" else "kee-requester",
        )
        tenant.rule_id = rule.id
        user = create_user(
            db,
            USER_MARKER if code == "yilan-county" else "kee-other-user",
            None,
            "clerk",
            f"{code}.labour",
            USER_NAME_MARKER if code == "yilan-county" else "基隆人員",
        )
        tenant.user_id = user.id
        _, token = issue_api_token(
            db, user, TOKEN_MARKER if code == "yilan-county" else "kee-token", 1
        )
        tenant.token_id = token.id
        sub = subscriptions.request_subscription(
            db,
            subscriptions.SubscriptionRequest(
                # the labour department's clerk reads its feed (a data owner reads none)
                agency_code=f"{code}.labour",
                event_kinds=["death"],
                legal_basis="household-registration-act",
                fields=["death_date"],
                mode="pull",
                jurisdiction=code,
            ),
            "seed",
        )
        subscriptions.approve_subscription(db, sub.id, "seed", None)
        tenant.subscription_id = sub.id
        tenant.consent_id = policy.grant_consent(db, subject, ITEM, tenant.case)
        event = record_life_event(
            db,
            LifeEventIn(
                kind="death",
                national_id=subject,
                payload={"death_date": "2024-03-01"},
                jurisdiction=code,
            ),
        )
        tenant.event_id = event.id
        db.flush()
        delivery = db.scalars(
            select(Delivery).where(
                Delivery.event_id == event.id, Delivery.subscription_id == sub.id
            )
        ).one()
        delivery.status = "dead"
        dead = DeadLetter(delivery_id=delivery.id, attempts=8, last_error="HTTP 500")
        db.add(dead)
        db.flush()
        tenant.dead_letter_id = dead.id
        name = REVIEW_MARKER if code == "yilan-county" else "基隆複核"
        pair = review.Candidate("county:1", "city:2", 0.7, {"name": name}, {"name": name + "甲"})
        review.sync_queue(db, f"merger-{code}", code, [pair])
        tenant.review_item_id = review.pending(db, f"merger-{code}")[0].id
        for entry in db.query(AuditEntry).order_by(AuditEntry.seq):
            if Scope(code).sees_entry(entry.actor_agency, entry.owner_agency):
                tenant.entry_seqs.append(entry.seq)
                tenant.request_ids.append(entry.request_id)
        about = next(
            e
            for e in db.query(AuditEntry).order_by(AuditEntry.seq)
            if e.subject == subject and flaggable(e.event)
        )
        person = ensure_citizen(db, subject, "宜蘭居民")
        citizen = Principal(
            person.id,
            person.username,
            person.display_name,
            "citizen",
            person.agency_code,
            person.badge,
            "session",
        )
        note = FLAG_MARKER if code == "yilan-county" else "基隆申訴"
        tenant.flag_id = raise_flag(db, citizen, subject, about.seq, note, None).id
        tenant.preview_id = previews.hold(
            db,
            previews.PreviewKey(subject, tenant.case, ITEM, WELFARE, f"{code}.labour"),
            dataset="welfare_status",
            requester_badge="B-XXXXXX",
            request_id="preview-seed",
            held={"note": PREVIEW_MARKER if code == "yilan-county" else "基隆預覽"},
        ).id
        tenant.wave_id = survey.open_wave(
            db,
            scope=Scope(code),
            opened_by="seed",
            title=SURVEY_MARKER if code == "yilan-county" else "基隆問卷",
            agencies=[f"{code}.labour"],
            closes_at=utcnow() + timedelta(days=7),
        ).id
        key, _ = open311_keys.issue_key(
            db,
            jurisdiction=code,
            app_name=OPEN311_MARKER if code == "yilan-county" else "基隆應用程式",
            issued_by="seed",
        )
        tenant.open311_key_id = key.id
    assert tenant.entry_seqs, "the evidence fetch was audited"
    return tenant


def path_values(tenant: Tenant) -> dict[str, str]:
    """A value for every path parameter of the app, taken from ``tenant``'s objects."""
    return {
        "number": tenant.case,
        "evidence_type": WELFARE,
        "index": "0",
        "seq": str(tenant.entry_seqs[0]),
        "rule_id": str(tenant.rule_id),
        "action": "approve",
        "user_id": str(tenant.user_id),
        "token_id": str(tenant.token_id),
        "national_id": tenant.subject,
        "subscription_id": str(tenant.subscription_id),
        "dead_letter_id": str(tenant.dead_letter_id),
        "consent_id": str(tenant.consent_id),
        "preview_id": str(tenant.preview_id),
        "piece": str(tenant.lookup_id),
        "flag_id": str(tenant.flag_id),
        "item_id": str(tenant.review_item_id),
        "wave_id": str(tenant.wave_id),
        "key_id": str(tenant.open311_key_id),
        "request_id": f"{tenant.code[0].upper()}-311-115-000001",  # a 1999 transfer's path
        "size": "1",
        "path": "site.css",
    }


BODIES: dict[str, dict[str, Any]] = {
    "/api/v1/cases/{number}/relay": {"to_agency": "keelung-city.social_welfare", "note": "x"},
    "/api/v1/cases/{number}/decide": {"decision": "approved", "reason": "x"},
    "/api/v1/access-rules/{rule_id}/approve": {"reason": ""},
    "/api/v1/access-rules/{rule_id}/reject": {"reason": "no"},
    "/api/v1/access-rules/{rule_id}/revoke": {"reason": "no"},
}
"""Valid bodies for the routes that would change another tenant's object, so a refusal is
the tenant check and not a validation error."""
FORMS: dict[str, dict[str, str]] = {
    "/owners/rules/{rule_id}/{action}": {"reason": ""},
    "/admin/users/{user_id}/active": {"active": "0"},
    "/counter/cases/{number}/relay": {"to_agency": "keelung-city.social_welfare", "note": "x"},
    "/counter/cases/{number}/decide": {"decision": "approved", "reason": "x"},
    "/consolidate/review/{item_id}": {"decision": "match"},
    "/survey/waves/{wave_id}": {"item-1": "4"},
}


AUDITED_LOOKUPS = ("/api/v1/cases/warnings",)
"""Routes where a clerk types a person's national ID and the register is asked: the look is
written to the clerk's own tenant's audit, where that tenant's auditor must see it. The sweep
does not send the other tenant's citizen there (the entry would then rightly show in the
sweeping tenant's audit); ``test_warnings_never_name_another_tenants_case`` checks the answer."""


@dataclass(frozen=True)
class Leak:
    who: str
    route: str
    status: int
    markers: tuple[str, ...]


def sweep(
    node: Node, usernames: tuple[str, ...], target: Tenant, *, personal_only: bool = False
) -> list[Leak]:
    """Call every non-public route as each of ``usernames`` with ``target``'s ids in the path,
    and each reading route once more with ``target``'s values in the query too; return each
    answer that carried a marker of ``target`` the URL did not (``personal_only``: a marker
    of a citizen's personal data)."""
    found = []
    markers = target.personal_markers() if personal_only else target.markers()
    values = path_values(target)
    routes = [e for e in endpoints(node.client.app.routes) if not is_public(e.method, e.path)]  # type: ignore[attr-defined]
    for username in usernames:
        for route in routes:
            if route.method == "WEBSOCKET":
                continue
            headers = node.auth(username) | {"Accept": "application/json"}
            path = route.path.format(**{k: v for k, v in values.items() if "{" + k in route.path})
            path = re.sub(r"\{(\w+):path\}", values["path"], path)
            urls = [path]
            if route.method == "GET" and route.path not in AUDITED_LOOKUPS:
                urls.append(path + "?" + urlencode(target.query()))
            for url in urls:
                kwargs: dict[str, Any] = {}
                if route.path in FORMS:
                    kwargs["data"] = FORMS[route.path]
                elif route.method != "GET":
                    kwargs["json"] = BODIES.get(route.path, {})
                response = node.client.request(route.method, url, headers=headers, **kwargs)
                answer = f"{username} {route.method} {url}: {response.text}"
                assert response.status_code < 500, answer
                echoed = {m for m in markers if m and m in unquote(url)}
                echoed |= {mask_national_id(m) for m in echoed if m == target.subject}
                shown = tuple(m for m in markers if m and m not in echoed and m in response.text)
                if shown:
                    where = f"{route.method} {route.path}" + ("?..." if "?" in url else "")
                    found.append(Leak(username, where, response.status_code, shown))
    return found


def snapshot(node: Node, tenant: Tenant) -> dict[str, Any]:
    """What another tenant's calls must not have changed."""
    with node.sessions()() as db:
        case = db.execute(
            Base.metadata.tables["cases"]
            .select()
            .where(Base.metadata.tables["cases"].c.number == tenant.case)
        ).one()
        rule = policy.get_rule(db, tenant.rule_id)
        user = get_user_by_id(db, tenant.user_id)
        token = get_api_token(db, tenant.token_id)
        assert rule and user and token
        pair = db.get(ReviewItem, tenant.review_item_id)
        assert pair is not None
        flag = db.get(AccessFlag, tenant.flag_id)
        preview = db.get(EvidencePreview, tenant.preview_id)
        assert flag is not None and preview is not None
        dead = db.get(DeadLetter, tenant.dead_letter_id)
        consent = db.get(Consent, tenant.consent_id)
        assert dead is not None and consent is not None
        return {
            "review": pair.status,
            "case": (case.state, case.agency, case.decision),
            "rule": rule.status,
            "user": user.active,
            "token": token.revoked_at,
            "dead_letter": dead.replayed_at,
            "consent": consent.revoked_at,
            "flag": (flag.status, flag.reply),
            "preview": preview.status,
        }


def test_every_route_keeps_yilan_data_from_every_keelung_role(node: Node) -> None:
    yilan = seed(node, "yilan-county", node.env.sample("yilan_resident"), "ila-labour-clerk")
    before = snapshot(node, yilan)

    with transaction(node.sessions()) as db:
        kee_citizen = ensure_citizen(db, node.env.sample("veteran"), "基隆居民").username
    leaks = sweep(node, (*KEELUNG_ROLES, kee_citizen), yilan)

    assert leaks == [], "\n".join(f"{leak}" for leak in leaks)
    assert snapshot(node, yilan) == before, "keelung's calls changed yilan's objects"
    # the markers are findable: yilan's own roles see their data on the same routes
    seen = sweep(node, YILAN_ROLES, yilan)
    routes = {leak.route for leak in seen}
    for expected in (
        "GET /api/v1/cases/{number}",
        "GET /api/v1/audit/entries",
        "GET /api/v1/admin/notifications",
        "GET /api/v1/admin/sms-outbox",
        "GET /api/v1/access-rules",
        "GET /api/v1/auth/tokens",
        "GET /admin/users",
        "GET /api/v1/notify/citizens/{national_id}/events",
        "GET /consolidate/review",
        "GET /api/v1/notify/dead-letters",
        "GET /api/v1/cases?...",
        "GET /api/v1/audit/flags",
        "GET /api/v1/notify/feed",
        "GET /survey",
        "GET /survey/waves/{wave_id}",
        "GET /survey/waves/{wave_id}/results",
        "GET /counter/cases/{number}/lookups/{piece}/{index}/jws",
    ):
        assert expected in routes, f"yilan's own accounts should see their data at {expected}"


def test_warnings_never_name_another_tenants_case_nor_read_without_leave(node: Node) -> None:
    yilan = seed(node, "yilan-county", node.env.sample("yilan_resident"), "ila-labour-clerk")
    query = {"application_item": ITEM, "subject": yilan.subject}
    own = node.client.get(
        "/api/v1/cases/warnings", params=query, headers=node.auth("ila-labour-clerk")
    )
    assert yilan.case in own.text  # the same item open for this citizen: found in its tenant
    kee = node.client.get(
        "/api/v1/cases/warnings", params=query, headers=node.auth("kee-labour-clerk")
    )
    assert kee.status_code == 200
    assert yilan.case not in kee.text
    assert all(w["kind"] != "open_case" for w in kee.json()["warnings"])
    # nor is the register asked for keelung's clerk: the owner's rules let keelung's labour
    # office read it only with the citizen's consent, which it does not hold
    assert kee.json()["warnings"] == []
    audit = node.client.get("/api/v1/audit/entries", headers=node.auth("kee-auditor"))
    assert yilan.subject not in audit.text


def test_another_tenants_case_is_404_as_if_it_did_not_exist(node: Node) -> None:
    yilan = seed(node, "yilan-county", node.env.sample("yilan_resident"), "ila-labour-clerk")
    kee = node.auth("kee-labour-clerk")
    theirs = node.client.get(f"/api/v1/cases/{yilan.case}", headers=kee)
    missing = node.client.get("/api/v1/cases/ILA-XXX-115-999999", headers=kee)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["type"] == missing.json()["type"]
    assert "yilan" not in theirs.text
    page = node.client.get(f"/counter/cases/{yilan.case}", headers=kee | {"Accept": "text/html"})
    assert page.status_code == 404
    # and so is a parcel answer kept on it, which its own clerk downloads
    kept = f"/counter/cases/{yilan.case}/lookups/{yilan.lookup_id}/0/jws"
    assert node.client.get(kept, headers=kee).status_code == 404
    own = node.client.get(kept, headers=node.auth("ila-labour-clerk"))
    assert own.status_code == 200 and yilan.subject in own.text
    # within one tenant another agency's case is still a plain refusal, as before
    same = node.client.get(f"/api/v1/cases/{yilan.case}", headers=node.auth("ila-social-clerk"))
    assert same.status_code == 403


def test_a_case_cannot_be_relayed_to_another_tenant(node: Node) -> None:
    yilan = seed(node, "yilan-county", node.env.sample("yilan_resident"), "ila-labour-clerk")
    refused = node.client.post(
        f"/api/v1/cases/{yilan.case}/relay",
        json={"to_agency": "keelung-city.labour", "note": "請續辦"},
        headers=node.auth("ila-labour-clerk"),
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "to_agency"
    assert "基隆" not in refused.json()["errors"][0]["reason"] or "另一個縣市" in refused.text


def test_evidence_across_tenants_is_decided_by_the_other_tenants_rules(node: Node) -> None:
    subject = node.env.sample("yilan_resident")
    denied = node.ask("kee-labour-clerk", subject)
    assert denied["status"] == "denied"
    # the usual reason: the owner's rules name no such requester, as for any other owner
    names = catalog.CachedCatalog()
    with node.sessions()() as db:
        usual = policy.decide(
            db,
            requester=policy.Requester("keelung-city.labour", "labour", "keelung-city"),
            owner_agency="yilan-county.social_welfare",
            dataset="welfare_status",
            application_item=ITEM,
            subject=subject,
            case_id="T-1",
            fields=(),
            predicate=WELFARE,
            names=lambda code, lang: names.name(db, code, lang),
        )
    assert not usual.allowed
    assert denied["reason"]["en"] == usual.reason_en

    with transaction(node.sessions()) as db:
        rule = policy.request_rule(
            db,
            policy.RuleRequest(
                owner_agency="yilan-county.social_welfare",
                dataset="welfare_status",
                application_item=ITEM,
                legal_basis="social-assistance-act",
                requesting_agency_kind="labour",
                requesting_jurisdiction="keelung-city",
                predicates=[WELFARE],
                purpose="基隆市勞工處協助臨時工作津貼",
            ),
            requested_by="kee-labour-clerk",
        )
    approved = node.client.post(
        f"/api/v1/access-rules/{rule.id}/approve",
        json={"reason": "ok"},
        headers=node.auth("ila-social-owner"),
    )
    assert approved.status_code == 200, approved.text
    allowed = node.ask("kee-labour-clerk", subject, case_id="T-2")
    assert allowed["status"] == "issued", allowed
    entries = node.client.get(
        "/api/v1/audit/entries",
        params={"dataset": "welfare_status"},
        headers=node.auth("kee-auditor"),
    ).json()["items"]
    ours = [e for e in entries if e["request_id"] == allowed["request_id"]]
    assert [(e["decision"], e["owner_agency"]) for e in ours] == [
        ("allowed", "yilan-county.social_welfare")
    ]
    assert rule.id in ours[0]["details"]["rule_ids"]
    # both tenants' auditors see the crossing; a third jurisdiction's does not
    for auditor, sees in (("ila-auditor", True), ("tpe-auditor", False)):
        listed = node.client.get(
            "/api/v1/audit/entries", params={"subject": subject}, headers=node.auth(auditor)
        ).json()["items"]
        assert any(e["request_id"] == allowed["request_id"] for e in listed) is sees, auditor


def test_the_owner_of_another_tenant_cannot_decide_a_rule(node: Node) -> None:
    yilan = seed(node, "yilan-county", node.env.sample("yilan_resident"), "ila-labour-clerk")
    answer = node.client.post(
        f"/api/v1/access-rules/{yilan.rule_id}/approve",
        json={"reason": ""},
        headers=node.auth("kee-social-owner"),
    )
    assert answer.status_code == 404
    assert "yilan" not in answer.text


def test_platform_admin_reads_no_personal_data_by_any_route_nor_by_minting(node: Node) -> None:
    """Every route called as the platform's administrator shows none of 宜蘭縣's citizens'
    data; and the administrator cannot mint a credential that would: no token for a tenant's
    account, no account inside the tenant."""
    yilan = seed(node, "yilan-county", node.env.sample("yilan_resident"), "ila-labour-clerk")
    # (disabling accounts, revoking tokens and replaying dead letters are the operator's own
    # work: they may change 宜蘭縣's objects, never show its citizens' data)
    leaks = sweep(node, ("admin",), yilan, personal_only=True)
    assert leaks == [], "\n".join(f"{leak}" for leak in leaks)

    admin = node.auth("admin")
    with node.sessions()() as db:
        tokens_before = len(list_api_tokens(db))
    for username in YILAN_ROLES:
        minted = node.client.post(
            "/api/v1/auth/tokens", json={"username": username, "name": "x"}, headers=admin
        )
        assert minted.status_code == 403, (username, minted.text)
    for role in ("clerk", "auditor", "admin", "owner"):
        page = node.client.post(
            "/admin/users",
            data={
                "username": f"ila-minted-{role}",
                "display_name": "x",
                "role": role,
                "agency_code": "yilan-county.civil_affairs",
                "password": "correct horse battery",
            },
            headers=admin | {"Accept": "text/html"},
        )
        assert page.status_code == 422, role
    with node.sessions()() as db:
        assert len(list_api_tokens(db)) == tokens_before
        assert not [u for u in list_users(db) if u.username.startswith("ila-minted-")]


def test_every_audit_entry_names_the_credential_and_its_issuer(node: Node) -> None:
    """A token a tenant's administrator issued for a clerk-role system account (a person's
    account gets tokens only from its holder): the entries of its requests say so; a
    person's own sign-in session is named too."""
    with transaction(node.sessions()) as db:
        create_user(
            db, "ila-labour-system", None, "clerk", "yilan-county.labour", "宜蘭縣勞工處 櫃檯系統"
        )
    ila_admin = node.auth("ila-admin")
    issued = node.client.post(
        "/api/v1/auth/tokens",
        json={"username": "ila-labour-system", "name": "櫃檯系統"},
        headers=ila_admin,
    )
    assert issued.status_code == 201, issued.text
    clerk = {"Authorization": f"Bearer {issued.json()['token']}"}
    subject = node.env.sample("yilan_resident")
    opened = node.client.post(
        "/api/v1/cases", json={"application_item": ITEM, "subject": subject}, headers=clerk
    )
    assert opened.status_code == 201
    number = opened.json()["number"]
    asked = node.client.post(
        "/api/v1/evidence-requests",
        json={"case_id": number, "application_item": ITEM, "subject": subject},
        headers=clerk,
    )
    assert "request_id" in asked.json(), asked.text
    relayed = node.client.post(
        f"/api/v1/cases/{number}/relay",
        json={"to_agency": "yilan-county.social_welfare", "note": "x"},
        headers=clerk,
    )
    assert relayed.status_code == 200, relayed.text
    entries = node.client.get(
        "/api/v1/audit/entries", params={"subject": subject}, headers=node.auth("ila-auditor")
    ).json()["items"]
    request_id = asked.json()["request_id"]
    ours = [e for e in entries if e["request_id"] == request_id or e["case_id"] == number]
    assert {e["event"] for e in ours} == {"evidence.request", "case.relay"}
    with node.sessions()() as db:
        issuer = get_user(db, "ila-admin")
    assert issuer is not None
    # the issuer by badge: the entry hash covers it and the citizen's proof carries it
    expected = {"kind": "token", "id": issued.json()["id"], "issued_by": f"badge:{issuer.badge}"}
    for entry in ours:
        assert entry["details"]["credential"] == expected, entry

    # a session: the person signed in themselves
    visitor = TestClient(node.client.app, follow_redirects=False)
    assert (
        post_login(
            visitor, {"username": "ila-social-owner", "password": "onceonly-demo"}
        ).status_code
        == 303
    )
    csrf = visitor.get("/api/v1/auth/whoami").json()["csrf_token"]
    with node.sessions()() as db:
        rule = policy.request_rule(
            db,
            policy.RuleRequest(
                owner_agency="yilan-county.social_welfare",
                dataset="welfare_status",
                application_item=ITEM,
                legal_basis="social-assistance-act",
                requesting_agency="yilan-county.education",
                predicates=[WELFARE],
                purpose="credential test",
            ),
            requested_by="x",
        )
        db.commit()
    approved = visitor.post(
        f"/api/v1/access-rules/{rule.id}/approve",
        json={"reason": "ok"},
        headers={"X-CSRF-Token": csrf},
    )
    assert approved.status_code == 200, approved.text
    with node.sessions()() as db:
        entry = db.scalars(
            select(AuditEntry)
            .where(AuditEntry.event == "rule.approved")
            .order_by(AuditEntry.seq.desc())
        ).first()
    assert entry is not None
    credential = entry.details["credential"]
    assert (credential["kind"], credential["issued_by"]) == ("session", "self")
    assert isinstance(credential["id"], int)


def test_platform_admin_sees_operations_but_no_tenants_personal_data(node: Node) -> None:
    yilan = seed(node, "yilan-county", node.env.sample("yilan_resident"), "ila-labour-clerk")
    admin = node.auth("admin")
    assert node.client.get("/api/v1/audit/entries", headers=admin).json()["items"] == []
    assert node.client.get("/api/v1/admin/notifications", headers=admin).json() == []
    assert node.client.get("/api/v1/admin/sms-outbox", headers=admin).json() == []
    users = node.client.get("/admin/users", headers=admin | {"Accept": "text/html"}).text
    assert USER_MARKER in users and "kee-admin" in users, "accounts are node-wide operations"
    assert node.client.get("/api/v1/audit/head", headers=admin).status_code == 200
    entry = node.client.get(f"/api/v1/audit/entries/{yilan.entry_seqs[0]}/proof", headers=admin)
    assert entry.status_code == 404


def test_tenant_admins_manage_only_their_own_accounts(node: Node) -> None:
    kee = node.auth("kee-admin") | {"Accept": "text/html"}
    form = node.client.get("/admin/users", headers=kee).text
    offered = re.findall(r'<option value="([^"]+)">', form.split('id="f-agency_code-options"')[1])
    assert "keelung-city.labour" in offered, "the form offers the tenant's agencies"
    assert not [code for code in offered if not code.startswith("keelung-city.")], offered
    page = node.client.post(
        "/admin/users",
        data={
            "username": "kee-sneaky",
            "display_name": "x",
            "role": "clerk",
            "agency_code": "yilan-county.labour",
            "password": "correct horse battery",
        },
        headers=kee,
    )
    assert page.status_code == 422
    assert "另一個縣市" in page.text
    made = node.client.post(
        "/admin/users",
        data={
            "username": "kee-new",
            "display_name": "新承辦",
            "role": "clerk",
            "agency_code": "keelung-city.labour",
            "password": "correct horse battery",
        },
        headers=kee,
    )
    assert made.status_code == 303


def test_every_catalog_agency_code_names_its_jurisdiction(demo_env: DemoEnv) -> None:
    """The tenant of an account is read from its agency code; the catalog keeps that true."""
    engine = make_engine(demo_env.settings.resolved_database_url)
    with make_session_factory(engine)() as db:
        agencies = catalog.list_agencies(db)
    engine.dispose()
    assert agencies
    for agency in agencies:
        assert tenant_of_agency(agency.code) == agency.jurisdiction, agency.code
    assert scope_for("admin", "central.ndc").operator
    assert scope_for("admin", "keelung-city.civil_affairs") == Scope("keelung-city")
    assert scope_for("citizen", "citizen") == Scope(None)


# --- per-tenant backups -----------------------------------------------------------------------

NATIONAL_ID = re.compile(rb"[A-Z][12][0-9]{8}")


def _ids_in_stores(registries: Path, jurisdiction: str) -> set[bytes]:
    found: set[bytes] = set()
    for path in registries.glob(f"{jurisdiction}.*.sqlite"):
        found |= set(NATIONAL_ID.findall(path.read_bytes()))
        with sqlite3.connect(path) as connection:  # rows still in the WAL are in the dump too
            for line in connection.iterdump():
                found |= set(NATIONAL_ID.findall(line.encode()))
    return found


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    ca.init_ca(tmp_path / "ca")
    for name in ("north-regional", "taipei"):
        ca.issue_node(tmp_path / "ca", name, tmp_path)
    return tmp_path


def test_every_table_is_classified_for_tenant_backups() -> None:
    from onceonly.federation import tenant_backup

    documented = {
        "account_secrets",
        "audit_head",
        "audit_tree_nodes",
        "audit_witnesses",
        "cache_versions",
        "case_counters",
        "citizen_card_revocations",
        "citizen_challenges",
        "federation_nonces",
        "login_client_throttles",
        "login_throttles",
        "notify_citizen_sequences",
        "stats_assumptions",  # node-wide assumptions of the savings figures, no tenant's data
        "user_sessions",
        "witness_logs",
    }
    unclassified = set(Base.metadata.tables) - set(TABLE_RULES) - documented
    assert unclassified == set(), "decide whether these tables are a tenant's: " + ", ".join(
        sorted(unclassified)
    )
    for name in documented:
        assert name in (tenant_backup.__doc__ or "") + (tenant_backup.TABLE_RULES_DOC), name


def test_a_yilan_backup_holds_no_keelung_data_and_proves_itself(node: Node, pki: Path) -> None:
    yilan = seed(node, "yilan-county", node.env.sample("yilan_resident"), "ila-labour-clerk")
    keelung = seed(node, "keelung-city", node.env.sample("veteran"), "kee-labour-clerk")
    settings = node.env.settings
    registries = settings.registries_dir
    keelung_only = _ids_in_stores(registries, "keelung-city") - _ids_in_stores(
        registries, "yilan-county"
    )
    assert keelung.subject.encode() in keelung_only

    manifest, body = dump_tenant(settings, "north-regional", "yilan-county")
    envelope = seal(
        manifest,
        body,
        (pki / "taipei.pem").read_bytes(),
        (pki / "north-regional.pem").read_bytes(),
        (pki / "north-regional.key").read_bytes(),
    )
    anchor = TrustAnchor.from_pem((pki / "ca" / "ca.pem").read_bytes(), ca.build_crl(pki / "ca"))
    opened = open_envelope(envelope, (pki / "taipei.key").read_bytes(), anchor)

    archive = gzip.decompress(opened.body)
    files = restored_files(opened)
    assert sorted(files) == sorted(p.name for p in registries.glob("yilan-county.*.sqlite"))
    everything = archive + b"".join(files.values())
    leaked = {i for i in NATIONAL_ID.findall(everything) if i in keelung_only}
    assert leaked == set(), f"keelung national IDs in the yilan backup: {sorted(leaked)[:5]}"
    for marker in (keelung.case, "kee-requester", "kee-other-user", "kee-token"):
        assert marker.encode() not in everything, marker
    rows = json.loads(archive)["tables"]
    for table, found in rows.items():
        # the catalog is public reference data; a rule of a yilan owner may name keelung askers
        if not table.startswith("catalog_") and table != "access_rules":
            assert "keelung-city" not in json.dumps(found), f"a keelung row in {table}"
    for marker in (yilan.case, yilan.subject, EMAIL, MOBILE, RULE_MARKER, USER_MARKER):
        assert marker.encode() in everything, marker

    report = tenant_restore_drill(opened)
    assert report.ok, report
    assert report.tenant == "yilan-county"
    assert report.tables["audit_entries"][0] == len(yilan.entry_seqs)
    assert report.entries_checked == len(yilan.entry_seqs)
    assert report.tree_size >= max(keelung.entry_seqs)


def test_the_tenant_drill_catches_a_changed_entry_and_a_dropped_leaf(node: Node) -> None:
    seed(node, "yilan-county", node.env.sample("yilan_resident"), "ila-labour-clerk")
    manifest, body = dump_tenant(node.env.settings, "north-regional", "yilan-county")
    document = json.loads(gzip.decompress(body))

    changed = json.loads(json.dumps(document))
    changed["tables"]["audit_entries"][0]["reason_en"] = "nothing to see"
    report = tenant_restore_drill(
        Opened(manifest, gzip.compress(json.dumps(changed).encode()), "t")
    )
    assert not report.ok and any("does not match its hash" in p for p in report.audit_problems)

    forged = json.loads(json.dumps(document))
    forged["tables"]["audit_entries"][0]["actor_username"] = "someone-else"
    report = tenant_restore_drill(Opened(manifest, gzip.compress(json.dumps(forged).encode()), "t"))
    seq = forged["tables"]["audit_entries"][0]["seq"]
    assert f"entry {seq} does not match its hash" in report.audit_problems

    dropped = json.loads(json.dumps(document))
    dropped["audit_leaves"].pop(0)
    report = tenant_restore_drill(
        Opened(manifest, gzip.compress(json.dumps(dropped).encode()), "t")
    )
    assert not report.ok and not report.root_ok

    whole = replace(Opened(manifest, body, "t"), manifest={**manifest, "format": "other"})
    with pytest.raises(BackupInvalid):
        tenant_restore_drill(whole)
