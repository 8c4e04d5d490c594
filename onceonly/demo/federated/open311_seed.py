"""One Open311 request routed between the federated demo's nodes (#21): a caller rings
臺北市's 1999 about a street light in 基隆市; 臺北市's node forwards it to the regional node,
which numbers and holds it, and keeps a pointer the hotline finds by the caller's phone."""

from __future__ import annotations

from sqlalchemy import select

from onceonly.db import make_engine, make_session_factory
from onceonly.demo.federated.cluster import FederationLayout
from onceonly.federation.remote import connect
from onceonly.open311 import federation as routing
from onceonly.open311 import service as open311
from onceonly.open311.models import ServiceRequest

CALLER_PHONE = "0900311999"
"""The demo caller's phone: type it into /hotline at 臺北市's node to find the request."""


def seed_routed_request(layout: FederationLayout) -> str:
    """The routed request's id, filed once (found again on later runs). The nodes must be
    running: the request travels over their signed peer channel."""
    taipei = layout.node("taipei")
    engine = make_engine(taipei.settings.resolved_database_url)
    remote = connect(taipei.settings, set())
    try:
        sessions = make_session_factory(engine)
        with sessions() as db:
            found = db.scalar(
                select(ServiceRequest.service_request_id).where(
                    ServiceRequest.phone == CALLER_PHONE,
                    ServiceRequest.held_by_node.is_not(None),
                )
            )
        if found:
            return str(found)
        view = routing.create_anywhere(
            sessions,
            remote,
            jurisdiction="keelung-city",
            service_code="streetlight-out",
            fields={
                "description": "仁愛區愛三路路燈整晚不亮（1999 由臺北市代為受理）",
                "address_string": "基隆市仁愛區愛三路1號",
                "last_name": "王",
                "first_name": "大同",
                "phone": CALLER_PHONE,
            },
            attributes={"light_state": ["dark"]},
            filer=open311.Filer(
                kind="hotline", name="tpe-hotline-clerk", jurisdiction="taipei-city"
            ),
            lang="zh-TW",
        )
        return view.service_request_id
    finally:
        if remote is not None:
            remote.close()
        engine.dispose()
