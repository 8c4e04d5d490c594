"""Taking in a reported life event: the one service the API, the counter form, the citizen
portal and the CLI all call.

In order: the fields are checked (:func:`~onceonly.notify.events.check_event`), an
``Idempotency-Key`` already used by the caller answers with its first event (or is refused
when the body differs), the event is checked against the household register
(:mod:`onceonly.notify.register`), then recorded with its outbox rows in the caller's
transaction. The answer says which agencies will be told, by name, and gives a reference
number that finds the event again at any counter or in the portal.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from onceonly.catalog import service as catalog
from onceonly.domain.errors import DomainValueError
from onceonly.errors import FieldError, Problem, validation_problem
from onceonly.i18n import t
from onceonly.notify.events import (
    EventView,
    LifeEventIn,
    check_event,
    contact_value,
    event_view,
    lock_subject,
    record_life_event,
    reference_of,
    subject_of,
)
from onceonly.notify.events import report_change as _report_change
from onceonly.notify.kinds import CITIZEN, HOUSEHOLD
from onceonly.notify.models import Delivery, IntakeKey, LifeEvent
from onceonly.notify.notices import Contact, remember_contact
from onceonly.notify.outbox import citizen_events
from onceonly.notify.register import Register, check_register, last_move_out_to
from onceonly.notify.register_log import Look, Reader, logged_reads
from onceonly.notify.relays import queue_relay
from onceonly.notify.subscriptions import matching_subscriptions
from onceonly.providers.base import ProviderUnavailable

REPORTING_AGENCY_KINDS = frozenset({"household_office", "moi_household"})
"""Agency kinds that record household-registration events (戶政事務所, 內政部戶政司)."""
IDEMPOTENCY_KEY_MAX = 200
_REFERENCE = re.compile(r"^\s*(?:TUO-?)?([0-9A-F]{4})-?([0-9A-F]{4})-?([0-9A-F]{4})\s*$", re.I)


@dataclass(frozen=True)
class Recipient:
    """An agency that will be (or was) told, by name."""

    agency_code: str
    name_zh: str
    name_en: str

    def name(self, lang: str | None) -> str:
        return self.name_en if lang == "en" else self.name_zh


@dataclass(frozen=True)
class Accepted:
    event: EventView
    reference: str
    recipients: tuple[Recipient, ...]
    replayed: bool = False
    """True when an earlier call with the same ``Idempotency-Key`` recorded it."""


def reference_prefix(reference: str) -> str | None:
    """The start of the event id a reference number (any case, dashes and the ``TUO`` prefix
    optional) stands for, or ``None`` when it is not one."""
    match = _REFERENCE.match(reference or "")
    if match is None:
        return None
    digits = "".join(match.groups()).lower()
    return f"{digits[:8]}-{digits[8:12]}"


def find_by_reference(session: Session, reference: str) -> LifeEvent | None:
    """The event a reference number names, or ``None`` (also when two events share it)."""
    prefix = reference_prefix(reference)
    if prefix is None:
        return None
    found = list(session.scalars(select(LifeEvent).where(LifeEvent.id.like(f"{prefix}%")).limit(2)))
    return found[0] if len(found) == 1 else None


def recipients_for(session: Session, kind: str, jurisdiction: str | None) -> list[Recipient]:
    """The agencies an event of ``kind`` about a citizen of ``jurisdiction`` would reach now,
    by name, one line per agency."""
    seen: dict[str, Recipient] = {}
    for sub in matching_subscriptions(session, kind, jurisdiction):
        if sub.agency_code not in seen:
            seen[sub.agency_code] = _recipient(session, sub.agency_code)
    return list(seen.values())


def recipients_of(session: Session, event_id: str) -> list[Recipient]:
    """The agencies an already recorded event was sent to."""
    codes = session.scalars(
        select(Delivery.agency_code).where(Delivery.event_id == event_id).order_by(Delivery.id)
    )
    return [_recipient(session, code) for code in dict.fromkeys(codes)]


def _recipient(session: Session, code: str) -> Recipient:
    agency = catalog.get_agency(session, code)
    if agency is None:
        return Recipient(code, code, code)
    return Recipient(code, agency.name_zh, agency.name_en)


def recipient_name(session: Session, code: str, lang: str | None) -> str:
    """An agency's name in words (never its code, unless the catalog does not know it)."""
    return _recipient(session, code).name(lang)


def _body_hash(event: LifeEventIn, contact: Contact | None) -> str:
    body = event.model_dump(mode="json", exclude={"recorded_by", "event_id"})
    body["contact"] = dataclasses.asdict(contact) if contact else None
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _may_report(session: Session, caller: str, source: str, lang: str | None) -> str | None:
    """The caller's jurisdiction when it may report events of ``source``; raises 403."""
    if source == CITIZEN:
        return None
    agency = catalog.get_agency(session, caller)
    if agency is None or agency.kind not in REPORTING_AGENCY_KINDS:
        raise Problem(
            403,
            "not-a-reporting-office",
            t("problem.forbidden", lang),
            t("notify.error.not_reporting_office", lang, agency=caller),
        )
    return agency.jurisdiction


def _checked(
    session: Session,
    event: LifeEventIn,
    register: Register,
    caller: str,
    source: str,
    lang: str | None,
    relayed: bool = False,
) -> LifeEventIn:
    """The event with its jurisdiction set from the register, or the refusal raised.
    ``relayed``: another node sent it, which the federation listener has authenticated and
    found serving the city the person moved to (:func:`record_relayed_move`)."""
    errors = check_event(event, source, lang)
    if errors:
        raise validation_problem(errors, lang)
    office = None if relayed else _may_report(session, caller, source, lang)
    try:
        result = check_register(
            session, register, event.kind, subject_of(event.national_id), event.payload, lang
        )
    except ProviderUnavailable as exc:
        raise _register_unavailable(exc, lang) from exc
    if result.errors:
        raise validation_problem(result.errors, lang)
    jurisdiction = result.jurisdiction
    if event.kind == "move_in" and office not in (None, "central"):
        jurisdiction = office
    return event.model_copy(update={"jurisdiction": jurisdiction})


def _register_unavailable(exc: ProviderUnavailable, lang: str | None) -> Problem:
    return Problem(
        503,
        "register-unavailable",
        t("notify.error.register_unavailable_title", lang),
        t("notify.error.register_unavailable", lang),
        retry_after=exc.retry_after,
    )


def preview_event(
    session: Session,
    event: LifeEventIn,
    register: Register,
    caller: str,
    *,
    source: str = HOUSEHOLD,
    lang: str | None = None,
    reader: Reader | None = None,
) -> list[Recipient]:
    """Every check :func:`report_event` makes, without recording: who would be told.

    Nothing about the event is recorded, but the look at the register is: each person asked
    about gets a ``notify.register_check`` entry naming ``reader`` (the signed-in account;
    by default what ``caller`` says), committed even when the preview is refused
    (:mod:`onceonly.notify.register_log` says why a preview about a citizen of another city
    is allowed, logged, and how the address check avoids being an oracle)."""
    who = reader or Reader.of_caller(caller, event.recorded_by)
    look = Look(event.kind, dict(event.payload), preview=True)
    with logged_reads(session, register, who, look) as logged:
        checked = _checked(session, event, logged, caller, source, lang)
        return recipients_for(session, checked.kind, checked.jurisdiction)


def checked_contact(
    email: str | None, mobile: str | None, language: str | None, lang: str | None
) -> Contact | None:
    """Whom to tell, checked like a case's contacts (fields ``contact_email``,
    ``contact_mobile``); ``None`` when neither is given."""
    errors: list[FieldError] = []
    values: dict[str, str | None] = {"contact_email": None, "contact_mobile": None}
    for name, value in (("contact_email", email), ("contact_mobile", mobile)):
        if value and value.strip():
            try:
                values[name] = contact_value(name, value.strip())
            except DomainValueError as exc:
                errors.append(FieldError(name, exc.message(lang or "zh-TW"), "invalid"))
    if errors:
        raise validation_problem(errors, lang)
    if not values["contact_email"] and not values["contact_mobile"]:
        return None
    return Contact(values["contact_email"], values["contact_mobile"], language or lang or "zh-TW")


def report_event(
    session: Session,
    event: LifeEventIn,
    register: Register,
    caller: str,
    *,
    source: str = HOUSEHOLD,
    idempotency_key: str | None = None,
    contact: Contact | None = None,
    lang: str | None = None,
    relayed: bool = False,
    served_here: Collection[str] | None = None,
    reader: Reader | None = None,
) -> Accepted:
    """Check and record a reported event in ``session``'s transaction (the caller commits).

    Every person the register is asked about is written to the audit log as read by
    ``reader`` (the signed-in account; by default what ``caller`` says), with the event when
    it is recorded, and committed on its own when the register's answer refuses the event
    (:func:`~onceonly.notify.register_log.logged_reads`).

    ``served_here``: this federation node's own cities (``None`` stand-alone); a 遷入 from any
    other city is queued for that city's node (:mod:`onceonly.notify.relays`).

    ``source`` is ``household_registration`` (``caller`` is then the reporting office's agency
    code, which must be a household-registration office) or ``citizen`` (the citizen's own
    report; ``caller`` names them). ``caller`` is the namespace of ``idempotency_key``.
    """
    digest = _body_hash(event, contact)
    errors = check_event(event, source, lang)
    if errors:
        raise validation_problem(errors, lang)
    who = reader or Reader.of_caller(caller, event.recorded_by)
    look = Look(event.kind, dict(event.payload), preview=False)
    with logged_reads(session, register, who, look) as logged:
        return _report(
            session,
            event,
            logged,
            caller,
            digest=digest,
            source=source,
            idempotency_key=idempotency_key,
            contact=contact,
            lang=lang,
            relayed=relayed,
            served_here=served_here,
        )


def _report(
    session: Session,
    event: LifeEventIn,
    register: Register,
    caller: str,
    *,
    digest: str,
    source: str,
    idempotency_key: str | None,
    contact: Contact | None,
    lang: str | None,
    relayed: bool,
    served_here: Collection[str] | None,
) -> Accepted:
    lock_subject(session, subject_of(event.national_id))
    if idempotency_key is not None:
        key = idempotency_key.strip()
        if not key or len(key) > IDEMPOTENCY_KEY_MAX:
            raise validation_problem(
                [
                    FieldError(
                        "Idempotency-Key",
                        t("notify.error.idempotency_key", lang, max=IDEMPOTENCY_KEY_MAX),
                    )
                ],
                lang,
            )
        earlier = session.scalar(
            select(IntakeKey).where(IntakeKey.caller == caller, IntakeKey.key == key)
        )
        if earlier is not None:
            if earlier.body_hash != digest:
                raise _key_reused(lang)
            row = session.get(LifeEvent, earlier.event_id)
            if row is not None:
                deliveries = recipients_of(session, row.id)
                return Accepted(
                    event_view(row, len(deliveries)),
                    reference_of(row.id),
                    tuple(deliveries),
                    replayed=True,
                )
    checked = _checked(session, event, register, caller, source, lang, relayed)
    if source == CITIZEN:
        view = _report_change(
            session,
            checked.national_id,
            checked.kind,
            checked.payload,
            jurisdiction=checked.jurisdiction,
            occurred_at=checked.occurred_at,
            lang=lang,
        )
    else:
        view = record_life_event(session, checked, lang)
        if served_here is not None:
            queue_relay(session, view, served_here)
    remember_contact(session, view.id, contact)
    if idempotency_key is not None:
        try:
            with session.begin_nested():
                session.add(
                    IntakeKey(
                        caller=caller,
                        key=idempotency_key.strip(),
                        body_hash=digest,
                        event_id=view.id,
                    )
                )
                session.flush()
        except IntegrityError as error:
            # the same key sent at once about another person (a lock per person does not
            # hold them apart): the later one is refused like any reuse, not a 500
            raise _key_reused(lang) from error
    return Accepted(view, reference_of(view.id), tuple(recipients_of(session, view.id)))


class RelayedMove(BaseModel):
    """The 遷出 half of a move, as the node of the city moved to sends it
    (:func:`onceonly.notify.relays.relay_body`)."""

    model_config = ConfigDict(extra="forbid")

    origin_event_id: str = Field(max_length=36)
    origin_reference: str = Field(max_length=20)
    national_id: str = Field(max_length=12)
    arrived_in: str = Field(max_length=120)
    from_jurisdiction: str = Field(max_length=120)
    occurred_at: AwareDatetime
    moved_in_on: str = Field(max_length=40)
    old_address: str | None = Field(default=None, max_length=200)


def record_relayed_move(
    session: Session, register: Register, move: RelayedMove, sender: str, lang: str | None
) -> Accepted:
    """Record the 遷出 half of a move another node registered, for this node's agencies.

    Checked like one an office reports: the person is registered here, alive, at the old
    address when one is given (else the registered address is the one left). Sent again
    after a lost answer, it answers with the event first recorded (the 遷入's id is the key);
    and when this city's office already recorded the 遷出 to that city, with that one."""
    try:
        subject = subject_of(move.national_id)
    except DomainValueError as exc:
        reason = exc.message(lang or "zh-TW")
        raise validation_problem([FieldError("national_id", reason, "invalid")], lang) from exc
    # the node's look at the register is logged like an office's, refused or not
    look = Look("move_out", {"to_jurisdiction": move.arrived_in}, preview=False)
    with logged_reads(session, register, Reader(f"node:{sender}"), look) as logged:
        return _record_relayed(session, logged, move, sender, subject, lang)


def _record_relayed(
    session: Session,
    register: Register,
    move: RelayedMove,
    sender: str,
    subject: str,
    lang: str | None,
) -> Accepted:
    lock_subject(session, subject)  # an office recording the same 遷出 now waits, then sees it
    earlier = last_move_out_to(session, subject, move.arrived_in)
    if earlier is not None and earlier.jurisdiction == move.from_jurisdiction:
        caller = f"node:{sender}"
        known = session.scalar(
            select(IntakeKey.id).where(
                IntakeKey.caller == caller, IntakeKey.key == move.origin_event_id
            )
        )
        if known is None:  # so the sender can ask how this one stands (relayed_move_status)
            session.add(
                IntakeKey(
                    caller=caller, key=move.origin_event_id, body_hash="", event_id=earlier.id
                )
            )
        deliveries = recipients_of(session, earlier.id)
        return Accepted(
            event_view(earlier, len(deliveries)), reference_of(earlier.id), tuple(deliveries), True
        )
    old_address = move.old_address
    if not old_address:
        try:
            person = register.person(subject)
        except ProviderUnavailable as exc:
            raise _register_unavailable(exc, lang) from exc
        old_address = person.address if person is not None else None
    payload = {
        "moved_out_on": move.moved_in_on,
        "to_jurisdiction": move.arrived_in,
        **({"old_address": old_address} if old_address else {}),
    }
    event = LifeEventIn(
        kind="move_out",
        national_id=move.national_id,
        payload=payload,
        occurred_at=move.occurred_at,
        recorded_by=f"node:{sender} {move.origin_reference}",
    )
    accepted = report_event(
        session,
        event,
        register,
        f"node:{sender}",
        idempotency_key=move.origin_event_id,
        lang=lang,
        relayed=True,
    )
    if accepted.event.jurisdiction != move.from_jurisdiction:
        reason = t("notify.register.not_from_there", lang)
        raise validation_problem([FieldError("from_jurisdiction", reason, "mismatch")], lang)
    return accepted


def relayed_move_status(
    session: Session, sender: str, origin_event_id: str
) -> dict[str, Any] | None:
    """How the agencies here stand on the 遷出 recorded for ``sender``'s 遷入
    ``origin_event_id``; ``None`` when ``sender`` relayed no such move (a node reads only
    its own)."""
    key = session.scalar(
        select(IntakeKey).where(
            IntakeKey.caller == f"node:{sender}", IntakeKey.key == origin_event_id
        )
    )
    event = session.get(LifeEvent, key.event_id) if key is not None else None
    if event is None:
        return None
    found = [s for s in citizen_events(session, event.national_id) if s.id == event.id]
    agencies = [
        {
            "name_zh": _recipient(session, a.agency_code).name_zh,
            "name_en": _recipient(session, a.agency_code).name_en,
            "status": a.status,
        }
        for a in (found[0].agencies if found else ())
    ]
    return {
        "reference": reference_of(event.id),
        "agencies": agencies,
        "done": all(a["status"] in ("processed", "failed") for a in agencies),
    }


def _key_reused(lang: str | None) -> Problem:
    reason = t("notify.error.idempotency_reused", lang)
    return Problem(
        422,
        "idempotency-key-reused",
        t("problem.validation", lang),
        reason,
        [FieldError("Idempotency-Key", reason, "reused")],
    )


def describe(accepted: Accepted, lang: str | None) -> dict[str, Any]:
    """The answer as JSON: the event, its reference and who will be told, in words."""
    e = accepted.event
    return {
        "id": e.id,
        "reference": accepted.reference,
        "kind": e.kind,
        "kind_name": t(f"notify.kind.{e.kind}", lang),
        "seq": e.seq,
        "jurisdiction": e.jurisdiction,
        "occurred_at": e.occurred_at.isoformat(),
        "recorded_at": e.recorded_at.isoformat(),
        "replayed": accepted.replayed,
        "recipients": [
            {"agency_code": r.agency_code, "name": r.name(lang)} for r in accepted.recipients
        ],
    }
