"""The evidence-request API's documents, with examples for the OpenAPI description."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from onceonly.policy.predicates import MAX_PARAMS, PredicateValue
from onceonly.validation_words import ApiInput

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


EXAMPLE_PARCEL_REQUEST: dict[str, Any] = {
    "case_id": "NTP-LAS-115-000042",
    "application_item": "land-boundary-survey",
    "subject": {
        "kind": "parcel",
        "jurisdiction": "new-taipei-city",
        "section": "裕民段",
        "parcel_no": "1680-8005",
    },
    "evidence": [{"type": "land_registration"}],
}


class SubjectIn(ApiInput):
    """What the request is about when it is not a person: a parcel (``jurisdiction``,
    ``section``, ``parcel_no``), a building (``jurisdiction``, ``section``,
    ``building_no``) or a house number (``address``, or its parts ``city`` … ``number``;
    an address written before a merger, 臺北縣板橋市…, is read as today's 新北市板橋區…).
    The case named is then the citizen's case at the counter; the owners are listed only
    as far as the owner's rule allows."""

    kind: Literal["parcel", "building", "address"]
    jurisdiction: str | None = Field(
        default=None, max_length=40, examples=["new-taipei-city"], description="Parcel, building."
    )
    section: str | None = Field(
        default=None,
        max_length=20,
        examples=["裕民段", "0142"],
        description="地段: its name (or the name before a merger renamed it) or its code.",
    )
    parcel_no: str | None = Field(default=None, max_length=20, examples=["1680-8005"])
    building_no: str | None = Field(default=None, max_length=20, examples=["01234-000"])
    address: str | None = Field(default=None, max_length=200)
    city: str | None = Field(default=None, max_length=10, examples=["臺北縣"])
    district: str | None = Field(default=None, max_length=10, examples=["板橋市"])
    road: str | None = Field(default=None, max_length=40, examples=["文化路一段"])
    lane: str | None = Field(default=None, max_length=10)
    alley: str | None = Field(default=None, max_length=10)
    number: str | None = Field(default=None, max_length=20, examples=["100"])
    floor: str | None = Field(default=None, max_length=10)

    def written_address(self) -> str:
        """The house number as one line, from ``address`` or from its parts."""
        if self.address:
            return self.address
        number = (self.number or "").removesuffix("號")
        floor = (self.floor or "").removesuffix("樓")
        return "".join(
            (
                self.city or "",
                self.district or "",
                self.road or "",
                f"{self.lane.removesuffix('巷')}巷" if self.lane else "",
                f"{self.alley.removesuffix('弄')}弄" if self.alley else "",
                f"{number}號" if number else "",
                f"{floor}樓" if floor else "",
            )
        )


class EvidenceAsk(ApiInput):
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


class EvidenceRequestIn(ApiInput):
    model_config = ConfigDict(
        json_schema_extra={"examples": [EXAMPLE_REQUEST, EXAMPLE_PARCEL_REQUEST]}
    )

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
    subject: Annotated[str, Field(min_length=1, max_length=20)] | SubjectIn = Field(
        description=(
            "The citizen's national ID; or, for land items, a parcel, building or house "
            "number (an object with its ``kind``; the case is then the applicant's)."
        ),
    )
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
    answer_detail: dict[str, Any] | None = Field(
        default=None,
        description="What a predicate's answer says beyond yes/no, as codes and numbers: "
        "e.g. the line and degree of a kinship, the heirs' relationship and order, and "
        "whether the owner held every record it needed (complete).",
    )
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
    about: str | None = Field(
        default=None,
        description="The parcel, building or house number asked about, in words "
        "(大灣段 0123-0004 地號), when the request named one.",
    )
    results: list[EvidenceResult]
