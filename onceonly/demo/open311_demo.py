"""The demo's Open311 side: one API key for 臺北市 (kept in the data directory so every run
prints the same one) and a few service requests in the demo's cities, each a case in the
owning agency's queue."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from onceonly.config import Settings
from onceonly.db import make_engine, make_session_factory, transaction
from onceonly.errors import Problem
from onceonly.open311 import keys, service
from onceonly.open311.models import ServiceRequest
from onceonly.open311.service import Filer

KEY_FILE = "open311-demo-key.txt"
CITY = "taipei-city"
REQUESTS: tuple[tuple[str, str, dict[str, str], dict[str, list[str]], int], ...] = (
    (
        "taipei-city",
        "pothole",
        {
            "address_string": "臺北市大安區信義路四段1號前 慢車道",
            "lat": "25.0339",
            "long": "121.5436",
            "description": "機車道上有一個約半公尺的坑洞，下雨積水看不見。",
        },
        {"size": ["medium"], "lane": ["slow"]},
        3,
    ),
    (
        "taipei-city",
        "streetlight-out",
        {
            "address_string": "臺北市中正區重慶南路一段與衡陽路口",
            "description": "整晚不亮，已經三天。",
            "email": "reporter@example.tw",
        },
        {"light_state": ["dark"], "pole_number": ["0132-017"]},
        2,
    ),
    (
        "taipei-city",
        "illegal-parking",
        {
            "address_string": "臺北市信義區松壽路12號 消防通道",
            "description": "白色廂型車停在消防通道。",
        },
        {"vehicle_type": ["car"], "blocking": ["fire-lane"]},
        1,
    ),
    (
        "new-taipei-city",
        "garbage",
        {
            "address_string": "新北市板橋區文化路一段188巷口",
            "description": "舊沙發和床墊堆在巷口一週。",
        },
        {"waste_kind": ["bulky"]},
        4,
    ),
    (
        "tainan-city",
        "dengue-breeding-site",
        {
            "address_string": "臺南市中西區民族路二段空屋後院",
            "description": "後院很多積水的盆子和輪胎。",
        },
        {"site_kind": ["tyres"]},
        1,
    ),
    (
        "keelung-city",
        "stray-animal",
        {"address_string": "基隆市仁愛區愛三路 廟口夜市旁", "description": "一隻黃狗後腳受傷。"},
        {"animal": ["dog"], "injured": ["yes"]},
        2,
    ),
)


def _demo_key(session: Session, settings: Settings) -> str:
    path = settings.data_dir / KEY_FILE
    if path.exists():
        plain = path.read_text("utf-8").strip()
        try:
            keys.authenticate(session, plain, CITY, write=False)
            return plain
        except Problem:  # revoked, or from another database: issue a new one
            pass
    _, plain = keys.issue_key(
        session, jurisdiction=CITY, app_name="示範 App（onceonly demo）", issued_by="demo",
        contact="demo@example.tw", daily_writes=500, daily_reads=50000,
    )  # fmt: skip
    path.write_text(plain + "\n", "utf-8")
    os.chmod(path, 0o600)
    return plain


def seed(sessions: sessionmaker[Session], settings: Settings) -> str:
    """The demo key (made on the first run) and, once, the sample requests; returns the key."""
    with transaction(sessions) as session:
        plain = _demo_key(session, settings)
        app = keys.authenticate(session, plain, CITY, write=False)
        if session.scalar(select(func.count()).select_from(ServiceRequest)):
            return plain
        now = datetime.now(UTC)
        for city, code, fields, answers, days_ago in REQUESTS:
            service.create_request(
                session,
                jurisdiction=city,
                service_code=code,
                fields=fields,
                attributes=answers,
                filed_by=app
                if city == CITY
                else Filer(kind="hotline", name="demo-hotline", jurisdiction=city),
                now=now - timedelta(days=days_ago),
            )
    return plain


def seed_settings(settings: Settings) -> str:
    """:func:`seed` on the deployment ``settings`` describe (what ``onceonly demo`` runs)."""
    engine = make_engine(settings.resolved_database_url)
    try:
        return seed(make_session_factory(engine), settings)
    finally:
        engine.dispose()
