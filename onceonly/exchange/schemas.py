"""The evidence-request API's documents, with examples for the OpenAPI description."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

EXAMPLE_REQUEST: dict[str, Any] = {
    "case_id": "TPE-UDD-2026-000123",
    "application_item": "public-housing-low-income",
    "subject": "A123456789",
    "evidence": [
        {"type": "household_registration"},
        {"type": "is_low_income_household"},
        {"type": "household_income_below", "params": {"threshold": 19013}},
    ],
}


class EvidenceAsk(BaseModel):
    """One piece of evidence: a dataset code (full data, minimised) or a predicate code."""

    type: str = Field(min_length=1, max_length=80, examples=["household_registration"])
    params: dict[str, Any] = Field(default_factory=dict, examples=[{"threshold": 19013}])
    fields: list[str] | None = Field(
        default=None,
        description="Fields wanted; by default those the application item needs.",
    )


class EvidenceRequestIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_REQUEST]})

    case_id: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
    application_item: str = Field(min_length=1, max_length=120)
    subject: str = Field(min_length=1, max_length=20, description="The citizen's national ID.")
    evidence: list[EvidenceAsk] = Field(
        default_factory=list,
        max_length=20,
        description="Empty means every piece of evidence the application item requires.",
    )


Status = Literal[
    "issued",
    "awaiting_preview",
    "denied",
    "unavailable",
    "failed",
    "not_found",
    "not_digitised",
    "not_required",
]


class Reason(BaseModel):
    zh_TW: str = Field(alias="zh-TW")
    en: str

    model_config = ConfigDict(populate_by_name=True)


class IssuedTranscript(BaseModel):
    owner: str
    kid: str
    jws: str = Field(description="Compact JWS signed by the owner (EdDSA / Ed25519).")
    expires_at: str


class EvidenceResult(BaseModel):
    evidence_type: str
    dataset: str
    predicate: str | None = None
    status: Status
    owners: list[str] = Field(default_factory=list)
    rule_ids: list[int] = Field(default_factory=list)
    reason: Reason
    answer: bool | None = None
    fields: dict[str, Any] | None = None
    withheld_fields: list[str] = Field(default_factory=list)
    transcripts: list[IssuedTranscript] = Field(default_factory=list)
    paper_name: str | None = Field(
        default=None, description="The paper the citizen would otherwise bring."
    )
    retry_after: int | None = None


class EvidenceResponse(BaseModel):
    request_id: str
    case_id: str
    application_item: str
    subject_masked: str
    results: list[EvidenceResult]
