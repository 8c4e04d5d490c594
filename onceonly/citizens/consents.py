"""Consent in the portal: the citizen grants it for one case or for an application item until
revoked (or until a date), revokes it, and sees which agencies asked for it.

Consents are kept by the policy capability (``onceonly.policy.service``), which checks them
when it decides; here they are given and taken back, and each change is written to the
audit log so a clerk's later access can be traced to the consent that allowed it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time

from sqlalchemy.orm import Session

from onceonly.accounts.principal import Principal
from onceonly.audit.log import AuditRecord, EntryFilter, append, find_entries
from onceonly.catalog import service as catalog
from onceonly.citizens.accesses import TAIWAN
from onceonly.counter.evidence import predicate_question
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
class AskedPiece:
    """One piece of evidence a request waiting for consent would fetch, as the audit log
    recorded the refusal: whose dataset (or yes/no question) and under which law."""

    owner: str
    dataset: str
    predicate: str | None
    legal_basis: str


@dataclass(frozen=True)
class ConsentAsk:
    """An agency's request that was refused for want of the citizen's consent."""

    seq: int
    recorded_at: datetime
    agency: str
    badge: str
    application_item: str
    case_id: str
    pieces: tuple[AskedPiece, ...] = ()
    """What the request would fetch once consented to (its newest attempt)."""


@dataclass(frozen=True)
class PieceInWords:
    """What the citizen is asked to consent to, for one piece, as the EU once-only system's
    preview shows it: who holds it, which data (or the yes/no question), and the law."""

    owner: str
    dataset: str
    fields: tuple[str, ...]
    """Field labels; empty when only a yes/no answer is asked."""
    question: str | None
    legal_basis: str
    purpose: str


def sentence(piece: PieceInWords, lang: str) -> str:
    """One piece as one line of a message: what, from whom, under which law, for what."""
    if piece.question:
        what = t(
            "citizens.consents.piece_question",
            lang,
            owner=piece.owner,
            dataset=piece.dataset,
            question=piece.question,
        )
    else:
        what = t(
            "citizens.consents.piece_fields",
            lang,
            owner=piece.owner,
            dataset=piece.dataset,
            fields="、".join(piece.fields),
        )
    basis = t("citizens.consents.piece_basis", lang, basis=piece.legal_basis, purpose=piece.purpose)
    return f"{what}（{basis}）" if lang != "en" else f"{what} ({basis})"


def in_words(session: Session, ask: ConsentAsk, lang: str) -> list[PieceInWords]:
    """The pieces of ``ask`` in words (see :func:`pieces_in_words`)."""
    return pieces_in_words(session, ask.application_item, ask.pieces, lang)


def pieces_in_words(
    session: Session, application_item: str, pieces: Sequence[AskedPiece], lang: str
) -> list[PieceInWords]:
    """Pieces of an item's evidence in words: the item's required evidence says which fields
    and which question with which values (the exchange fetches no more, the rule maybe less).
    The citizen's consent page and the message the counter sends use the same words."""
    item = catalog.get_application_item(session, application_item)
    english = lang == "en"
    words = []
    for piece in pieces:
        requirement = next(
            (
                r
                for r in (item.required_evidence if item else ())
                if r.dataset == piece.dataset and r.predicate == piece.predicate
            ),
            None,
        )
        dataset = catalog.get_dataset(session, piece.dataset)
        owner = catalog.get_agency(session, piece.owner)
        basis = catalog.get_legal_basis(session, piece.legal_basis)
        question = None
        labels: list[str] = []
        if piece.predicate:
            params = requirement.predicate_params if requirement else {}
            question = predicate_question(dataset, piece.predicate, params, lang)
        elif requirement is not None:
            for name in requirement.fields:
                spec = dataset.field(name) if dataset else None
                labels.append((spec.label_en if english else spec.label_zh) if spec else name)
        words.append(
            PieceInWords(
                owner=(owner.name_en if english else owner.name_zh) if owner else piece.owner,
                dataset=(dataset.name_en if english else dataset.name_zh)
                if dataset
                else piece.dataset,
                fields=tuple(labels),
                question=question,
                legal_basis=(basis.citation_en if english else basis.citation_zh)
                if basis
                else piece.legal_basis,
                purpose=(requirement.purpose_zh if requirement and not english else "")
                or ((item.name_en if english else item.name_zh) if item else ""),
            )
        )
    return words


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
    newest: dict[tuple[str, str], str] = {}
    pieces: dict[tuple[str, str], list[AskedPiece]] = {}
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
            newest[key], pieces[key] = entry.request_id, []
        if needs and newest.get(key) == entry.request_id and entry.dataset:
            piece = AskedPiece(
                entry.owner_agency or "", entry.dataset, entry.predicate, entry.legal_basis or ""
            )
            if piece not in pieces[key]:
                pieces[key].append(piece)
    active = [c for c in consents_of(session, national_id) if c.state == "active"]
    return [
        dataclasses.replace(ask, pieces=tuple(reversed(pieces[key])))
        for key, ask in asks.items()
        if not any(
            c.application_item == ask.application_item and c.case_id in (None, ask.case_id)
            for c in active
        )
    ]
