"""The evidence-request API's documents, with examples for the OpenAPI description."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from onceonly.policy.predicates import MAX_PARAMS, PredicateValue

EXAMPLE_REQUEST: dict[str, Any] = {
    "case_id": "TPE-UDD-115-000123",
    "application_item": "public-housing-low-income",
    "subject": "A123456789",
    "evidence": [
        {"type": "household_registration"},
        {"type": "is_low_income_household"},
        {"type": "household_income_below"},
    ],
}


class EvidenceAsk(BaseModel):
    """One piece of evidence: a dataset code (full data, minimised) or a predicate code."""

    type: str = Field(min_length=1, max_length=80, examples=["household_registration"])
    params: dict[Annotated[str, Field(max_length=60)], PredicateValue] = Field(
        default_factory=dict,
        max_length=MAX_PARAMS,
        examples=[{"threshold": 19013}],
        description=(
            "Optional: predicate parameters are set by the owner's rule or the catalog (the "
            "statutory value for the item). Send one only to choose among the values the "
            "rule lists; a value equal to the one that applies is accepted, any other is 422."
        ),
    )
    fields: list[str] | None = Field(
        default=None,
        description="Fields wanted; by default those the application item needs.",
    )


class EvidenceRequestIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_REQUEST]})

    case_id: str = Field(
        min_length=1,
        max_length=40,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$",
        description=(
            "The number of an open case of the caller's agency, for this application item "
            "and this citizen (open it at the counter or with POST /api/v1/cases first)."
        ),
    )
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

Cause = Literal[
    "partner_certificate_revoked",
    "partner_certificate_refused",
    "own_certificate_revoked",
    "own_certificate_refused",
]
"""Why a piece failed where only an operator can help (see ``EvidenceResult.cause``)."""


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
    cause: Cause | None = Field(
        default=None,
        description="Why a piece failed when retrying cannot help and an operator must act: "
        "a partner node's (or this node's) certificate revoked or not trusted.",
    )


class EvidenceResponse(BaseModel):
    request_id: str
    case_id: str
    application_item: str
    subject_masked: str
    results: list[EvidenceResult]
