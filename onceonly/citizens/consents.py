"""Consent in the portal: the citizen grants it for one case or for an application item until
revoked (or until a date), revokes it, and sees which agencies asked for it.

Consents are kept by the policy capability (``onceonly.policy.service``), which checks them
when it decides; here they are given and taken back, and each change is written to the
audit log so a clerk's later access can be traced to the consent that allowed it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from sqlalchemy.orm import Session

from onceonly.accounts.service import Principal
from onceonly.audit.log import AuditRecord, EntryFilter, append, find_entries
from onceonly.catalog import service as catalog
from onceonly.citizens.accesses import TAIWAN
from onceonly.db import as_utc, utcnow
from onceonly.errors import FieldError, Problem, validation_problem
from onceonly.i18n import t
from onceonly.policy import service as policy

CASE_PATTERN_MAX = 40


@dataclass(frozen=True)
class ConsentRow:
    id: int
    application_item: str
    case_id: str | None
    granted_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    state: str
    """``active``, ``revoked`` or ``expired``."""


@dataclass(frozen=True)
class ConsentAsk:
    """An agency's request that was refused for want of the citizen's consent."""

    seq: int
    recorded_at: datetime
    agency: str
    badge: str
    application_item: str
    case_id: str


def consents_of(session: Session, national_id: str) -> list[ConsentRow]:
    now = utcnow()
    rows = []
    for c in policy.list_consents(session, national_id):
        expires = as_utc(c.expires_at) if c.expires_at else None
        revoked = as_utc(c.revoked_at) if c.revoked_at else None
        state = "revoked" if revoked else "expired" if expires and expires <= now else "active"
        rows.append(
            ConsentRow(
                c.id, c.application_item, c.case_id, as_utc(c.granted_at), expires, revoked, state
            )
        )
    return rows


def _log(
    session: Session, citizen: Principal, national_id: str, event: str, **details: object
) -> None:
    key = f"citizens.{event}"
    append(
        session,
        AuditRecord(
            event=event,
            actor_username=citizen.username,
            actor_role="citizen",
            subject=national_id,
            application_item=str(details.get("application_item") or "") or None,
            case_id=str(details.get("case_id") or "") or None,
            reason_zh=t(key, "zh-TW", **details),
            reason_en=t(key, "en", **details),
            details={"credential": citizen.credential, **details},
        ),
    )


def grant(
    session: Session,
    citizen: Principal,
    national_id: str,
    application_item: str,
    case_id: str | None,
    until: date | None,
    lang: str | None,
) -> int:
    """Consent to ``application_item`` for one case (``case_id``) or standing (None), until the
    end of ``until`` (Taiwan time) or until revoked."""
    errors = []
    if catalog.get_application_item(session, application_item) is None:
        errors.append(FieldError("application_item", t("citizens.consent.unknown_item", lang)))
    case_id = (case_id or "").strip() or None
    if case_id and len(case_id) > CASE_PATTERN_MAX:
        errors.append(FieldError("case_id", t("citizens.consent.bad_case", lang)))
    expires = None
    if until is not None:
        expires = datetime.combine(until, time.max, TAIWAN)
        if expires <= utcnow():
            errors.append(FieldError("until", t("citizens.consent.past", lang)))
    if errors:
        raise validation_problem(errors, lang)
    consent_id = policy.grant_consent(session, national_id, application_item, case_id, expires)
    _log(
        session,
        citizen,
        national_id,
        "consent.granted",
        consent_id=consent_id,
        application_item=application_item,
        case_id=case_id or "",
        until=until.isoformat() if until else "",
    )
    return consent_id


def revoke(
    session: Session, citizen: Principal, national_id: str, consent_id: int, lang: str | None
) -> None:
    row = next((c for c in consents_of(session, national_id) if c.id == consent_id), None)
    if row is None or not policy.revoke_consent(session, consent_id, national_id):
        raise Problem(404, "not-found", t("citizens.consent.not_found", lang, id=consent_id))
    session.flush()
    _log(
        session,
        citizen,
        national_id,
        "consent.revoked",
        consent_id=consent_id,
        application_item=row.application_item,
        case_id=row.case_id or "",
    )


def open_asks(session: Session, national_id: str, limit: int = 200) -> list[ConsentAsk]:
    """Recent requests refused because the rule needs consent the citizen has not given (and
    still has not: asks the current consents cover are left out)."""
    entries, _ = find_entries(session, EntryFilter(subject=national_id), limit=limit)
    asks: dict[tuple[str, str], ConsentAsk] = {}
    rules: dict[int, bool] = {}
    for entry in entries:
        if entry.decision != "denied" or not entry.application_item or not entry.case_id:
            continue
        rule_ids = [int(r) for r in entry.details.get("rule_ids") or []]
        needs = False
        for rule_id in rule_ids:
            if rule_id not in rules:
                rule = policy.get_rule(session, rule_id)
                rules[rule_id] = bool(rule and rule.consent_required)
            needs = needs or rules[rule_id]
        key = (entry.application_item, entry.case_id)
        if needs and key not in asks:
            asks[key] = ConsentAsk(
                entry.seq,
                entry.recorded_at,
                entry.actor_agency or "",
                entry.actor_badge or "",
                entry.application_item,
                entry.case_id,
            )
    active = [c for c in consents_of(session, national_id) if c.state == "active"]
    return [
        ask
        for ask in asks.values()
        if not any(
            c.application_item == ask.application_item and c.case_id in (None, ask.case_id)
            for c in active
        )
    ]
