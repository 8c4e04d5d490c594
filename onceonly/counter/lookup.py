"""The counter's question about a parcel, building or house number (issue 17).

At a land item the clerk chooses what the question is about: the person of the case (the
usual fetch), a parcel (地段 + 地號), a building (地段 + 建號) or a house number (門牌, as
written today or before the merger). The answer is fetched through the exchange like any
other, under the case, kept on the case (:func:`onceonly.cases.service.record_lookup`: only the
fields the rule let out, with the signed transcripts, and a timeline entry in words) and
shown the way the case's evidence is: each owner's signed transcript with its fields
labelled from the catalog, the owners only as the rule allows. A reload or the printout
shows it again from the case.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from onceonly.cases import service
from onceonly.cases.steps import Step, ask_owners
from onceonly.catalog import service as catalog
from onceonly.config import Settings
from onceonly.counter.evidence import TranscriptCard, transcript_card
from onceonly.domain import subjects
from onceonly.errors import FieldError, validation_problem
from onceonly.exchange.pdf import OwnerKeys
from onceonly.exchange.schemas import EvidenceRequestIn, EvidenceResponse, SubjectIn
from onceonly.exchange.service import Exchange
from onceonly.i18n import t

KINDS = ("person", "parcel", "building", "address")
FIELDS = (
    "jurisdiction",
    "section",
    "parcel_no",
    "building_no",
    "address",
    "city",
    "district",
    "road",
    "lane",
    "alley",
    "number",
    "floor",
)
"""The form's fields besides ``kind`` (those of :class:`SubjectIn`)."""

ASKED_BY_THING = frozenset(d for datasets in subjects.DATASETS.values() for d in datasets)


def offered(item: catalog.ApplicationItemView | None) -> bool:
    """Whether the item needs a register that answers by a parcel, building or house number."""
    return item is not None and any(r.dataset in ASKED_BY_THING for r in item.required_evidence)


@dataclass(frozen=True)
class LookupCard:
    """One answered piece, as the case page shows it."""

    id: int
    evidence_type: str
    title: str
    status: str
    reason: str
    owner_names: tuple[str, ...]
    transcripts: tuple[TranscriptCard, ...]
    held_by: str | None = None
    """The agency holding the content, in words, when the clerk's agency may not see it."""


@dataclass(frozen=True)
class Lookup:
    about: str
    fetched_by: str
    fetched_at: datetime
    cards: tuple[LookupCard, ...]


def ask(
    step: Step,
    exchange: Callable[[], Exchange],
    case_number: str,
    application_item: str,
    form: Mapping[str, str],
) -> EvidenceResponse:
    """Ask the owners about the thing the form names, under the case, and keep the answer
    on the case; a 422 names the field (``subject.<part>``) and is the form's to show.
    Pieces that could not be issued come back (and are kept) with their reasons, as at the
    case's own fetch."""
    lang = step.lang
    values = {name: form.get(name, "").strip() or None for name in FIELDS}
    try:
        thing = SubjectIn(kind=form.get("kind", ""), **values)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise validation_problem(
            [FieldError("kind", t("counter.lookup.kind_missing", lang), "missing")], lang
        ) from exc
    body = EvidenceRequestIn(case_id=case_number, application_item=application_item, subject=thing)
    actor = step.actor
    response = ask_owners(step, exchange, body)
    step(lambda db: service.record_lookup(db, actor, case_number, thing.kind, response, lang=lang))
    return response


def cards(
    session: Session,
    settings: Settings,
    held: Sequence[service.HeldLookup],
    jwks: Mapping[str, Any],
    lang: str,
    agency_name: Callable[[str], str],
) -> list[Lookup]:
    """The answers kept on the case, per thing asked (latest first), grouped like the
    case's evidence: per piece, each owner's transcript."""
    grouped: dict[str, list[service.HeldLookup]] = {}
    known: OwnerKeys = {}  # each owner's key, looked up once for all the answers
    for row in held:
        grouped.setdefault(row.about, []).append(row)
    shown = []
    for about, rows in grouped.items():
        pieces = []
        for row in rows:
            dataset = catalog.get_dataset(session, row.dataset)
            title = (dataset.name_en if lang == "en" else dataset.name_zh) if dataset else ""
            pieces.append(
                LookupCard(
                    id=row.id,
                    evidence_type=row.evidence_type,
                    title=title or row.dataset,
                    status=row.status,
                    reason=row.reason_en if lang == "en" else row.reason_zh,
                    owner_names=tuple(agency_name(o) for o in row.owners),
                    transcripts=tuple(
                        transcript_card(session, settings, index, jws, jwks, lang, known=known)
                        for index, jws in enumerate(row.transcripts)
                    ),
                    held_by=agency_name(row.held_by) if row.held_by else None,
                )
            )
        first = rows[0]
        shown.append(Lookup(about, first.fetched_by, first.fetched_at, tuple(pieces)))
    return shown
