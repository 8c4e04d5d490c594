"""HTTP surface of tell-us-once: subscriptions, the pull feed and acknowledgements, the
citizen's per-agency status, and the administrators' queue and dead-letter views."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Header, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy.orm import Session

from onceonly.accounts.deps import Principal, require_roles
from onceonly.accounts.tenancy import CENTRAL, Scope, scope_of
from onceonly.cases.notifications import list_notifications
from onceonly.domain.national_id import mask_national_id
from onceonly.errors import Problem, not_found
from onceonly.exchange.service import exchange_for
from onceonly.federation.remote import RemoteNodes as FederationNodes
from onceonly.i18n import t
from onceonly.notify import intake, outbox, subscriptions
from onceonly.notify.events import LifeEventIn
from onceonly.notify.feed import MAX_LIMIT, read_feed
from onceonly.notify.register import Register, household_register
from onceonly.notify.register_log import Reader
from onceonly.notify.subscriptions import OWNER_AGENCY, SubscriptionRequest, SubscriptionView
from onceonly.validation_words import ApiInput
from onceonly.web.deps import Db, get_language, language
from onceonly.web.params import RowId, Seq
from onceonly.web.templating import render

router = APIRouter(tags=["notify"])

PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
CLERK_ROLES = ("clerk",)
"""Who reports a life event or previews one (each a look at the household register about a
named citizen), asks for a subscription (which names where citizens' events go), reads its
agency's feed and acknowledges what it processed: a household office's or a subscribing
agency's clerk, a person or the agency's system doing the agency's own work. Never a data
owner: owners decide who may be told and read no citizen's data, and the platform's operator
can make owner accounts of national agencies
(:data:`~onceonly.accounts.tenancy.NODE_WIDE_ROLES`), so any of these routes open to
``owner`` would be the operator's way to a citizen's data."""
AGENCY_ROLES = ("clerk", "owner")
"""Who lists subscriptions: their own agency's, or all of them at the household-registration
owner, which decides them (no citizen's data in them)."""

Lang = Annotated[str, Depends(language)]


def in_scope(scope: Scope, items: list[Any]) -> list[Any]:
    """The items (with an ``agency_code``) of the scope's tenant; all of them for the
    platform's operator, whose views here are operational (counts, masked national IDs)."""
    return items if scope.operator else [i for i in items if scope.sees_agency(i.agency_code)]


def citizen_history(
    db: Session, national_id: str, scope: Scope
) -> tuple[list[outbox.CitizenEventStatus], list[outbox.MessageView]]:
    """A citizen's reports as the scope's tenant may see them: only deliveries to its agencies,
    and only the reports (and messages about them) that reached one of them. Life events are
    recorded by the national household registry, so the national tenant sees every delivery.
    The platform's operator sees none: that a named citizen died or moved is personal data
    (the tenants' administrators and auditors answer about their own deliveries)."""
    if scope.tenant == CENTRAL:
        return outbox.citizen_events(db, national_id), outbox.citizen_messages(db, national_id)
    events = []
    for event in outbox.citizen_events(db, national_id):
        agencies = tuple(a for a in event.agencies if scope.sees_agency(a.agency_code))
        if agencies:
            others = len(event.agencies) - len(agencies)
            events.append(dataclasses.replace(event, agencies=agencies, others=others))
    shown = {e.id for e in events}
    messages = [m for m in outbox.citizen_messages(db, national_id) if m.event_id in shown]
    return events, messages


class SubscriptionIn(ApiInput):
    event_kinds: list[str] = Field(examples=[["death", "address_change"]])
    legal_basis: str = Field(examples=["household-registration-act"])
    fields: list[str] = Field(default_factory=list, examples=[["death_date", "new_address"]])
    mode: str = Field(default="push", description="push (webhook) or pull (feed)")
    webhook_url: str | None = Field(default=None, examples=["https://agency.example/notify"])
    purpose: str = ""
    jurisdiction: str | None = Field(
        default=None, description="Only citizens registered in this jurisdiction"
    )


class SubscriptionOut(BaseModel):
    id: int
    agency_code: str
    event_kinds: list[str]
    fields: list[str]
    jurisdiction: str | None
    legal_basis: str
    purpose: str
    mode: str
    webhook_url: str | None
    status: str
    requested_by: str
    requested_at: AwareDatetime
    decided_by: str | None
    decided_at: AwareDatetime | None
    revoked_at: AwareDatetime | None
    secret: str | None = Field(
        default=None, description="HMAC key for push signatures; returned only on creation"
    )

    @classmethod
    def of(cls, view: SubscriptionView) -> SubscriptionOut:
        data = {**view.__dict__, "event_kinds": list(view.event_kinds), "fields": list(view.fields)}
        return cls(**data)


class DecisionIn(ApiInput):
    reason: str = ""


class FeedOut(BaseModel):
    events: list[dict[str, Any]]
    next_cursor: int


class AcksIn(ApiInput):
    event_ids: list[str] = Field(min_length=1, max_length=1000)


class AcksOut(BaseModel):
    processed: list[str]
    unknown: list[str]


class ContactIn(ApiInput):
    email: str | None = Field(default=None, examples=["family@example.tw"])
    mobile: str | None = Field(default=None, examples=["0912345678"])
    language: str = Field(default="zh-TW", description="zh-TW or en")


class EventReportIn(ApiInput):
    """A life event as the household registration office records it."""

    kind: str = Field(
        description=(
            "birth, death, address_change, name_change, marriage, divorce, "
            "move_out (遷出) or move_in (遷入)"
        ),
        examples=["death"],
    )
    national_id: str = Field(description="The subject: national ID or resident number")
    payload: dict[str, Any] = Field(
        default_factory=dict, examples=[{"death_date": "2026-03-01", "place_of_death": "自宅"}]
    )
    occurred_at: AwareDatetime | None = Field(
        default=None, description="Defaults to now; with its UTC offset"
    )
    contact: ContactIn | None = Field(
        default=None,
        description="Told by SMS and e-mail when every agency has processed the event, or when "
        "one cannot be told (the informant; the citizen's own contact details otherwise)",
    )


class RecipientOut(BaseModel):
    agency_code: str
    name: str


class EventAcceptedOut(BaseModel):
    id: str
    reference: str = Field(description="Finds the report again at any counter or in the portal")
    kind: str
    kind_name: str
    seq: int
    jurisdiction: str | None
    occurred_at: AwareDatetime
    recorded_at: AwareDatetime
    replayed: bool = Field(description="An earlier call with the same Idempotency-Key did it")
    recipients: list[RecipientOut]


def register_of(request: Request, db: Session) -> Register:
    """The household register, through its owner's provider in the app's exchange."""
    return household_register(db, exchange_for(request.app.state).providers)


def cities_served_here(request: Request) -> tuple[str, ...] | None:
    """This federation node's own cities (a 遷入 from any other is relayed); ``None`` when
    the deployment stands alone and serves every city it lists."""
    remote = exchange_for(request.app.state).remote
    return remote.config.jurisdictions if isinstance(remote, FederationNodes) else None


def _event_in(body: EventReportIn, principal: Principal) -> LifeEventIn:
    return LifeEventIn(
        kind=body.kind,
        national_id=body.national_id,
        payload=body.payload,
        occurred_at=body.occurred_at,
        recorded_by=principal.username,
    )


EVENT_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"description": "Not a household registration office's clerk", **PROBLEM},
    422: {
        "description": "Invalid event, refused by the register, or Idempotency-Key reused",
        **PROBLEM,
    },
    503: {"description": "The household register cannot be asked now", **PROBLEM},
}


@router.post(
    "/api/v1/notify/events",
    response_model=EventAcceptedOut,
    status_code=201,
    summary="Record a life event once; every subscribed agency is told (通報)",
    description=(
        "Checked against the household register first (the person exists and is alive, a "
        "death is recorded once, a move's old address is the registered one). Send an "
        "`Idempotency-Key`: the same key with the same body answers with the same event; "
        "with another body it is refused."
    ),
    responses=EVENT_RESPONSES,
)
def record_event(
    body: EventReportIn,
    request: Request,
    principal: Annotated[Principal, Depends(require_roles(*CLERK_ROLES))],
    db: Db,
    lang: Lang,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> EventAcceptedOut:
    contact = body.contact
    accepted = intake.report_event(
        db,
        _event_in(body, principal),
        register_of(request, db),
        principal.agency_code,
        idempotency_key=idempotency_key,
        contact=intake.checked_contact(contact.email, contact.mobile, contact.language, lang)
        if contact
        else None,
        lang=lang,
        served_here=cities_served_here(request),
        reader=Reader.of(principal),
    )
    return EventAcceptedOut.model_validate(intake.describe(accepted, lang))


@router.post(
    "/api/v1/notify/events/preview",
    response_model=list[RecipientOut],
    summary="Who would be told of this event (every check, nothing recorded)",
    description=(
        "Makes every check recording would make and records no event; the look at the "
        "household register is written to the audit log all the same (the citizen sees it "
        "among who looked at their data), whether the preview passes or is refused."
    ),
    responses=EVENT_RESPONSES,
)
def preview_event(
    body: EventReportIn,
    request: Request,
    principal: Annotated[Principal, Depends(require_roles(*CLERK_ROLES))],
    db: Db,
    lang: Lang,
) -> list[RecipientOut]:
    found = intake.preview_event(
        db,
        _event_in(body, principal),
        register_of(request, db),
        principal.agency_code,
        lang=lang,
        reader=Reader.of(principal),
    )
    return [RecipientOut(agency_code=r.agency_code, name=r.name(lang)) for r in found]


@router.post(
    "/api/v1/notify/subscriptions",
    response_model=SubscriptionOut,
    status_code=201,
    summary="Ask to be told about life events (pending until the owner approves)",
    responses={422: {"description": "Invalid request", **PROBLEM}},
)
def create_subscription(
    body: SubscriptionIn,
    principal: Annotated[Principal, Depends(require_roles(*CLERK_ROLES))],
    db: Db,
    lang: Lang,
) -> SubscriptionOut:
    request = SubscriptionRequest(agency_code=principal.agency_code, **body.model_dump())
    return SubscriptionOut.of(
        subscriptions.request_subscription(db, request, principal.username, lang)
    )


@router.get(
    "/api/v1/notify/subscriptions",
    response_model=list[SubscriptionOut],
    summary="Subscriptions: your agency's, or all of them for the owner and administrators",
)
def get_subscriptions(
    principal: Annotated[Principal, Depends(require_roles(*AGENCY_ROLES, "admin", "auditor"))],
    db: Db,
    status: str | None = None,
) -> list[SubscriptionOut]:
    sees_all = principal.role in ("admin", "auditor") or principal.agency_code == OWNER_AGENCY
    agency = None if sees_all else principal.agency_code
    found = subscriptions.list_subscriptions(db, agency, status)
    if principal.agency_code != OWNER_AGENCY:
        found = in_scope(scope_of(principal), found)
    return [SubscriptionOut.of(v) for v in found]


def _decide(action: str):  # type: ignore[no-untyped-def]
    functions = {
        "approve": subscriptions.approve_subscription,
        "reject": subscriptions.reject_subscription,
        "revoke": subscriptions.revoke_subscription,
    }

    def endpoint(
        subscription_id: RowId,
        principal: Annotated[Principal, Depends(require_roles("owner"))],
        db: Db,
        lang: Lang,
        body: DecisionIn | None = None,
    ) -> SubscriptionOut:
        view = functions[action](
            db,
            subscription_id,
            principal.username,
            principal.agency_code,
            (body.reason if body else ""),
            lang,
        )
        return SubscriptionOut.of(view)

    return endpoint


for _action in ("approve", "reject", "revoke"):
    router.add_api_route(
        f"/api/v1/notify/subscriptions/{{subscription_id}}/{_action}",
        _decide(_action),
        methods=["POST"],
        response_model=SubscriptionOut,
        summary=f"{_action.capitalize()} a subscription (household-registration owner only)",
        responses={
            403: {
                "description": "Not a person at the owner, or (approving) the subscription "
                "of the approver's own agency",
                **PROBLEM,
            },
            404: {"description": "No such subscription", **PROBLEM},
            409: {"description": "Not in a state that allows it", **PROBLEM},
        },
        name=f"notify_{_action}_subscription",
    )


@router.get(
    "/api/v1/notify/feed",
    response_model=FeedOut,
    summary="Pull the events for your agency after a cursor, in order",
    description=(
        "Pass the `next_cursor` of the previous answer as `cursor`: with an API token (your "
        "agency's system), that confirms receipt of everything up to it (those deliveries "
        "become `delivered`); with a browser session it changes nothing, so a link opened "
        "from another site cannot confirm what your system never received. Confirm processing "
        "with `POST /api/v1/notify/acks`."
    ),
    responses={404: {"description": "No pull subscription", **PROBLEM}},
)
def feed(
    principal: Annotated[Principal, Depends(require_roles(*CLERK_ROLES))],
    db: Db,
    lang: Lang,
    cursor: Annotated[Seq, Query()] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> FeedOut:
    if not any(
        s.mode == "pull" for s in subscriptions.list_subscriptions(db, principal.agency_code)
    ):
        raise Problem(
            404,
            "no-pull-subscription",
            t("problem.not_found", lang),
            t("notify.error.no_pull", lang),
        )
    # a GET a browser makes for any page that links here must not change anything
    confirm = principal.auth_method == "token"
    page = read_feed(db, principal.agency_code, cursor, limit, confirm=confirm)
    return FeedOut(events=page.events, next_cursor=page.next_cursor)


@router.post(
    "/api/v1/notify/acks",
    response_model=AcksOut,
    summary="Tell the platform your agency has processed these events",
)
def acks(
    body: AcksIn,
    principal: Annotated[Principal, Depends(require_roles(*CLERK_ROLES))],
    db: Db,
) -> AcksOut:
    result = outbox.acknowledge(db, principal.agency_code, body.event_ids)
    return AcksOut(processed=list(result.processed), unknown=list(result.unknown))


@router.get(
    "/api/v1/notify/citizens/{national_id}/events",
    summary="A citizen's reports and each agency's status (pending, delivered, processed, failed)",
)
def citizen_status(
    national_id: str,
    principal: Annotated[Principal, Depends(require_roles("admin", "auditor"))],
    db: Db,
    lang: Lang,
) -> dict[str, Any]:
    events, messages = citizen_history(db, national_id, scope_of(principal))
    return {
        "national_id": national_id,
        "events": [e.as_dict() for e in events],
        "messages": [
            {
                "id": m.id,
                "event_id": m.event_id,
                "kind": m.kind,
                "text": m.body(lang),
                "created_at": m.created_at.isoformat(),
            }
            for m in messages
        ],
    }


@router.get("/api/v1/notify/queues", summary="Deliveries per agency by state, with the lag")
def queues(
    principal: Annotated[Principal, Depends(require_roles("admin", "auditor"))], db: Db
) -> list[dict[str, Any]]:
    return [
        {
            **q.__dict__,
            "oldest_pending_at": q.oldest_pending_at.isoformat() if q.oldest_pending_at else None,
            "lag_seconds": q.lag_seconds(),
        }
        for q in in_scope(scope_of(principal), outbox.queue_stats(db))
    ]


def _dead_letter_dict(d: outbox.DeadLetterView, *, operator: bool = False) -> dict[str, Any]:
    """A dead letter with the national ID masked; for the platform's operator without the
    event's id either, which would tie the masked ID to the tenant's feed."""
    data = {**d.__dict__, "national_id": mask_national_id(d.national_id)}
    if operator:
        data["event_id"] = None
    for key in ("dead_at", "replayed_at"):
        data[key] = data[key].isoformat() if data[key] else None
    return data


@router.get("/api/v1/notify/dead-letters", summary="Deliveries that failed every attempt")
def dead_letters(
    principal: Annotated[Principal, Depends(require_roles("admin"))],
    db: Db,
    include_replayed: bool = False,
) -> list[dict[str, Any]]:
    scope = scope_of(principal)
    found = in_scope(scope, outbox.list_dead_letters(db, include_replayed))
    return [_dead_letter_dict(d, operator=scope.operator) for d in found]


def _replay(db: Session, principal: Principal, dead_letter_id: int, lang: str) -> None:
    """Replay a dead letter of the administrator's scope; any other answers 404."""
    known = in_scope(scope_of(principal), outbox.list_dead_letters(db, include_replayed=True))
    if dead_letter_id not in {d.id for d in known} or not outbox.replay_dead_letter(
        db, dead_letter_id, principal.username
    ):
        raise not_found(t("notify.error.no_dead_letter", lang, id=dead_letter_id), lang)


@router.post(
    "/api/v1/notify/dead-letters/{dead_letter_id}/replay",
    summary="Queue a dead delivery again with fresh attempts",
    responses={404: {"description": "No such entry or already replayed", **PROBLEM}},
)
def replay(
    dead_letter_id: RowId,
    principal: Annotated[Principal, Depends(require_roles("admin"))],
    db: Db,
    lang: Lang,
) -> dict[str, Any]:
    _replay(db, principal, dead_letter_id, lang)
    return {"replayed": dead_letter_id}


@router.get("/admin/notify", response_class=HTMLResponse, include_in_schema=False)
def admin_page(
    request: Request,
    principal: Annotated[Principal, Depends(require_roles("admin"))],
    db: Db,
) -> HTMLResponse:
    scope = scope_of(principal)
    return render(
        request,
        "notify/admin.html",
        queues=in_scope(scope, outbox.queue_stats(db)),
        failures=in_scope(scope, outbox.recent_failures(db)),
        dead_letters=in_scope(scope, outbox.list_dead_letters(db)),
        case_failures=list_notifications(db, status="failed", limit=50, scope=scope),
        mask=mask_national_id,
    )


@router.post("/admin/notify/dead-letters/{dead_letter_id}/replay", include_in_schema=False)
def admin_replay(
    dead_letter_id: RowId,
    principal: Annotated[Principal, Depends(require_roles("admin"))],
    db: Db,
    lang: Lang,
    csrf_token: Annotated[str, Form()] = "",
) -> RedirectResponse:
    _replay(db, principal, dead_letter_id, lang)
    return RedirectResponse("/admin/notify", status_code=303)


@router.get("/notify/citizens/{national_id}", response_class=HTMLResponse, include_in_schema=False)
def citizen_page(
    request: Request,
    national_id: str,
    principal: Annotated[Principal, Depends(require_roles("admin", "auditor"))],
    db: Db,
) -> HTMLResponse:
    scope = scope_of(principal)
    events, messages = citizen_history(db, national_id, scope)
    lang = get_language(request)
    codes = {a.agency_code for e in events for a in e.agencies}
    return render(
        request,
        "notify/citizen.html",
        national_id=mask_national_id(national_id),
        events=events,
        messages=messages,
        names={code: intake.recipient_name(db, code, lang) for code in codes},
        operator=scope.operator,
    )
