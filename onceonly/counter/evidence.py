"""What the clerk reads about each piece of evidence: transcripts checked against the published
keys with catalog labels, and, for what could not be fetched, why in plain words and what to do.

Built only from other capabilities' public functions (cases views, catalog, policy ``decide``,
exchange transcript checks); nothing here touches their tables.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from onceonly.cases.guards import agency_name
from onceonly.cases.schemas import CaseEvidenceView, CaseView, PaperView
from onceonly.catalog import service as catalog
from onceonly.citizens.previews import PreviewKey, current_preview
from onceonly.config import Settings
from onceonly.exchange.pdf import OwnerKeys, PdfUnavailable, why_no_pdf
from onceonly.exchange.transcript import TranscriptInvalid, VerifiedTranscript, inspect_transcript
from onceonly.i18n import catalogue, t
from onceonly.i18n.punctuation import bracketed, join_words, mark
from onceonly.policy.service import Requester, decide

NO_RULE_CODES = frozenset(
    {
        "no_rule",
        "rule_revoked",
        "rule_rejected",
        "rule_expired",
        "rule_not_yet_valid",
        "predicate_not_allowed",
        "fields_not_allowed",
    }
)
"""Denials a new (or renewed) rule request to the owner can cure."""


@dataclass(frozen=True)
class Cell:
    """A field of a transcript for people: its catalog label and its value, or a table when the
    value is a list of records (parcels, buildings)."""

    label: str
    value: str = ""
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class TranscriptCard:
    index: int
    owner: str
    owner_name: str
    kid: str
    valid: bool
    problem: str | None
    cells: tuple[Cell, ...]
    sentence: str | None
    issued_at: datetime | None
    expires_at: datetime | None
    legal_basis: str
    claims_case: str | None
    request_id: str
    jti: str
    no_pdf: str | None = None
    """Why this node cannot make the transcript's signed PDF, in words; ``None`` when it can."""


@dataclass(frozen=True)
class AnswerGroup:
    """Transcripts that say the same thing (the same answer or fields and the same signature
    verdict), shown once with every office that gave it: twelve land offices' "no record" is
    one answer, not twelve, while each office's transcript stays reachable."""

    transcripts: tuple[TranscriptCard, ...]

    @property
    def first(self) -> TranscriptCard:
        return self.transcripts[0]

    @property
    def owner_names(self) -> list[str]:
        """The offices that gave this answer, in words, each once, in the order asked."""
        return list(dict.fromkeys(t.owner_name for t in self.transcripts if t.owner_name))

    @property
    def expires_at(self) -> datetime | None:
        """The earliest expiry: the answer holds only while every transcript of it does."""
        return min((t.expires_at for t in self.transcripts if t.expires_at), default=None)


def group_answers(transcripts: Sequence[TranscriptCard]) -> list[AnswerGroup]:
    """Identical answers together, in the order first given; a transcript whose claims could
    not be read says nothing comparable and stands alone."""
    groups: dict[object, list[TranscriptCard]] = {}
    for card in transcripts:
        key: object = (
            (card.valid, card.problem, card.sentence, card.cells)
            if card.owner
            else ("unread", card.index)
        )
        groups.setdefault(key, []).append(card)
    return [AnswerGroup(tuple(cards)) for cards in groups.values()]


@dataclass
class EvidenceCard:
    evidence_type: str
    title: str
    dataset_name: str
    paper_name: str
    status: str
    """``online``, ``paper``, ``expired``, ``not_fetched`` or the exchange's status."""
    category: str
    """What the clerk must do: ``none``, ``fetch``, ``request_rule``, ``rule_pending``,
    ``consent``, ``retry``, ``bring_paper``, ``check``, ``operator`` (a certificate: only the
    operators can help, retrying cannot)."""
    reason: str | None
    advice: str | None
    owners: list[str]
    owner_names: list[str]
    transcripts: list[TranscriptCard] = field(default_factory=list)
    paper: PaperView | None = None
    withheld: list[str] = field(default_factory=list)
    held_by: str | None = None
    """The agency holding the content, in words, when the clerk's agency may not see it."""
    fetched_by: str | None = None
    fetched_at: datetime | None = None

    @property
    def satisfied(self) -> bool:
        return self.status in ("online", "paper")

    @property
    def answers(self) -> list[AnswerGroup]:
        """The transcripts with identical answers grouped, as pages and printouts show them."""
        return group_answers(self.transcripts)


def _pick(lang: str, zh: str, en: str) -> str:
    return en if lang == "en" else zh


def _code_label(spec: catalog.FieldView | None, value: Any, lang: str) -> str | None:
    if spec is None or not spec.code_list or not isinstance(value, str):
        return None
    for entry in spec.code_list:
        if entry.code == value:
            return _pick(lang, entry.label_zh, entry.label_en)
    return None


def format_value(value: Any, lang: str, spec: catalog.FieldView | None = None) -> str:
    """One value as text: code lists spelled out, numbers grouped, yes/no in words."""
    label = _code_label(spec, value, lang)
    if label is not None:
        return label
    if isinstance(value, bool):
        return t("transcript.answer.yes" if value else "transcript.answer.no", lang)
    if value is None or value == "":
        return "—"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10000 else str(value)
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    if isinstance(value, list):
        return join_words((format_value(item, lang, spec) for item in value), lang)
    if isinstance(value, dict):
        return mark("comma", lang).join(
            f"{k}{mark('colon', lang)}{format_value(v, lang)}" for k, v in value.items()
        )
    return str(value)


def _label(spec: catalog.FieldView | None, name: str, lang: str) -> str:
    return _pick(lang, spec.label_zh, spec.label_en) if spec else name


def cells(
    dataset: catalog.DatasetView | None,
    fields: Mapping[str, Any],
    lang: str,
    places: Mapping[str, str] | None = None,
) -> list[Cell]:
    """The fields of a record with their catalog labels, lists of records as small tables;
    ``places`` names the jurisdiction codes that records carry."""
    names = places or {}

    def show(key: str, value: Any, spec: catalog.FieldView | None) -> str:
        if key == "jurisdiction" and isinstance(value, str) and value in names:
            return names[value]
        return format_value(value, lang, spec)

    result = []
    for name, value in fields.items():
        spec = dataset.field(name) if dataset else None
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            keys = list(dict.fromkeys(k for row in value for k in row))
            subs = [dataset.field(f"{name}.{k}") if dataset else None for k in keys]
            result.append(
                Cell(
                    label=_label(spec, name, lang),
                    columns=tuple(_label(s, k, lang) for s, k in zip(subs, keys, strict=True)),
                    rows=tuple(
                        tuple(show(k, row.get(k), s) for s, k in zip(subs, keys, strict=True))
                        for row in value
                    ),
                )
            )
        else:
            result.append(Cell(_label(spec, name, lang), show(name, value, spec)))
    return result


def predicate_question(
    dataset: catalog.DatasetView | None, code: str, params: Mapping[str, Any], lang: str
) -> str:
    """The predicate as a plain question, e.g. 「家戶平均每人每月所得低於 19,013 元」."""
    key = f"counter.predicate.{code}"
    if key in catalogue():
        shown = {k: format_value(v, lang) for k, v in params.items()}
        try:
            return t(key, lang, **shown)
        except KeyError:
            pass
    predicate = dataset.predicate(code) if dataset else None
    name = _pick(lang, predicate.name_zh, predicate.name_en) if predicate else code
    if not params:
        return name
    labels = (
        {p.name: _pick(lang, p.label_zh, p.label_en) for p in predicate.params} if predicate else {}
    )
    shown_params = mark("comma", lang).join(
        f"{labels.get(k, k)} {format_value(v, lang)}" for k, v in params.items()
    )
    return f"{name}{bracketed(shown_params, lang)}"


def answer_detail(detail: Mapping[str, Any], lang: str) -> str:
    """What a predicate's answer says beyond yes/no, in words: the line and degree of a
    kinship, the heirs by relationship and order, and whether the owner held every record."""
    parts: list[str] = []
    line = detail.get("line")
    if line == "spouse":
        parts.append(t("counter.kin_answer.spouse", lang))
    elif line in ("blood", "affinity"):
        kind = "lineal" if detail.get("lineal") else "collateral"
        parts.append(t(f"counter.kin_answer.{kind}_{line}", lang, degree=detail.get("degree", "")))
    heirs = detail.get("heirs")
    if isinstance(heirs, list) and heirs:
        counted: dict[tuple[str, Any], int] = {}
        for heir in heirs:
            if isinstance(heir, Mapping):
                key = (str(heir.get("relationship", "")), heir.get("order"))
                counted[key] = counted.get(key, 0) + 1
        listed = [
            t(f"counter.kin_answer.heir.{role}", lang, order=order or "", count=count)
            for (role, order), count in counted.items()
        ]
        parts.append(t("counter.kin_answer.heirs", lang, heirs=join_words(listed, lang)))
    if detail.get("complete") is False:
        parts.append(t("counter.kin_answer.incomplete", lang))
    return mark("semicolon", lang).join(parts)


def transcript_card(
    session: Session,
    settings: Settings,
    index: int,
    token: str,
    jwks: Mapping[str, Any],
    lang: str,
    now: datetime | None = None,
    known: OwnerKeys | None = None,
) -> TranscriptCard:
    """A stored transcript checked against the published keys now, for people, with why no
    PDF of it can be made here, if none can. ``known``: the owners' keys this page has looked
    up already (:func:`onceonly.exchange.pdf.why_no_pdf`), one for all its cards."""
    try:
        verified: VerifiedTranscript | None = inspect_transcript(token, jwks, now)
        problem = verified.problem if verified else None
    except TranscriptInvalid as error:
        verified, problem = None, error
    if verified is None:
        reason = problem.reason(lang) if problem else ""
        return TranscriptCard(
            index, "", "", "", False, reason or None, (), None, None, None, "", None, "", "",
            no_pdf=str(PdfUnavailable("invalid", lang, reason=reason)),
        )  # fmt: skip
    claims = verified.claims
    dataset = catalog.get_dataset(session, claims.dataset)
    sentence = None
    shown: list[Cell] = []
    if claims.predicate is not None:
        question = predicate_question(
            dataset, str(claims.predicate["code"]), claims.predicate.get("params") or {}, lang
        )
        answer = t(
            "transcript.answer.yes" if claims.predicate.get("answer") else "transcript.answer.no",
            lang,
        )
        sentence = t("transcript.predicate.sentence", lang, question=question, answer=answer)
        said = answer_detail(claims.predicate.get("detail") or {}, lang)
        if said:
            sentence = f"{sentence}{mark('semicolon', lang)}{said}"
    else:
        places = {
            j.code: _pick(lang, j.name_zh, j.name_en) for j in catalog.list_jurisdictions(session)
        }
        shown = cells(dataset, claims.fields or {}, lang, places)
    basis = catalog.get_legal_basis(session, claims.legal_basis)
    return TranscriptCard(
        index=index,
        owner=claims.issuer,
        owner_name=agency_name(session, claims.issuer, lang),
        kid=verified.kid,
        valid=verified.valid,
        problem=problem.reason(lang) if problem else None,
        cells=tuple(shown),
        sentence=sentence,
        issued_at=claims.issued_at,
        expires_at=claims.expires_at,
        legal_basis=_pick(lang, basis.citation_zh, basis.citation_en)
        if basis
        else claims.legal_basis,
        claims_case=claims.case_id,
        request_id=claims.request_id,
        jti=claims.jti or "",
        no_pdf=why_no_pdf(session, settings, verified, lang, known),
    )


def _denial_code(
    session: Session, case: CaseView, row: CaseEvidenceView, requirement: catalog.EvidenceView
) -> tuple[str, str | None]:
    """Ask policy again, read-only, why the piece is refused now: (code, refusing owner)."""
    agency = catalog.get_agency(session, case.agency)
    if agency is None or case.subject is None:  # a service request's case has no evidence
        return "no_rule", None
    requester = Requester(agency.code, agency.kind, agency.jurisdiction)
    for owner in row.owners:
        decision = decide(
            session,
            requester=requester,
            owner_agency=owner,
            dataset=row.dataset,
            application_item=case.application_item,
            subject=case.subject,
            case_id=case.number,
            fields=requirement.fields,
            predicate=requirement.predicate,
        )
        if not decision.allowed:
            return decision.code, owner
        if decision.preview_required:
            key = PreviewKey(
                case.subject, case.number, case.application_item, row.evidence_type, agency.code
            )
            held = current_preview(session, key)
            if held is not None and held.status == "declined":
                return "preview_declined", owner
    return "allowed", None


def classify(
    session: Session,
    case: CaseView,
    row: CaseEvidenceView,
    requirement: catalog.EvidenceView | None,
    lang: str,
    paper_only: bool = False,
) -> tuple[str, str, str | None, list[str]]:
    """(status, category, advice, owners to name) for one piece of evidence; ``paper_only``
    when its dataset is digitised nowhere, so paper is offered before any fetch is tried."""
    paper = _pick(lang, row.paper_name_zh, row.paper_name_en)
    if row.satisfied_by == "online":
        return "online", "none", None, row.owners
    if row.satisfied_by == "paper":
        return "paper", "none", t("counter.advice.paper_attached", lang), row.owners
    if row.needs_refresh:
        return "expired", "fetch", t("counter.advice.expired", lang), row.owners
    status = row.status or "not_fetched"
    if paper_only and status in ("not_fetched", "not_digitised"):
        advice = t("counter.advice.paper_only", lang, paper=paper)
        return "not_digitised", "bring_paper", advice, []
    if status == "not_fetched" and catalog.asks_for_another_person(session, row.evidence_type):
        # fetching everything cannot ask it: the clerk names the other person below
        return status, "fetch", t("counter.advice.ask_other", lang), row.owners
    if status == "not_fetched":
        return status, "fetch", t("counter.advice.not_fetched", lang), row.owners
    if row.cause:
        # Checked before the rules and the retry hint: a partner's revoked certificate is
        # neither "no rule" nor "try again in a minute".
        advice = t(f"counter.advice.{row.cause}", lang, paper=paper)
        return status, "operator", advice, row.owners
    if status == "denied":
        code, owner = ("no_rule", None)
        if requirement is not None:
            code, owner = _denial_code(session, case, row, requirement)
        owners = [owner] if owner else row.owners
        names = join_words((agency_name(session, o, lang) for o in owners), lang)
        if code == "needs_consent":
            return status, "consent", t("counter.advice.consent", lang, paper=paper), owners
        if code == "rule_pending":
            return status, "rule_pending", t("counter.advice.pending", lang, owner=names), owners
        if code == "preview_declined":
            return (
                status,
                "bring_paper",
                t("counter.advice.preview_declined", lang, paper=paper),
                [],
            )
        if code == "allowed":
            return status, "fetch", t("counter.advice.now_allowed", lang), owners
        return (
            status,
            "request_rule",
            t("counter.advice.no_rule", lang, owner=names, paper=paper),
            owners,
        )
    if status == "awaiting_preview":
        return status, "preview", t("counter.advice.awaiting_preview", lang), row.owners
    names = join_words((agency_name(session, o, lang) for o in row.owners), lang) or "—"
    if status in ("unavailable", "failed"):
        minutes = max(1, (row.retry_after or 60) // 60)
        return status, "retry", t("counter.advice.retry", lang, minutes=minutes), row.owners
    if status == "not_digitised":
        return status, "bring_paper", t("counter.advice.not_digitised", lang, paper=paper), []
    if status == "not_found":
        return status, "check", t("counter.advice.not_found", lang, paper=paper, owner=names), []
    return status, "bring_paper", t("counter.advice.bring_paper", lang, paper=paper), row.owners


def evidence_cards(
    session: Session,
    settings: Settings,
    case: CaseView,
    lang: str,
    verification_keys: Callable[[], Mapping[str, Any]],
    now: datetime | None = None,
) -> list[EvidenceCard]:
    """Every required piece of the case as the case page shows it; transcripts are checked
    against ``verification_keys()`` (asked only when the case holds any)."""
    item = catalog.get_application_item(session, case.application_item)
    requirements = {(r.predicate or r.dataset): r for r in item.required_evidence} if item else {}
    jwks = verification_keys() if any(e.transcripts for e in case.evidence) else {}
    known: OwnerKeys = {}  # each owner's key, looked up once for the whole page
    cards = []
    for row in case.evidence:
        requirement = requirements.get(row.evidence_type)
        dataset = catalog.get_dataset(session, row.dataset)
        dataset_name = _pick(lang, dataset.name_zh, dataset.name_en) if dataset else row.dataset
        title = dataset_name
        if requirement and requirement.predicate:
            title = predicate_question(
                dataset, requirement.predicate, requirement.predicate_params, lang
            )
        paper_only = dataset is not None and not dataset.digitised
        status, category, advice, owners = classify(
            session, case, row, requirement, lang, paper_only
        )
        reason = _pick(lang, row.reason_zh or "", row.reason_en or "") or None
        cards.append(
            EvidenceCard(
                evidence_type=row.evidence_type,
                title=title,
                dataset_name=dataset_name,
                paper_name=_pick(lang, row.paper_name_zh, row.paper_name_en),
                status=status,
                category=category,
                reason=reason if status not in ("online", "not_fetched") else None,
                advice=advice,
                owners=owners,
                owner_names=[agency_name(session, o, lang) for o in owners],
                transcripts=[
                    transcript_card(session, settings, i, tr.jws, jwks, lang, now, known)
                    for i, tr in enumerate(row.transcripts)
                ]
                if row.status == "issued"
                else [],
                paper=row.paper,
                withheld=[
                    _label(dataset.field(name) if dataset else None, name, lang)
                    for name in row.withheld_fields
                ],
                held_by=agency_name(session, row.held_by, lang) if row.held_by else None,
                fetched_by=row.fetched_by,
                fetched_at=row.fetched_at,
            )
        )
    return cards
