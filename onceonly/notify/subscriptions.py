"""Subscriptions: an agency asks for event kinds under a legal basis; the household-registration
owner (``central.moi_household``) approves, rejects or later revokes, like an access rule.

Only approved subscriptions get outbox rows, and only with the fields they list. Revoking stops
new rows at once; rows already written stay (the event was lawfully sent when it happened).

An approval is a person's decision about *another* agency's request: a data owner approving a
subscription of its own agency would grant itself every citizen's life events, and an agency
system's account (no password, acting only by API tokens an administrator or the node's
operator issues) is no person deciding anything. Both are refused
(:func:`approve_subscription`). Subscriptions approved so before the check existed were
revoked by migration ``0031_improper_approvals_revoked``, which also took what was queued
for them out of the worker's queue and the feed, so an approved subscription is one a
person at the owner approved for another agency (or trusted code, such as the demo's seed).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from onceonly.accounts.users import refuse_system_account
from onceonly.db import as_utc, utcnow
from onceonly.errors import FieldError, Problem, not_found, validation_problem
from onceonly.i18n import both, one_line, t
from onceonly.notify.kinds import EVENT_KINDS, fields_of
from onceonly.notify.models import Subscription
from onceonly.outbound import ALLOWED_HOSTS_ENV, OutboundPolicy

OWNER_AGENCY = "central.moi_household"
"""Owns household-registration data, so it decides who may be told about life events."""
MODES = ("push", "pull")
STATUSES = ("pending", "approved", "rejected", "revoked")


@dataclass(frozen=True)
class SubscriptionRequest:
    agency_code: str
    event_kinds: list[str]
    legal_basis: str
    fields: list[str] = field(default_factory=list)
    mode: str = "push"
    webhook_url: str | None = None
    purpose: str = ""
    jurisdiction: str | None = None


@dataclass(frozen=True)
class SubscriptionView:
    id: int
    agency_code: str
    event_kinds: tuple[str, ...]
    fields: tuple[str, ...]
    jurisdiction: str | None
    legal_basis: str
    purpose: str
    mode: str
    webhook_url: str | None
    status: str
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    revoked_at: datetime | None
    secret: str | None = None
    """Present only where the agency itself needs it (when requested, and for the worker)."""


def _view(sub: Subscription, with_secret: bool = False) -> SubscriptionView:
    return SubscriptionView(
        id=sub.id,
        agency_code=sub.agency_code,
        event_kinds=tuple(sub.event_kinds),
        fields=tuple(sub.fields),
        jurisdiction=sub.jurisdiction,
        legal_basis=sub.legal_basis,
        purpose=sub.purpose,
        mode=sub.mode,
        webhook_url=sub.webhook_url,
        status=sub.status,
        requested_by=sub.requested_by,
        requested_at=as_utc(sub.requested_at),
        decided_by=sub.decided_by,
        decided_at=as_utc(sub.decided_at) if sub.decided_at else None,
        revoked_at=as_utc(sub.revoked_at) if sub.revoked_at else None,
        secret=sub.secret if with_secret else None,
    )


def cleartext_refusal(url: str, policy: OutboundPolicy, lang: str | None = None) -> str | None:
    """Why the platform must not push to ``url`` (in ``lang``; ``None`` for both languages on
    one line): plain ``http://`` to a host the operator has not allowed.

    A push carries national IDs, deaths and addresses, and its HMAC signature proves who sent
    it but hides nothing: over plain HTTP anyone on the path reads it (and could capture it to
    replay). So a webhook must be ``https://``. The exception is a host the operator lists in
    ``ONCEONLY_OUTBOUND_ALLOWED_HOSTS``: such a host is inside the operator's own network
    (loopback, a receiver next to the platform, the demo's and the tests' receivers), which
    is the only place plain HTTP is ever reachable from anyway, since an internal address is
    refused unless listed. Checked when a subscription is asked for, and again at every
    delivery, so a subscription made before the rule existed stops sending in clear text."""
    parts = urlsplit(url)
    if parts.scheme != "http" or policy.allows_host(parts.hostname or ""):
        return None
    if lang is None:
        return one_line(both("notify.error.webhook_https", variable=ALLOWED_HOSTS_ENV))
    return t("notify.error.webhook_https", lang, variable=ALLOWED_HOSTS_ENV)


def check_request(
    request: SubscriptionRequest, lang: str | None = None, policy: OutboundPolicy | None = None
) -> list[FieldError]:
    """Every problem with ``request``, each naming its field. A webhook must be a URL the
    platform may send to (``policy``, by default the operator's allow-list): never one inside
    its own network, and ``https://`` unless the operator allows its host
    (:func:`cleartext_refusal`)."""
    errors: list[FieldError] = []
    if not request.agency_code.strip():
        errors.append(FieldError("agency_code", t("field.missing", lang), "missing"))
    if not request.event_kinds:
        errors.append(FieldError("event_kinds", t("field.missing", lang), "missing"))
    unknown = [k for k in request.event_kinds if k not in EVENT_KINDS]
    if unknown:
        known = ", ".join(EVENT_KINDS)
        errors.append(
            FieldError(
                "event_kinds",
                t("notify.error.unknown_kind", lang, kinds=", ".join(unknown), known=known),
                "unknown",
            )
        )
    extra = sorted(set(request.fields) - fields_of(request.event_kinds))
    if extra and not unknown:
        errors.append(
            FieldError(
                "fields", t("notify.error.unknown_field", lang, fields=", ".join(extra)), "unknown"
            )
        )
    if not request.legal_basis.strip():
        errors.append(FieldError("legal_basis", t("notify.error.legal_basis", lang), "missing"))
    if request.mode not in MODES:
        errors.append(FieldError("mode", t("notify.error.mode", lang), "invalid"))
    elif request.mode == "push":
        url = urlsplit(request.webhook_url or "")
        if url.scheme not in ("http", "https") or not url.netloc:
            errors.append(FieldError("webhook_url", t("notify.error.webhook_url", lang), "invalid"))
        else:
            policy = policy or OutboundPolicy.from_env()
            refused = policy.refusal(request.webhook_url or "", lang)
            if refused:
                errors.append(FieldError("webhook_url", refused, "not-allowed"))
            elif plain := cleartext_refusal(request.webhook_url or "", policy, lang or "zh-TW"):
                errors.append(FieldError("webhook_url", plain, "https-required"))
    return errors


def request_subscription(
    session: Session,
    request: SubscriptionRequest,
    requested_by: str,
    lang: str | None = None,
    policy: OutboundPolicy | None = None,
) -> SubscriptionView:
    """Record a pending subscription; the returned view carries the HMAC secret, which the
    agency needs to verify pushes (it is not shown again in listings)."""
    errors = check_request(request, lang, policy)
    if errors:
        raise validation_problem(errors, lang)
    sub = Subscription(
        agency_code=request.agency_code.strip(),
        event_kinds=list(dict.fromkeys(request.event_kinds)),
        fields=list(dict.fromkeys(request.fields)),
        jurisdiction=request.jurisdiction or None,
        legal_basis=request.legal_basis.strip(),
        purpose=request.purpose,
        mode=request.mode,
        webhook_url=request.webhook_url if request.mode == "push" else None,
        secret=secrets.token_urlsafe(32),
        status="pending",
        requested_by=requested_by,
        requested_at=utcnow(),
    )
    session.add(sub)
    session.flush()
    return _view(sub, with_secret=True)


def _load(session: Session, subscription_id: int, lang: str | None) -> Subscription:
    sub = session.get(Subscription, subscription_id)
    if sub is None:
        raise not_found(t("notify.error.no_subscription", lang, id=subscription_id), lang)
    return sub


def _check_owner(acting_agency: str | None, lang: str | None) -> None:
    if acting_agency is not None and acting_agency != OWNER_AGENCY:
        raise Problem(
            403,
            "not-owner",
            t("problem.forbidden", lang),
            t("notify.error.not_owner", lang, owner=OWNER_AGENCY),
        )


def _check_approver(
    session: Session, sub: Subscription, by: str, acting_agency: str, lang: str | None
) -> None:
    """A 403 in words unless ``by`` (at ``acting_agency``) may approve ``sub``: not for its
    own agency, and not as an agency system's account."""
    if sub.agency_code == acting_agency:
        raise Problem(
            403,
            "own-subscription",
            t("problem.forbidden", lang),
            t("notify.error.own_subscription", lang, agency=acting_agency),
        )
    refuse_system_account(session, by, t("notify.error.system_approver", lang), lang)


def _require_status(sub: Subscription, allowed: tuple[str, ...], lang: str | None) -> None:
    if sub.status not in allowed:
        raise Problem(
            409,
            "subscription-state",
            t("notify.error.state_title", lang),
            t("notify.error.state", lang, status=t(f"notify.status.{sub.status}", lang)),
        )


def _decide(
    session: Session,
    subscription_id: int,
    status: str,
    by: str,
    acting_agency: str | None,
    reason: str,
    lang: str | None,
) -> SubscriptionView:
    _check_owner(acting_agency, lang)
    sub = _load(session, subscription_id, lang)
    if status == "approved" and acting_agency is not None:
        _check_approver(session, sub, by, acting_agency, lang)
    if status == "revoked":
        _require_status(sub, ("approved", "pending"), lang)
        sub.revoked_by, sub.revoked_at, sub.revoke_reason = by, utcnow(), reason or None
    else:
        _require_status(sub, ("pending",), lang)
        sub.decided_by, sub.decided_at, sub.decision_reason = by, utcnow(), reason or None
    sub.status = status
    session.flush()
    return _view(sub)


def approve_subscription(
    session: Session,
    subscription_id: int,
    decided_by: str,
    acting_agency: str | None = OWNER_AGENCY,
    reason: str = "",
    lang: str | None = None,
) -> SubscriptionView:
    """Approve a pending subscription; ``acting_agency`` must be the owner (None: trusted code
    such as the demo seeder), and ``decided_by`` a person there deciding about another
    agency's request: a subscription of ``acting_agency`` itself, or approval by an agency
    system's account, is a 403 in words."""
    return _decide(session, subscription_id, "approved", decided_by, acting_agency, reason, lang)


def reject_subscription(
    session: Session,
    subscription_id: int,
    decided_by: str,
    acting_agency: str | None = OWNER_AGENCY,
    reason: str = "",
    lang: str | None = None,
) -> SubscriptionView:
    return _decide(session, subscription_id, "rejected", decided_by, acting_agency, reason, lang)


def revoke_subscription(
    session: Session,
    subscription_id: int,
    revoked_by: str,
    acting_agency: str | None = OWNER_AGENCY,
    reason: str = "",
    lang: str | None = None,
) -> SubscriptionView:
    """Stop a subscription: no outbox rows for events recorded from now on."""
    return _decide(session, subscription_id, "revoked", revoked_by, acting_agency, reason, lang)


def move_webhook(
    session: Session,
    subscription_id: int,
    webhook_url: str,
    *,
    lang: str | None = None,
    policy: OutboundPolicy | None = None,
) -> SubscriptionView:
    """The agency's receiver moved: later deliveries go to ``webhook_url``, checked as a new
    subscription's would be (422 naming ``webhook_url`` otherwise). This is also how a
    subscription made with plain ``http://`` moves to ``https://``."""
    sub = _load(session, subscription_id, lang)
    policy = policy or OutboundPolicy.from_env()
    refused = policy.refusal(webhook_url, lang)
    if refused:
        raise validation_problem([FieldError("webhook_url", refused, "internal")], lang)
    plain = cleartext_refusal(webhook_url, policy, lang or "zh-TW")
    if plain:
        raise validation_problem([FieldError("webhook_url", plain, "https-required")], lang)
    sub.webhook_url = webhook_url
    session.flush()
    return _view(sub, with_secret=True)


def get_subscription(
    session: Session, subscription_id: int, with_secret: bool = False
) -> SubscriptionView | None:
    sub = session.get(Subscription, subscription_id)
    return _view(sub, with_secret) if sub else None


def list_subscriptions(
    session: Session, agency_code: str | None = None, status: str | None = None
) -> list[SubscriptionView]:
    query = select(Subscription).order_by(Subscription.id)
    if agency_code is not None:
        query = query.where(Subscription.agency_code == agency_code)
    if status is not None:
        query = query.where(Subscription.status == status)
    return [_view(s) for s in session.scalars(query)]


def matching_subscriptions(
    session: Session, kind: str, jurisdiction: str | None
) -> list[Subscription]:
    """Approved subscriptions that want an event of ``kind`` about a citizen of
    ``jurisdiction``, in id order (the order their feed rows are locked in)."""
    query = select(Subscription).where(Subscription.status == "approved").order_by(Subscription.id)
    return [
        s
        for s in session.scalars(query)
        if kind in s.event_kinds and (s.jurisdiction is None or s.jurisdiction == jurisdiction)
    ]


def without_secret(view: SubscriptionView) -> SubscriptionView:
    return replace(view, secret=None)
