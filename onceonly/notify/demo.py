"""Demo subscriptions: social welfare, the tax office and the land office of a demo
jurisdiction are told of every death registered there, pushed to local demo receivers.

The demo starts one reference receiver per agency (``onceonly notify receiver`` or
``uvicorn --factory onceonly.notify.receiver:app_from_env``) with the secret returned here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from onceonly.notify.models import Subscription
from onceonly.notify.subscriptions import (
    OWNER_AGENCY,
    SubscriptionRequest,
    SubscriptionView,
    approve_subscription,
    get_subscription,
    request_subscription,
)
from onceonly.outbound import OutboundPolicy

DEMO_AGENCY_KINDS: dict[str, int] = {
    "social_welfare": 8811,
    "tax_office": 8812,
    "land_office": 8813,
}
"""Agency kind -> default loopback port of its demo receiver."""
DEMO_POLICY = OutboundPolicy.from_env(extra=["127.0.0.1"])
"""The demo's receivers listen on loopback, which an operator's deployment never allows."""
DEMO_FIELDS = {
    "social_welfare": ["death_date", "name"],
    "tax_office": ["death_date", "name"],
    "land_office": ["death_date"],
}


def seed_demo_notify(
    session: Session, jurisdiction: str, receiver_urls: Mapping[str, str] | None = None
) -> list[SubscriptionView]:
    """Approved push subscriptions to death events for the three agencies of ``jurisdiction``;
    returns them with their secrets. A second call returns the existing ones unchanged."""
    urls = receiver_urls or {}
    result = []
    for kind, port in DEMO_AGENCY_KINDS.items():
        agency = f"{jurisdiction}.{kind}"
        existing = session.scalar(
            select(Subscription.id)
            .where(Subscription.agency_code == agency, Subscription.status == "approved")
            .order_by(Subscription.id)
        )
        if existing is not None:
            view = get_subscription(session, existing, with_secret=True)
            if view is not None and "death" in view.event_kinds:
                result.append(view)
                continue
        view = request_subscription(
            session,
            SubscriptionRequest(
                agency_code=agency,
                event_kinds=["death"],
                legal_basis="household-registration-act",
                fields=DEMO_FIELDS[kind],
                mode="push",
                webhook_url=urls.get(kind, f"http://127.0.0.1:{port}/webhook"),
                purpose="death-notification",
                jurisdiction=jurisdiction,
            ),
            requested_by=f"demo:{agency}",
            policy=DEMO_POLICY,
        )
        approved = approve_subscription(
            session, view.id, f"demo:{OWNER_AGENCY}.owner", OWNER_AGENCY, "demo"
        )
        result.append(replace(approved, secret=view.secret))
    return result
