"""What the cases capability hands out and takes in: Pydantic documents shared by the service
(its return values) and the JSON API (its request and response bodies)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from onceonly.validation_words import ApiInput
from onceonly.web.params import Page

State = Literal["open", "gathering", "decided", "closed"]
Decision = Literal["approved", "rejected"]

MAX_NOTE_CHARS = 2000
"""A clerk's note (relay note, decision reason): long enough for any real reason, short
enough that the case page, the printout and the citizen's message stay readable."""


class _View(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class TranscriptView(_View):
    owner: str
    kid: str
    jws: str
    expires_at: datetime


class PaperView(_View):
    filename: str
    sha256: str
    size: int
    content_type: str
    attached_by: str
    attached_at: datetime


class CaseEvidenceView(_View):
    evidence_type: str
    dataset: str
    paper_name_zh: str
    paper_name_en: str
    satisfied_by: Literal["online", "paper"] | None
    """``online`` when valid transcripts are held, ``paper`` when a scan stands in for them."""
    needs_refresh: bool
    """Online evidence was held but its transcript expired: fetch it again."""
    status: str | None
    reason_zh: str | None
    reason_en: str | None
    owners: list[str]
    answer: bool | None
    fields: dict[str, Any] | None
    withheld_fields: list[str]
    transcripts: list[TranscriptView]
    retry_after: int | None
    cause: str | None = None
    fetched_by: str | None
    fetched_agency: str | None
    fetched_at: datetime | None
    expires_at: datetime | None
    paper: PaperView | None
    held_by: str | None = None
    """Set when the reader's agency may not see this piece's content: it neither fetched it
    nor received the case after it was fetched (a relay carries what the case holds then).
    The agency that holds it; ``answer``, ``fields``, ``transcripts`` and ``paper`` are
    then empty, the status and who fetched it still shown."""


class CaseSummaryView(_View):
    """A row of a search result or queue: no evidence, the subject masked."""

    number: str
    application_item: str
    agency: str
    state: State
    decision: Decision | None
    subject_masked: str
    """The masked national ID, or the service request id when the case has no subject."""
    opening_agency: str
    opened_by: str
    opened_at: datetime
    updated_at: datetime
    service_request_id: str | None = None


class CaseView(CaseSummaryView):
    subject: str | None
    contact_email: str | None
    contact_mobile: str | None
    contact_language: str
    decision_reason: str | None
    decided_by: str | None
    decided_at: datetime | None
    closed_at: datetime | None
    evidence: list[CaseEvidenceView]


class EventView(_View):
    at: datetime
    kind: str
    actor: str
    agency: str | None
    state_from: str | None
    state_to: str | None
    details: dict[str, Any]


class Measures(_View):
    """Kept per case for the effectiveness dashboard."""

    evidence_required: int
    evidence_online: int
    """Required evidence held as valid online transcripts: paper the citizen did not bring."""
    paper_required: int
    """Required evidence not held online: ``paper_attached`` + ``paper_missing``."""
    paper_attached: int
    paper_missing: int
    decision_seconds: int | None
    agencies_involved: int
    agencies: list[str]
    """Handling agencies (opening agency and relay targets) and owners that supplied evidence."""


class CasePage(_View):
    items: list[CaseSummaryView]
    total: int
    page: int
    per_page: int


class NotificationView(_View):
    id: int
    case_number: str
    event: str
    channel: str
    recipient: str
    subject: str
    body: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


class SmsOutboxView(_View):
    id: int
    to: str
    text: str
    created_at: datetime


# --- request bodies ---------------------------------------------------------------------------


CautionKind = Literal["open_case", "deceased", "not_registered", "register_unknown"]


class OpenCaseIn(ApiInput):
    application_item: str = Field(min_length=1, max_length=120)
    subject: str = Field(min_length=1, max_length=20, description="The citizen's national ID.")
    contact_email: str | None = Field(default=None, max_length=254)
    contact_mobile: str | None = Field(default=None, max_length=24)
    contact_language: Literal["zh-TW", "en"] = "zh-TW"
    acknowledged: list[CautionKind] = Field(
        default_factory=list,
        max_length=4,
        description="The warnings of `GET /api/v1/cases/warnings` the clerk saw and went past; "
        "kept in the case's timeline, as the counter's form keeps them.",
    )


class CautionView(BaseModel):
    kind: CautionKind
    """``open_case``: the citizen has an open case of this item; ``deceased``: the household
    register says the citizen died; ``not_registered``: it holds no one with this ID;
    ``register_unknown``: the register could not be asked now."""
    text: str
    """The warning in words, in the request's language."""
    case_number: str | None = None
    """The open case (``open_case`` only)."""


class OpenWarningsOut(BaseModel):
    warnings: list[CautionView]


class RelayIn(ApiInput):
    to_agency: str = Field(min_length=1, max_length=120)
    note: str = Field(min_length=1, max_length=MAX_NOTE_CHARS)


class DecideIn(ApiInput):
    decision: Decision
    reason: str = Field(min_length=1, max_length=MAX_NOTE_CHARS)


class FetchEvidenceIn(ApiInput):
    refresh_all: bool = Field(
        default=False,
        description="Fetch every required piece again; by default only what is missing, "
        "failed or expired is fetched, so a relayed case is not fetched twice.",
    )


class SearchFilters(BaseModel):
    number: str | None = None
    subject: str | None = None
    state: State | None = None
    application_item: str | None = None
    agency: str | None = None
    opened_from: date | None = None
    opened_to: date | None = None
    """Inclusive; dates are Taiwan (UTC+8) calendar days."""
    page: Page = 1
    per_page: int = Field(default=20, ge=1, le=100)
