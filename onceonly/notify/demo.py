"""Demo subscriptions: the agencies the seed's Kaohsiung platform tells once a citizen moves,
changes name, marries, divorces, is born or dies (land office, tax office, social welfare of
the demo jurisdiction; motor vehicles, health insurance and labour insurance nationally),
each for the events it needs and only the fields it may see, pushed to local demo receivers.

The demo starts one reference receiver per agency (``onceonly notify receiver`` or
``uvicorn --factory onceonly.notify.receiver:app_from_env``) with the secret returned here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from onceonly.notify.kinds import fields_of
from onceonly.notify.models import Subscription
from onceonly.notify.subscriptions import (
    OWNER_AGENCY,
    SubscriptionRequest,
    SubscriptionView,
    approve_subscription,
    get_subscription,
    move_webhook,
    request_subscription,
)
from onceonly.outbound import OutboundPolicy

MOVES = ("address_change", "move_out", "move_in")
ADDRESS_FIELDS = (
    "new_address",
    "old_address",
    "moved_on",
    "moved_out_on",
    "moved_in_on",
    "to_jurisdiction",
    "from_jurisdiction",
)


@dataclass(frozen=True)
class DemoSubscriber:
    key: str
    """The agency kind; ``{jurisdiction}.{key}`` for a local agency."""
    port: int
    """Default loopback port of its demo receiver."""
    kinds: tuple[str, ...]
    fields: tuple[str, ...]
    legal_basis: str
    purpose: str
    agency: str | None = None
    """A national agency's code (told about every jurisdiction); ``None`` for a local one."""

    def agency_code(self, jurisdiction: str) -> str:
        return self.agency or f"{jurisdiction}.{self.key}"

    def approved_fields(self) -> list[str]:
        """Only fields the kinds carry (the subscription check refuses any other)."""
        allowed = fields_of(self.kinds)
        return [f for f in self.fields if f in allowed]


DEMO_SUBSCRIBERS: tuple[DemoSubscriber, ...] = (
    DemoSubscriber(
        "social_welfare",
        8811,
        ("birth", "death", *MOVES, "marriage", "divorce", "contact_details"),
        (
            "death_date",
            "name",
            "birth_date",
            "mother_national_id",
            "father_national_id",
            "marriage_date",
            "divorce_date",
            "spouse_national_id",
            "phone",
            "email",
            *ADDRESS_FIELDS,
        ),
        "social-assistance-act",
        "社會救助與福利補助之資格（家戶人口、住所）隨戶籍異動更新",
    ),
    DemoSubscriber(
        "tax_office",
        8812,
        ("death", "name_change", *MOVES, "marriage", "divorce", "mailing_address"),
        (
            "death_date",
            "name",
            "new_name",
            "old_name",
            "marriage_date",
            "divorce_date",
            "spouse_national_id",
            "mailing_address",
            *ADDRESS_FIELDS,
        ),
        "tax-collection-act-art33",
        "稅籍資料（地價稅、房屋稅、牌照稅）送達地址、納稅義務人姓名與遺產稅",
    ),
    DemoSubscriber(
        "land_office",
        8813,
        ("death", "name_change", *MOVES),
        ("death_date", "new_name", "old_name", *ADDRESS_FIELDS),
        "land-registration-rules",
        "登記名義人住址、姓名變更登記與繼承登記通知",
    ),
    DemoSubscriber(
        "motor_vehicles",
        8814,
        ("death", "name_change", *MOVES, "mailing_address"),
        ("death_date", "new_name", "old_name", "mailing_address", *ADDRESS_FIELDS),
        "road-traffic-safety-rules",
        "車籍與駕籍之住址、姓名異動；死亡者車籍與駕照之註銷",
        agency="central.motor_vehicles",
    ),
    DemoSubscriber(
        "health_insurance",
        8815,
        (
            "birth",
            "death",
            "name_change",
            "move_out",
            "move_in",
            "mailing_address",
            "contact_details",
        ),
        (
            "birth_date",
            "mother_national_id",
            "father_national_id",
            "death_date",
            "new_name",
            "moved_out_on",
            "moved_in_on",
            "to_jurisdiction",
            "from_jurisdiction",
            "mailing_address",
            "phone",
            "email",
        ),
        "national-health-insurance-act",
        "全民健保投保資格：新生兒依附投保、死亡退保、跨縣市轉出轉入",
        agency="central.nhia",
    ),
    DemoSubscriber(
        "labour_insurance",
        8816,
        ("birth", "death", "name_change", "marriage", "mailing_address", "contact_details"),
        (
            "birth_date",
            "death_date",
            "new_name",
            "old_name",
            "marriage_date",
            "mailing_address",
            "phone",
            "email",
        ),
        "labor-insurance-act",
        "勞保生育、死亡給付之查核與被保險人姓名異動",
        agency="central.bli",
    ),
)
DEMO_AGENCY_KINDS: dict[str, int] = {s.key: s.port for s in DEMO_SUBSCRIBERS}
"""Agency kind -> default loopback port of its demo receiver."""
RECEIVER_PORT_OFFSET = 21
"""The demo served on port P runs its receivers on P+21, P+22, ... (its gateways on P+11...)."""


def demo_receiver_ports(port: int) -> dict[str, int]:
    """Agency kind -> its demo receiver's port when the demo serves on ``port``."""
    return {spec.key: port + RECEIVER_PORT_OFFSET + i for i, spec in enumerate(DEMO_SUBSCRIBERS)}


def demo_receiver_urls(port: int) -> dict[str, str]:
    """Agency kind -> its demo receiver's URL when the demo serves on ``port``."""
    return {kind: f"http://127.0.0.1:{p}/webhook" for kind, p in demo_receiver_ports(port).items()}


DEMO_POLICY = OutboundPolicy.from_env(extra=["127.0.0.1"])
"""The demo's receivers listen on loopback, which an operator's deployment never allows."""


def seed_demo_notify(
    session: Session,
    jurisdiction: str,
    receiver_urls: Mapping[str, str] | None = None,
    mode: str = "push",
) -> list[SubscriptionView]:
    """Approved subscriptions of the demo's agencies for ``jurisdiction`` (the national
    ones for every jurisdiction); returns them with their secrets. A second call returns the
    existing ones unchanged. ``receiver_urls`` maps an agency kind to its receiver's URL;
    ``mode="pull"`` (the federation demo, which runs no receivers) reads the feed instead."""
    urls = receiver_urls or {}
    result = []
    for spec in DEMO_SUBSCRIBERS:
        agency = spec.agency_code(jurisdiction)
        existing = session.scalar(
            select(Subscription.id)
            .where(Subscription.agency_code == agency, Subscription.status == "approved")
            .order_by(Subscription.id)
        )
        wanted = urls.get(spec.key, f"http://127.0.0.1:{spec.port}/webhook")
        if existing is not None:
            view = get_subscription(session, existing, with_secret=True)
            if view is not None and set(spec.kinds) <= set(view.event_kinds):
                if mode == "push" and view.webhook_url != wanted:  # served on other ports
                    view = move_webhook(session, view.id, wanted, policy=DEMO_POLICY)
                result.append(view)
                continue
        view = request_subscription(
            session,
            SubscriptionRequest(
                agency_code=agency,
                event_kinds=list(spec.kinds),
                legal_basis=spec.legal_basis,
                fields=spec.approved_fields(),
                mode=mode,
                webhook_url=wanted if mode == "push" else None,
                purpose=spec.purpose,
                jurisdiction=None if spec.agency else jurisdiction,
            ),
            requested_by=f"demo:{agency}",
            policy=DEMO_POLICY,
        )
        approved = approve_subscription(
            session, view.id, f"demo:{OWNER_AGENCY}.owner", OWNER_AGENCY, "demo"
        )
        result.append(replace(approved, secret=view.secret))
    return result
