"""What a clerk asked, read and checked: the subject (a citizen, or a parcel, building or
house number) and one :class:`Piece` per evidence type, with the parameters its predicate
is asked with once the owner's rule is known."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from onceonly.catalog import service as catalog
from onceonly.domain import subjects
from onceonly.domain.errors import DomainValueError
from onceonly.domain.national_id import validate_national_id
from onceonly.errors import FieldError, Problem, validation_problem
from onceonly.exchange import fanout
from onceonly.exchange.display import evidence_names
from onceonly.exchange.schemas import (
    EvidenceAsk,
    EvidenceRequestIn,
    IssuedTranscript,
    SubjectIn,
)
from onceonly.i18n import both, normalise_language, t
from onceonly.i18n.punctuation import join_words
from onceonly.policy import predicates
from onceonly.policy.service import Decision
from onceonly.providers.base import PredicateAnswer, SourceRecord


@dataclass
class Piece:
    """One asked evidence type as it moves through the steps."""

    evidence_type: str
    dataset: catalog.DatasetView
    predicate: str | None
    params: dict[str, Any]
    """What the owner is asked with: settled by :func:`settle_params` (rule, catalog)."""
    fields: tuple[str, ...]
    legal_basis: str | None
    paper_name: str | None
    status: str = "issued"
    reason: dict[str, str] = field(default_factory=dict)
    owners: list[str] = field(default_factory=list)
    decisions: dict[str, Decision] = field(default_factory=dict)
    outcomes: dict[str, SourceRecord | PredicateAnswer | None] = field(default_factory=dict)
    transcripts: list[IssuedTranscript] = field(default_factory=list)
    answer: bool | None = None
    detail: dict[str, Any] | None = None
    """What a predicate's answer says beyond yes/no (``PredicateAnswer.detail``)."""
    record: dict[str, Any] | None = None
    withheld: tuple[str, ...] = ()
    retry_after: int | None = None
    cause: str | None = None
    """Set from another node's answer: only an operator can help (``EvidenceResult.cause``)."""
    routed_by_residence: bool = False
    remote_owner: str | None = None
    elsewhere: fanout.Elsewhere | None = None
    """Searched in every jurisdiction on a federation node: the other nodes asked as well."""
    preview_action: str | None = None
    """``hold`` (fetch, then keep for the citizen) or ``release`` (what the citizen approved)."""
    preview_id: int | None = None
    where: str = "evidence[0]"
    """The ask's place in the request body, to name a refused parameter's field."""
    asked_params: dict[str, Any] = field(default_factory=dict)
    statutory: dict[str, Any] = field(default_factory=dict)
    declared: dict[str, str] = field(default_factory=dict)
    """The predicate's parameters as the catalog declares them: name -> type."""

    def stop(self, status: str, key: str, retry_after: int | None = None, **params: Any) -> None:
        self.status = status
        self.reason = both(key, **params)
        self.retry_after = retry_after

    def refuse(self, refusal: fanout.Refusal) -> None:
        self.status = refusal.status
        self.reason = refusal.reason
        self.retry_after = refusal.retry_after
        self.cause = refusal.cause

    @property
    def live(self) -> bool:
        return self.status == "issued"

    @property
    def rule_ids(self) -> list[int]:
        return [d.rule_id for d in self.decisions.values() if d.rule_id is not None]


def parse_subject(value: str, lang: str | None) -> str:
    try:
        return validate_national_id(value)
    except DomainValueError as exc:
        reason = exc.message_en if lang == "en" else exc.message_zh
        raise validation_problem([FieldError("subject", reason, exc.code)], lang) from exc


_THING_FIELDS: dict[str, tuple[str, ...]] = {
    "parcel": ("jurisdiction", "section", "parcel_no"),
    "building": ("jurisdiction", "section", "building_no"),
}


def parse_thing(value: SubjectIn, lang: str | None) -> subjects.Subject:
    """The parcel, building or house number a request names, each part checked; a missing
    or malformed part is a 422 naming ``subject.<part>``."""
    missing = [
        FieldError(f"subject.{name}", t("exchange.subject.missing", lang, field=name), "missing")
        for name in _THING_FIELDS.get(value.kind, ())
        if not getattr(value, name)
    ]
    if value.kind == "address" and not (value.address or (value.city and value.number)):
        missing.append(
            FieldError("subject.address", t("exchange.subject.no_address", lang), "missing")
        )
    if missing:
        raise validation_problem(missing, lang)
    try:
        if value.kind == "parcel":
            return subjects.parcel(
                value.jurisdiction or "", value.section or "", value.parcel_no or ""
            )
        if value.kind == "building":
            return subjects.building(
                value.jurisdiction or "", value.section or "", value.building_no or ""
            )
        return subjects.house_number(value.written_address())
    except DomainValueError as exc:
        reason = exc.message_en if lang == "en" else exc.message_zh
        name = f"subject.{exc.field or value.kind}"
        raise validation_problem([FieldError(name, reason, exc.code)], lang) from exc


def asked_pieces(
    session: Session,
    cat: catalog.CachedCatalog,
    item: catalog.ApplicationItemView,
    body: EvidenceRequestIn,
    lang: str | None,
    about: subjects.Subject | None = None,
) -> list[Piece]:
    """Resolve each ask to the dataset (and predicate) it names and to the item's requirement
    for it; asking for nothing means everything the item requires. Parameters a caller sends
    must be ones the catalog declares for the predicate, of its type (else 422 naming the
    field); which values apply is settled once the owner's rule is known. About a parcel,
    building or house number only the registers answering by it may be asked (by default,
    those of the item's evidence)."""
    required = list(item.required_evidence)
    answering = subjects.DATASETS.get(about.kind, ()) if about else None
    asks = body.evidence or [
        EvidenceAsk(type=r.predicate or r.dataset, fields=list(r.fields or ()) or None)
        for r in required
        if (answering is None or (r.dataset in answering and not r.predicate))
        and not _names_another(session, cat, r.dataset, r.predicate)
    ]
    if not asks:
        raise validation_problem(
            [FieldError("subject", t("exchange.subject.item_not_by_thing", lang), "not_by_thing")],
            lang,
        )
    pieces = []
    errors: list[FieldError] = []
    language = normalise_language(lang)
    for position, ask in enumerate(asks):
        dataset_code = cat.dataset_of_evidence_type(session, ask.type)
        dataset = cat.dataset(session, dataset_code) if dataset_code else None
        if dataset is None:
            raise Problem(
                404,
                "unknown-evidence-type",
                t("exchange.unknown_evidence_type", lang),
                t("exchange.unknown_evidence_type_detail", lang, code=ask.type),
            )
        named = [r for r in required if ask.type in (r.dataset, r.predicate)]
        requirement = next((r for r in named if (r.predicate or r.dataset) == ask.type), None)
        requirement = requirement or next(iter(named), None)  # the dataset a predicate reads
        predicate = ask.type if ask.type != dataset.code else None
        # the item's values for its predicate; the dataset the predicate reads takes none
        statutory: dict[str, Any] = {}
        if requirement is not None and requirement.predicate == predicate:
            statutory = dict(requirement.predicate_params or {})
        default_fields = tuple(requirement.fields or ()) if requirement else ()
        if not default_fields and predicate is None:  # nothing names any: the rule says which
            default_fields = tuple(f.name for f in dataset.fields)
        spec = dataset.predicate(predicate) if predicate else None
        declared = {p.name: p.type for p in spec.params} if spec else {}
        where = f"evidence[{position}]"
        words = evidence_names(dataset, predicate)  # the piece as people read it
        if answering is not None and (predicate or dataset.code not in answering):
            errors.append(
                FieldError(
                    f"{where}.type",
                    t("exchange.subject.not_answered_by", lang, evidence=words[language]),
                    "not_by_thing",
                )
            )
        asked, refused = predicates.check_asked(declared, ask.params, where, lang)
        errors += refused
        piece = Piece(
            evidence_type=ask.type,
            dataset=dataset,
            predicate=predicate,
            params=statutory | asked,
            fields=tuple(ask.fields) if ask.fields else default_fields,
            legal_basis=requirement.legal_basis if requirement else None,
            paper_name=requirement.paper_name_zh if requirement else None,
            where=where,
            asked_params=asked,
            statutory=statutory,
            declared=declared,
        )
        if requirement is None:
            item_names = {"zh-TW": item.name_zh, "en": item.name_en}
            piece.stop("not_required", "exchange.not_required", evidence=words, item=item_names)
        pieces.append(piece)
    if errors:
        raise validation_problem(errors, lang)
    return pieces


def _names_another(
    session: Session, cat: catalog.CachedCatalog, dataset: str, predicate: str | None
) -> bool:
    """The predicate is about a second person the caller must name (``national_id`` params,
    e.g. the other of a kinship): asked only when asked for, never by default."""
    return bool(predicate) and catalog.names_another_person(
        cat.dataset(session, dataset), predicate
    )


def settle_params(pieces: list[Piece], lang: str | None) -> None:
    """Each allowed predicate is asked with the parameters its owners' rules and the catalog
    set (:func:`onceonly.policy.predicates.settle`); a caller's value outside them is a 422
    naming the field, before anything is fetched. A piece answered by another node or an
    owner's gateway, whose rules this node does not hold, takes the catalog's statutory
    values: that owner checks them again, but a caller's own value is refused here, in words,
    rather than coming back as the owner's refusal (which reads as "owner unavailable").

    Where several current rules of an owner cover the predicate (:attr:`Decision.options`),
    a value any one of them allows may be asked
    (:func:`onceonly.policy.predicates.settle_among`), and the piece then rests on that rule:
    its decision (rule, legal basis, reason) replaces the newest rule's in ``piece.decisions``,
    so the audit entry and the transcript cite a rule that allows the values asked."""
    errors: list[FieldError] = []
    for piece in pieces:
        if not piece.predicate or not piece.live:
            continue
        settled_each: list[dict[str, Any]] = []
        used: dict[str, Decision] = {}
        refused: list[FieldError] = []
        if not piece.decisions:  # another node or a gateway: the catalog's values only
            settled, refused = predicates.settle(
                piece.declared, piece.statutory, {}, piece.asked_params, piece.where, lang
            )
            settled_each.append(settled)
        for owner, decision in piece.decisions.items():
            options = decision.options or (decision,)
            index, settled, refused = predicates.settle_among(
                piece.declared,
                piece.statutory,
                [option.param_choices for option in options],
                piece.asked_params,
                piece.where,
                lang,
            )
            if refused or index is None:
                break
            used[owner] = options[index]
            settled_each.append(settled)
        if refused:
            errors += refused
            continue
        differing = _differing(piece, settled_each, lang)
        if differing is not None:
            errors.append(differing)
            continue
        piece.params = settled_each[0]
        piece.decisions.update(used)
        if used:
            first = next(iter(piece.decisions.values()))
            piece.reason = {"zh-TW": first.reason_zh, "en": first.reason_en}
    if errors:
        raise validation_problem(errors, lang)


def _differing(
    piece: Piece, settled_each: list[dict[str, Any]], lang: str | None
) -> FieldError | None:
    """Every owner of a piece is asked one question: when the values each owner's rule would
    choose differ (one lists a year the catalog does not set), the clerk names the value, which
    each owner's rule must then allow. The last owner's choice used to be sent to them all,
    so an owner was asked with a value its own rule never approved."""
    first = settled_each[0]
    for name, value in first.items():
        values = [settled.get(name) for settled in settled_each]
        if not all(predicates.same_value(other, value) for other in values):
            spec = piece.dataset.predicate(piece.predicate) if piece.predicate else None
            param = next((p for p in spec.params if p.name == name), None) if spec else None
            words = {"zh-TW": param.label_zh, "en": param.label_en} if param else {}
            label = words.get(normalise_language(lang), name)
            shown = join_words(dict.fromkeys(str(v) for v in values), lang)
            reason = t("exchange.params.owners_differ", lang, param=label, values=shown)
            return FieldError(f"{piece.where}.params.{name}", reason, "owners_differ")
    return None
