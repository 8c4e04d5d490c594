"""The dashboard names what each case was for: a service request's case by its service
type (路燈故障, Street light out), never by the code it keeps (``streetlight-out``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from onceonly.accounts import users as accounts
from onceonly.accounts.demo_accounts import DEMO_PASSWORD
from onceonly.db import transaction
from tests.counter.support import Visitor
from tests.stats.support import ITEM, TPE_UDD, add_case

Visit = Callable[[str], Visitor]
PERIOD = "since=2026-03-01&until=2026-03-15"


def _item_cells(page: str) -> set[str]:
    """The second column of the weekly tables: what the cases were for."""
    return {
        re.sub(r"<[^>]+>", "", cell).strip()
        for cell in re.findall(r"<tr><td>[^<]*</td><td>(.*?)</td>", page)
    }


def test_the_weekly_table_names_service_types(visit: Visit, factory: sessionmaker[Session]) -> None:
    opened = datetime(2026, 3, 3, 2, 0, tzinfo=UTC)
    with transaction(factory) as db:
        add_case(db, 1, TPE_UDD, opened, None, item="streetlight-out")
        add_case(db, 2, TPE_UDD, opened, None, item="dengue-breeding-site")
        add_case(db, 3, TPE_UDD, opened, None, item=ITEM)
        accounts.create_user(
            db, "tpe-admin", DEMO_PASSWORD, "admin", "taipei-city.civil_affairs", "管理"
        )
    admin = visit("tpe-admin")
    chinese = _item_cells(admin.get(f"/stats?{PERIOD}").text)
    assert {"路燈故障", "登革熱孳生源", "低收入戶申請等候承租國宅"} <= chinese, chinese
    english = _item_cells(admin.get(f"/stats?{PERIOD}&lang=en").text)
    assert {"Street light out", "Dengue mosquito breeding site"} <= english, english
    assert not {"streetlight-out", "dengue-breeding-site"} & (chinese | english)
