"""Evidence requests: policy decision, fetch at the owner, minimise, sign, audit, return.

The order is the product's promise: nothing is fetched without an approved rule of the owner,
nothing leaves beyond what the rule allows, and no transcript is handed out before its audit
entry is durably written. Every asked piece ends in one status a clerk can act on: issued,
denied (which rule, or why none), unavailable (retry later), not found, not digitised (bring
paper), or not required by the application item.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from onceonly import cache_versions, observability
from onceonly.audit.group_commit import GroupCommitter
from onceonly.audit.log import AuditRecord
from onceonly.catalog import service as catalog
from onceonly.config import Settings
from onceonly.db import transaction, utcnow
from onceonly.domain import subjects
from onceonly.domain.errors import DomainValueError
from onceonly.domain.national_id import mask_national_id, validate_national_id
from onceonly.errors import FieldError, Problem, validation_problem
from onceonly.exchange import fanout, keys
from onceonly.exchange.display import transcript_display
from onceonly.exchange.fanout import ConnectRemote, RemoteNodes
from onceonly.exchange.key_cache import KeyCache
from onceonly.exchange.minimise import minimise
from onceonly.exchange.owner_calls import Asking
from onceonly.exchange.schemas import (
    EvidenceAsk,
    EvidenceRequestIn,
    EvidenceResponse,
    EvidenceResult,
    IssuedTranscript,
    Reason,
    SubjectIn,
)
from onceonly.exchange.transcript import TranscriptClaims, sign_transcript
from onceonly.i18n import both, t
from onceonly.policy import alerts, predicates
from onceonly.policy import previews as preview_policy
from onceonly.policy.previews import PreviewBook, PreviewKey
from onceonly.policy.purpose import CaseLookup, check_case
from onceonly.policy.rule_cache import RuleCache
from onceonly.policy.service import Decision, Requester, RuleSource, decide
from onceonly.providers.base import PredicateAnswer, ProviderUnavailable, SourceRecord
from onceonly.providers.registry import ProviderDirectory, load_providers

RESIDENCE_DATASET = "household_registration"
"""Where a citizen is registered decides which local owner holds their local records."""


@dataclass(frozen=True)
class Actor:
    """Who asks: the signed-in clerk (or agency system) and their agency."""

    username: str
    badge: str
    role: str
    agency: str
    credential: Mapping[str, Any] | None = None
    """The session or token used and who issued it (``Principal.credential``); recorded in
    every audit entry of the request."""

    def audit_details(self) -> dict[str, Any]:
        """What the actor adds to an audit entry's ``details``: the credential, when known."""
        return {"credential": dict(self.credential)} if self.credential else {}


class ActorOf(Protocol):
    """Says who asks (or refuses them with a 401 or 403 :class:`Problem`), given the cache
    counters this request read; ``release`` hands back the connection the request holds,
    for a lookup that needs one of its own."""

    def __call__(
        self, versions: cache_versions.Versions, release: Callable[[], object]
    ) -> Actor: ...


@dataclass
class Exchange:
    """What evidence requests need at run time; one per app, shared by every request."""

    settings: Settings
    sessions: sessionmaker[Session]
    providers: ProviderDirectory
    catalog: catalog.CachedCatalog = field(default_factory=catalog.CachedCatalog)
    rules: RuleCache = field(default_factory=RuleCache)
    signing_keys: KeyCache = field(default_factory=KeyCache)
    audit: GroupCommitter | None = None
    pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(32, thread_name_prefix="owner")
    )
    remote: RemoteNodes | None = None
    """Other nodes, on a federation node (wired by the app factory through
    ``app.state.connect_remote``, see :func:`exchange_for`); ``None`` stand-alone."""
    cases: CaseLookup | None = None
    """Where a request's case is checked (the cases capability, wired by the app factory);
    without it no clerk's request is answered."""
    previews: PreviewBook | None = None
    """Where evidence waits for the citizen's preview (the citizen portal, wired by the app
    factory); without it a piece whose rule demands a preview is not handed out."""

    def __post_init__(self) -> None:
        if self.audit is None:
            self.audit = GroupCommitter(self.sessions)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.providers.close()
        if self.remote is not None:
            self.remote.close()


_MAKING_EXCHANGE = threading.Lock()


def exchange_for(app_state: Any) -> Exchange:
    """The app's exchange (``app.state.exchange``), made on first use so the app starts even
    before demo data exists; shared by the evidence API, the cases API and the counter. Made
    once: the first requests of a busy start would otherwise each make one, and all but the
    last would keep their owner threads and peer connections open, unclosed."""
    exchange: Exchange | None = getattr(app_state, "exchange", None)
    if exchange is not None:
        return exchange
    with _MAKING_EXCHANGE:
        return _make_exchange(app_state)


def _make_exchange(app_state: Any) -> Exchange:
    exchange: Exchange | None = getattr(app_state, "exchange", None)
    if exchange is None:
        settings = app_state.settings
        providers = load_providers(settings.registries_dir)
        connect: ConnectRemote | None = getattr(app_state, "connect_remote", None)
        exchange = Exchange(
            settings=settings,
            sessions=app_state.sessions,
            providers=providers,
            cases=getattr(app_state, "case_lookup", None),
            previews=getattr(app_state, "preview_book", None),
            remote=connect(settings, set(providers.owners())) if connect else None,
        )
        app_state.exchange = exchange
    return exchange


def transcript_keys(exchange: Exchange, session: Session) -> dict[str, Any]:
    """The JWK Set a transcript this node handed out may be verified with: this node's
    published keys and, on a federation node, the other nodes' keys from the directory's
    snapshot (evidence fetched across nodes is signed there)."""
    members = list(keys.published_jwks(session)["keys"])
    if exchange.remote is not None:
        members.extend(exchange.remote.peer_keys())
    return {"keys": members}


@dataclass
class _Piece:
    """One asked evidence type as it moves through the steps."""

    evidence_type: str
    dataset: catalog.DatasetView
    predicate: str | None
    params: dict[str, Any]
    """What the owner is asked with: settled by :func:`_settle_params` (rule, catalog)."""
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


def _subject(value: str, lang: str | None) -> str:
    try:
        return validate_national_id(value)
    except DomainValueError as exc:
        reason = exc.message_en if lang == "en" else exc.message_zh
        raise validation_problem([FieldError("subject", reason, exc.code)], lang) from exc


_THING_FIELDS: dict[str, tuple[str, ...]] = {
    "parcel": ("jurisdiction", "section", "parcel_no"),
    "building": ("jurisdiction", "section", "building_no"),
}


def _thing(value: SubjectIn, lang: str | None) -> subjects.Subject:
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


def request_evidence(
    exchange: Exchange,
    actor: Actor | ActorOf,
    body: EvidenceRequestIn,
    lang: str | None = None,
    request_id: str | None = None,
    *,
    origin_node: str | None = None,
    versions: cache_versions.Versions | None = None,
    about: subjects.Subject | None = None,
) -> EvidenceResponse:
    """Handle one evidence request (``POST /api/v1/evidence-requests``) for one clerk;
    ``request_id`` is given when another node forwarded it, so both logs share it.

    The request must belong to an open case of the clerk's agency for this item and citizen
    (:func:`onceonly.policy.purpose.check_case`). ``origin_node`` names the node that
    forwarded the request: that node checked its own case, which this node cannot see.
    ``actor`` may be an :class:`ActorOf`: a bearer token resolved here, before anything
    the caller sent is read, against the cache counters this request reads.
    ``versions``: the cache counters, when the caller has read them for this request (a
    request forwarded by another node); read here otherwise.
    ``about``: the parcel, building or house number another node forwarded a request about
    (``body.subject`` is then the case's citizen); a clerk names it in ``body.subject``."""
    # else the HTTP request's id (the proxy's X-Request-ID): its log lines and these entries
    request_id = request_id or observability.current_request_id() or str(uuid.uuid4())
    with exchange.sessions() as session:
        if versions is None:  # first: the caches below are this current
            versions = cache_versions.read(session)
        if not isinstance(actor, Actor):
            actor = actor(versions, session.rollback)  # before anything they sent is read
        if isinstance(body.subject, SubjectIn):
            about = _thing(body.subject, lang)
            subject = ""  # the case's citizen, read from the case below
        else:
            subject = _subject(body.subject, lang)
        rules = exchange.rules.source(session, versions)
        cat = exchange.catalog.check(session, versions.get(cache_versions.CATALOG))
        item = cat.application_item(session, body.application_item)
        if item is None:
            raise Problem(
                404,
                "unknown-application-item",
                t("exchange.unknown_item", lang),
                t("exchange.unknown_item_detail", lang, code=body.application_item),
            )
        if origin_node is None:
            case = check_case(
                exchange.cases,
                session,
                agency=actor.agency,
                case_id=body.case_id,
                application_item=item.code,
                subject=subject if about is None else None,
                lang=lang,
            )
            body = body.model_copy(update={"case_id": case.number})
            subject = subject or case.subject
        agency = cat.agency(session, actor.agency)
        if agency is None:
            raise Problem(
                403, "unknown-agency", t("exchange.unknown_agency", lang, agency=actor.agency)
            )
        requester = Requester(agency.code, agency.kind, agency.jurisdiction)
        pieces = _pieces(session, cat, item, body, lang, about)
        residence = _residence(exchange, session, cat, pieces, subject)
        for piece in pieces:
            if piece.live and about is not None:
                _route_thing(session, cat, piece, about)
            elif piece.live:
                _route(session, cat, exchange.providers, piece, residence, exchange.remote)
            hosted_elsewhere = exchange.remote and any(map(exchange.remote.is_remote, piece.owners))
            if piece.live and piece.elsewhere is None and hosted_elsewhere:
                piece.remote_owner = piece.owners[0]
            if piece.live and not piece.remote_owner and piece.owners:
                _decide(session, cat, piece, requester, item.code, subject, body.case_id, rules)
        _settle_params(pieces, lang)
        keys_of = {
            id(p): PreviewKey(subject, body.case_id, item.code, p.evidence_type, actor.agency)
            for p in pieces
        }
        for piece in pieces:
            if piece.live and any(d.preview_required for d in piece.decisions.values()):
                _check_preview(exchange.previews, session, piece, keys_of[id(piece)])
        _watch_predicates(exchange, session, pieces, subject, item.code, actor)

    asked = about.key if about else subject
    _fetch(exchange, pieces, subject, body.case_id, item.code, actor, request_id, about)
    _sign(exchange, cat, pieces, actor, item.code, asked, body.case_id, request_id, versions)
    _apply_previews(exchange, pieces, keys_of, actor, request_id)
    _audit(exchange, pieces, actor, item.code, subject, body.case_id, request_id, about)
    return _respond(pieces, request_id, body.case_id, item.code, subject, lang, about)


def _pieces(
    session: Session,
    cat: catalog.CachedCatalog,
    item: catalog.ApplicationItemView,
    body: EvidenceRequestIn,
    lang: str | None,
    about: subjects.Subject | None = None,
) -> list[_Piece]:
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
        if answering is not None and (predicate or dataset.code not in answering):
            errors.append(
                FieldError(
                    f"{where}.type",
                    t("exchange.subject.not_answered_by", lang, evidence=ask.type),
                    "not_by_thing",
                )
            )
        asked, refused = predicates.check_asked(declared, ask.params, where, lang)
        errors += refused
        piece = _Piece(
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
            piece.stop("not_required", "exchange.not_required", evidence=ask.type, item=item.code)
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


def _residence(
    exchange: Exchange,
    session: Session,
    cat: catalog.CachedCatalog,
    pieces: list[_Piece],
    subject: str,
) -> str | ProviderUnavailable | None:
    """The subject's registered jurisdiction, asked of the household-registration owner only
    when some dataset is held where the citizen lives. It routes the request and is never
    returned; the audit entries of the pieces it routed say so."""
    if not any(p.live and p.dataset.owner_scope == "residence" for p in pieces):
        return None
    registry = cat.dataset(session, RESIDENCE_DATASET)
    owner = registry.owner_agency if registry else None
    provider = exchange.providers.for_owner(owner) if owner else None
    if provider is None:
        return ProviderUnavailable(
            owner or RESIDENCE_DATASET, both("connectors.unavailable.not_connected"), 3600
        )
    asking = Asking(exchange.pool)
    future = asking.ask(provider, provider.fetch, RESIDENCE_DATASET, subject, ["jurisdiction"])
    asking.answer_local()
    try:
        record = future.result(timeout=exchange.settings.provider_timeout_seconds)
    except FutureTimeout:
        return ProviderUnavailable(provider.owner, both("call_failure.timeout"))
    except ProviderUnavailable as exc:
        return exc
    return str(record.fields.get("jurisdiction")) if record else None


def _route(
    session: Session,
    cat: catalog.CachedCatalog,
    providers: ProviderDirectory,
    piece: _Piece,
    residence: str | ProviderUnavailable | None,
    remote: RemoteNodes | None = None,
) -> None:
    """Which owners hold the piece: the central owner, the owner where the citizen lives, or
    every owner of the dataset connected to this node (land is searched everywhere), plus,
    on a federation node, every other node holding it (:mod:`onceonly.exchange.fanout`)."""
    dataset = piece.dataset
    if dataset.owner_scope == "central":
        piece.owners = [dataset.owner_agency or ""]
        return
    if dataset.owner_scope == "residence":
        if isinstance(residence, ProviderUnavailable):
            piece.stop(
                "unavailable",
                "exchange.owner_unavailable",
                residence.retry_after,
                owner=residence.owner,
                reason=residence.reason,
            )
            return
        if residence is None:
            piece.stop("not_found", "exchange.no_residence")
            return
        if not dataset.is_digitised_in(residence):
            piece.stop("not_digitised", "exchange.not_digitised", jurisdiction=residence)
            return
        try:
            piece.owners = [cat.owner_agency_for(session, dataset.code, residence)]
        except catalog.CatalogNotFound:
            piece.stop("not_found", "exchange.no_local_owner", jurisdiction=residence)
            return
        piece.routed_by_residence = True
        return
    if dataset.not_digitised_in or not dataset.digitised:
        places = ", ".join(sorted(dataset.not_digitised_in)) or "*"
        piece.stop("not_digitised", "exchange.not_digitised", jurisdiction=places)
        return
    piece.owners = providers.owners_of(dataset.code)
    located = fanout.locate(remote, dataset.code) if remote is not None else None
    if isinstance(located, fanout.Refusal):
        piece.refuse(located)
        return
    piece.elsewhere = located
    if not piece.owners and piece.elsewhere is None:
        piece.stop("unavailable", "exchange.owner_not_connected", 3600, owner=dataset.code)


def _route_thing(
    session: Session, cat: catalog.CachedCatalog, piece: _Piece, about: subjects.Subject
) -> None:
    """A parcel or building goes to the land office of its jurisdiction (of today: a former
    county's code goes to its successor), a house number to that of its city; on another
    node the request is forwarded there like any piece whose owner is elsewhere."""
    jurisdiction = about.jurisdiction or _jurisdiction_of_city(session, about.value)
    if jurisdiction is None:
        piece.stop("not_found", "exchange.subject.no_jurisdiction", subject=about.label())
        return
    try:
        piece.owners = [cat.owner_agency_for(session, piece.dataset.code, jurisdiction)]
    except catalog.CatalogNotFound:
        piece.stop("not_found", "exchange.no_local_owner", jurisdiction=jurisdiction)


def _jurisdiction_of_city(session: Session, address: str) -> str | None:
    """The jurisdiction whose name an address (as it reads today) begins with."""
    for jurisdiction in catalog.list_jurisdictions(session):
        if jurisdiction.merged_into is None and address.startswith(jurisdiction.name_zh):
            return jurisdiction.code
    return None


def _decide(
    session: Session,
    cat: catalog.CachedCatalog,
    piece: _Piece,
    requester: Requester,
    item_code: str,
    subject: str,
    case_id: str,
    rules: RuleSource | None = None,
) -> None:
    """Every owner holding the piece must allow it; the first refusal stops the piece."""
    for owner in piece.owners:
        decision = decide(
            session,
            requester=requester,
            owner_agency=owner,
            dataset=piece.dataset.code,
            application_item=item_code,
            subject=subject,
            case_id=case_id,
            fields=piece.fields,
            predicate=piece.predicate,
            names=lambda code, lang: cat.name(session, code, lang),
            rules=rules,
        )
        piece.decisions[owner] = decision
        if not decision.allowed:
            piece.status = "denied"
            piece.reason = {"zh-TW": decision.reason_zh, "en": decision.reason_en}
            return
    first = piece.decisions[piece.owners[0]]
    piece.reason = {"zh-TW": first.reason_zh, "en": first.reason_en}
    piece.withheld = first.withheld


def _settle_params(pieces: list[_Piece], lang: str | None) -> None:
    """Each allowed predicate is asked with the parameters its owners' rules and the catalog
    set (:func:`onceonly.policy.predicates.settle`); a caller's value outside them is a 422
    naming the field, before anything is fetched. A piece answered by another node or an
    owner's gateway, whose rules this node does not hold, takes the catalog's statutory
    values: that owner checks them again, but a caller's own value is refused here, in words,
    rather than coming back as the owner's refusal (which reads as "owner unavailable")."""
    errors: list[FieldError] = []
    for piece in pieces:
        if not piece.predicate or not piece.live:
            continue
        choices = [d.param_choices for d in piece.decisions.values()] or [{}]
        for choice in choices:
            settled, refused = predicates.settle(
                piece.declared, piece.statutory, choice, piece.asked_params, piece.where, lang
            )
            if refused:
                errors += refused
                break
            piece.params = settled
    if errors:
        raise validation_problem(errors, lang)


def _watch_predicates(
    exchange: Exchange,
    session: Session,
    pieces: list[_Piece],
    subject: str,
    item_code: str,
    actor: Actor,
) -> None:
    """Tell the owners' auditors when one citizen is asked about with varied parameters
    (:mod:`onceonly.policy.alerts`); only predicates that take parameters can leak so. The
    asks are read in the request's ``session``; a transaction is opened only to raise."""
    asks = [
        alerts.Ask(owner, piece.dataset.code, piece.predicate, piece.params)
        for piece in pieces
        if piece.predicate and piece.declared and piece.live and not piece.remote_owner
        for owner in piece.owners
    ]
    if asks and alerts.makes_a_pattern(session, subject, asks):
        with transaction(exchange.sessions) as writing:
            alerts.note_asks(writing, subject, actor.agency, item_code, asks)


def _check_preview(
    book: PreviewBook | None, session: Session, piece: _Piece, key: PreviewKey
) -> None:
    """A rule asks for the citizen's preview: the policy says what to do now
    (:func:`onceonly.policy.previews.verdict`); here the piece is set to do it."""
    verdict = preview_policy.verdict(book, session, key)
    piece.preview_id = verdict.preview_id
    if verdict.action == "hold":
        piece.preview_action = "hold"
    elif verdict.action == "release":
        piece.status = "held"
        piece.preview_action = "release"
    else:
        piece.status = "awaiting_preview" if verdict.action == "waiting" else "denied"
        piece.reason = both(verdict.reason_key, **(verdict.params or {}))


def _apply_previews(
    exchange: Exchange,
    pieces: list[_Piece],
    keys_of: dict[int, PreviewKey],
    actor: Actor,
    request_id: str,
) -> None:
    """Hold freshly signed evidence for the citizen, or hand out what they approved."""
    if not any(p.preview_action for p in pieces):
        return
    book = exchange.previews
    assert book is not None  # a preview action is only ever set with a book to keep it
    with transaction(exchange.sessions) as session:
        for piece in pieces:
            if piece.preview_action == "release" and piece.preview_id is not None:
                try:
                    held = book.release(session, piece.preview_id)
                except LookupError:
                    piece.stop("failed", "citizens.preview.race", id=f"P-{piece.preview_id}")
                    continue
                piece.status = "issued"
                piece.record = held.get("fields")
                piece.answer = held.get("answer")
                piece.withheld = tuple(held.get("withheld") or ())
                piece.transcripts = [IssuedTranscript(**tr) for tr in held.get("transcripts", [])]
                piece.reason = both("citizens.preview.released", id=f"P-{piece.preview_id}")
            elif piece.preview_action == "hold" and piece.live:
                state = book.hold(
                    session,
                    keys_of[id(piece)],
                    dataset=piece.dataset.code,
                    requester_badge=actor.badge,
                    request_id=request_id,
                    held={
                        "fields": piece.record,
                        "answer": piece.answer,
                        "predicate": piece.predicate,
                        "withheld": list(piece.withheld),
                        "owners": piece.owners,
                        "transcripts": [tr.model_dump() for tr in piece.transcripts],
                    },
                )
                piece.preview_id = state.id
                piece.stop("awaiting_preview", "citizens.preview.waiting", id=state.label)
                piece.record, piece.answer, piece.transcripts = None, None, []


def _fetch(
    exchange: Exchange,
    pieces: list[_Piece],
    subject: str,
    case_id: str,
    item_code: str,
    actor: Actor,
    request_id: str,
    about: subjects.Subject | None = None,
) -> None:
    """Every permitted (piece, owner) pair is asked at once, under one deadline: a slow owner
    costs the clerk its timeout once, not once per piece. A piece owned on another node is
    asked of that node as a whole; a piece searched in every jurisdiction is asked of this
    node's offices and, once each, of every other node holding it (``node`` below)."""
    pending: list[tuple[_Piece, str, Future[Any], str | None]] = []
    asking = Asking(exchange.pool)
    for piece in pieces:
        if not piece.live:
            continue
        if exchange.remote and (piece.remote_owner or piece.elsewhere):
            forwarded = _forwarded(piece, subject, case_id, item_code, actor, request_id)
            if about is not None:
                forwarded["about"] = about.key
            if piece.remote_owner:
                call_remote: Future[Any] = exchange.pool.submit(
                    exchange.remote.forward, piece.remote_owner, **forwarded
                )
                pending.append((piece, piece.remote_owner, call_remote, None))
                continue
            if piece.elsewhere:
                pending += [
                    (piece, office, call_node, holder)
                    for holder, office, call_node in fanout.ask_each(
                        exchange.pool, exchange.remote, piece.elsewhere, forwarded
                    )
                ]
        for owner in piece.owners:
            provider = exchange.providers.for_owner(owner)
            if provider is None:
                piece.stop("unavailable", "exchange.owner_not_connected", 3600, owner=owner)
                break
            if piece.predicate:
                call: Future[Any] = asking.ask(
                    provider,
                    provider.evaluate,
                    piece.dataset.code,
                    piece.predicate,
                    subject,
                    piece.params,
                )
            else:
                allowed = list(piece.decisions[owner].fields)
                key = about.key if about else subject
                call = asking.ask(provider, provider.fetch, piece.dataset.code, key, allowed)
            pending.append((piece, owner, call, None))
    deadline = time.monotonic() + exchange.settings.provider_timeout_seconds
    asking.answer_local()  # while the owners asked through the pool work
    for piece, owner, call, node in pending:
        try:
            outcome = call.result(timeout=max(0.0, deadline - time.monotonic()))
            if piece.remote_owner:
                _adopt(piece, outcome)
            elif node is not None and piece.elsewhere is not None:
                piece.elsewhere.results[node] = outcome
            else:
                piece.outcomes[owner] = outcome
        except FutureTimeout:
            call.cancel()
            observability.CONNECTOR_ERRORS.labels(owner, "timeout").inc()
            piece.stop(
                "unavailable",
                "exchange.owner_unavailable",
                30,
                owner=owner,
                reason=both("call_failure.timeout"),
            )
        except ProviderUnavailable as exc:
            observability.CONNECTOR_ERRORS.labels(owner, "unavailable").inc()
            piece.stop(
                "unavailable",
                "exchange.owner_unavailable",
                exc.retry_after,
                owner=owner,
                reason=exc.reason,
            )
        except (LookupError, ValueError) as exc:
            observability.CONNECTOR_ERRORS.labels(owner, "refused").inc()
            piece.stop("failed", "exchange.owner_refused", owner=owner, reason=str(exc))
    for piece in pieces:
        if piece.live and not piece.remote_owner:
            _combine(piece)
        if piece.elsewhere is not None:  # named only now: fetched above from this node's own
            piece.owners = piece.owners + piece.elsewhere.offices()


def _forwarded(
    piece: _Piece, subject: str, case_id: str, item_code: str, actor: Actor, request_id: str
) -> dict[str, Any]:
    """What another node is sent for ``piece`` (the arguments of ``RemoteNodes.forward``)."""
    return {
        "dataset": piece.dataset.code,
        "ask": EvidenceAsk(
            type=piece.evidence_type, params=piece.params, fields=list(piece.fields) or None
        ),
        "request_id": request_id,
        "case_id": case_id,
        "application_item": item_code,
        "subject": subject,
        "actor": {
            "username": actor.username,
            "badge": actor.badge,
            "role": actor.role,
            "agency": actor.agency,
        },
    }


def _adopt(piece: _Piece, result: EvidenceResult) -> None:
    """Take the owner node's answer (transcripts already verified) as this piece's outcome."""
    piece.status = result.status
    piece.reason = result.reason.model_dump(by_alias=True)
    piece.retry_after = result.retry_after
    piece.cause = result.cause
    piece.answer, piece.record = result.answer, result.fields
    piece.detail = result.answer_detail
    piece.withheld = tuple(result.withheld_fields)
    piece.transcripts = list(result.transcripts)
    piece.decisions[piece.owners[0]] = Decision(
        allowed=result.status == "issued",
        code="remote",
        reason_zh=result.reason.zh_TW,
        reason_en=result.reason.en,
        rule_id=result.rule_ids[0] if result.rule_ids else None,
        fields=tuple(result.fields or ()),
        withheld=piece.withheld,
    )


def _combine(piece: _Piece) -> None:
    """Several owners (every land office, here and on other nodes) answer together: a
    predicate holds only if it holds at each; records are merged with list fields
    concatenated. Another node counts as one owner answering for all its offices; one that
    holds nothing adds nothing, one that could not answer stops the piece with its reason."""
    elsewhere = piece.elsewhere
    refusal = elsewhere.refusal() if elsewhere else None
    if refusal is not None:
        piece.refuse(refusal)
        return
    issued_elsewhere = elsewhere.issued() if elsewhere else []
    if piece.predicate:
        answers = [o.value for o in piece.outcomes.values() if isinstance(o, PredicateAnswer)]
        answers += [bool(result.answer) for result in issued_elsewhere]
        piece.answer = all(answers)
        details = [
            dict(o.detail)
            for o in piece.outcomes.values()
            if isinstance(o, PredicateAnswer) and o.detail
        ]
        details += [dict(r.answer_detail) for r in issued_elsewhere if r.answer_detail]
        piece.detail = details[0] if len(details) == 1 else None
        return
    records = [
        minimise(outcome.fields, piece.decisions[piece.owners[0]].fields)
        for outcome in piece.outcomes.values()
        if isinstance(outcome, SourceRecord)
    ]  # each other node minimised its own by its offices' rules
    records += [result.fields for result in issued_elsewhere if result.fields is not None]
    merged: dict[str, Any] = {}
    for record in records:
        for name, value in record.items():
            if isinstance(value, list) and isinstance(merged.get(name), list):
                merged[name] = merged[name] + value
            else:
                merged.setdefault(name, value)
    if not records:
        piece.stop("not_found", "exchange.no_record", dataset=piece.dataset.code)
        return
    piece.record = merged
    withheld = [*piece.withheld, *(f for r in issued_elsewhere for f in r.withheld_fields)]
    piece.withheld = tuple(dict.fromkeys(withheld))


def _sign(
    exchange: Exchange,
    cat: catalog.CachedCatalog,
    pieces: list[_Piece],
    actor: Actor,
    item_code: str,
    subject: str,
    case_id: str,
    request_id: str,
    versions: cache_versions.Versions,
) -> None:
    """Each owner here signs what it answered with its own key: one transcript per owner;
    other nodes' transcripts (signed there, verified on arrival) follow this node's."""
    now = utcnow().replace(microsecond=0)
    expires = now + timedelta(days=exchange.settings.transcript_valid_days)
    with exchange.sessions() as session:
        signers = exchange.signing_keys.ensure_keys(
            session,
            exchange.settings,
            versions,
            [o for p in pieces if p.live for o, outcome in p.outcomes.items() if outcome],
        )
        for piece in pieces:
            for owner, outcome in piece.outcomes.items() if piece.live else ():
                if outcome is None:
                    continue
                decision = piece.decisions[owner]
                key = signers[owner]
                predicate = None
                fields = None
                if isinstance(outcome, PredicateAnswer):
                    predicate = {
                        "code": piece.predicate,
                        "params": piece.params,
                        "answer": outcome.value,
                        "as_of": outcome.as_of,
                        **({"detail": dict(outcome.detail)} if outcome.detail else {}),
                    }
                else:
                    fields = minimise(outcome.fields, decision.fields)
                claims = TranscriptClaims(
                    issuer=owner,
                    subject=subject,
                    dataset=piece.dataset.code,
                    fields=fields,
                    predicate=predicate,
                    application_item=item_code,
                    legal_basis=decision.legal_basis or piece.legal_basis or "",
                    case_id=case_id,
                    request_id=request_id,
                    requester_agency=actor.agency,
                    requester_badge=actor.badge,
                    issued_at=now,
                    expires_at=expires,
                    display=transcript_display(
                        session,
                        cat,
                        owner,
                        piece.dataset,
                        fields or (),
                        piece.predicate,
                        piece.params,
                    ),
                )
                piece.transcripts.append(
                    IssuedTranscript(
                        owner=owner,
                        kid=key.kid,
                        jws=sign_transcript(key, claims),
                        expires_at=expires.isoformat(),
                    )
                )
            if piece.live and piece.elsewhere is not None:
                piece.transcripts.extend(piece.elsewhere.transcripts())
        if session.new or session.dirty:
            session.commit()


_DECISION_OF = {
    "issued": "allowed",
    "awaiting_preview": "allowed",
    "denied": "denied",
    "not_required": "denied",
}


def _audit(
    exchange: Exchange,
    pieces: list[_Piece],
    actor: Actor,
    item_code: str,
    subject: str,
    case_id: str,
    request_id: str,
    about: subjects.Subject | None = None,
) -> None:
    """One entry per asked piece, all durably written before anything is returned. About a
    parcel, building or house number, the entry's subject is the case's citizen and
    ``details.about`` names the thing asked about."""
    records = []
    for piece in pieces:
        first = piece.decisions.get(piece.owners[0]) if piece.owners else None
        records.append(
            AuditRecord(
                event="evidence.request",
                request_id=request_id,
                actor_username=actor.username,
                actor_badge=actor.badge,
                actor_role=actor.role,
                actor_agency=actor.agency,
                application_item=item_code,
                case_id=case_id,
                subject=subject,
                dataset=piece.dataset.code,
                fields=list(first.fields) if first and not piece.predicate else [],
                predicate=piece.predicate,
                predicate_params=piece.params if piece.predicate else {},
                owner_agency=",".join(piece.owners),
                legal_basis=(first.legal_basis if first else None) or piece.legal_basis or "",
                decision=_DECISION_OF.get(piece.status, "failed"),
                reason_zh=piece.reason.get("zh-TW", ""),
                reason_en=piece.reason.get("en", ""),
                details={
                    **actor.audit_details(),
                    "status": piece.status,
                    "rule_ids": piece.rule_ids,
                    "withheld": list(piece.withheld),
                    "transcript_kids": [tr.kid for tr in piece.transcripts],
                    "routed_by": "household_registration.jurisdiction"
                    if piece.routed_by_residence
                    else None,
                    **({"forwarded": True} if piece.remote_owner else {}),
                    **({"nodes": piece.elsewhere.audit_details()} if piece.elsewhere else {}),
                    **({"preview_id": piece.preview_id} if piece.preview_id else {}),
                    **({"about": about.key} if about else {}),
                },
            )
        )
    assert exchange.audit is not None
    exchange.audit.append(records)
    for piece in pieces:
        observability.EVIDENCE_DECISIONS.labels(piece.status).inc()


def _respond(
    pieces: list[_Piece],
    request_id: str,
    case_id: str,
    item_code: str,
    subject: str,
    lang: str | None,
    about: subjects.Subject | None = None,
) -> EvidenceResponse:
    response = EvidenceResponse(
        request_id=request_id,
        case_id=case_id,
        application_item=item_code,
        subject_masked=mask_national_id(subject),
        about=about.label() if about else None,
        results=[
            EvidenceResult(
                evidence_type=piece.evidence_type,
                dataset=piece.dataset.code,
                predicate=piece.predicate,
                status=piece.status,  # type: ignore[arg-type]
                owners=piece.owners,
                rule_ids=piece.rule_ids,
                reason=Reason.model_validate(piece.reason or both("exchange.issued")),
                answer=piece.answer,
                answer_detail=piece.detail,
                fields=piece.record,
                withheld_fields=list(piece.withheld),
                transcripts=piece.transcripts,
                paper_name=piece.paper_name,
                retry_after=piece.retry_after,
                cause=piece.cause,  # type: ignore[arg-type]
            )
            for piece in pieces
        ],
    )
    if not any(r.status in ("issued", "awaiting_preview") for r in response.results):
        raise _nothing_issued(response, lang)
    return response


def _nothing_issued(response: EvidenceResponse, lang: str | None) -> Problem:
    """When nothing could be issued the answer is a problem document that still lists why for
    each piece: 503 with a retry hint if an owner was down or slow (retrying can help), 502
    if an owner's answer could not be used (refused by its gateway or node, a transcript that
    does not verify: retrying the same request cannot help), 404 when no owner holds a
    record, else 403."""
    statuses = {r.status for r in response.results}
    body: Mapping[str, Any] = response.model_dump(mode="json", by_alias=True)
    detail = "; ".join(
        f"{r.evidence_type}: {r.reason.en if lang == 'en' else r.reason.zh_TW}"
        for r in response.results
    )
    transient = [r for r in response.results if r.retry_after or r.status == "unavailable"]
    if transient:
        return Problem(
            503,
            "owner-unavailable",
            t("exchange.owner_unavailable_title", lang),
            detail,
            retry_after=max(r.retry_after or 30 for r in transient),
            extra=dict(body),
        )
    if "failed" in statuses:
        return Problem(
            502, "owner-failed", t("exchange.owner_failed_title", lang), detail, extra=dict(body)
        )
    if statuses <= {"not_found"}:
        return Problem(
            404, "no-record", t("exchange.no_record_title", lang), detail, extra=dict(body)
        )
    return Problem(403, "no-rule", t("exchange.denied_title", lang), detail, extra=dict(body))
