"""The 1999 intake page on a stand-alone node (every demo city here): a hotline clerk finds
the caller's requests, reads the service's FAQ answer, files with the service's fields
(refusals re-shown by field), and transfers a call with its case to another city, keeping
its id. Other staff may not use it."""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlalchemy import select

from onceonly.cases.models import Case
from onceonly.db import make_engine, make_session_factory
from onceonly.open311.models import ServiceRequest
from tests.conftest import DemoEnv
from tests.counter.support import Visitor

CALLER = {"phone": "0912345678", "email": "caller@example.tw"}
STREETLIGHT = {
    "jurisdiction": "taipei-city",
    "service_code": "streetlight-out",
    "description": "忠孝東路口路燈整晚不亮",
    "address_string": "臺北市大安區忠孝東路四段1號",
    "attribute[light_state]": "dark",
    "last_name": "林",
    "first_name": "小明",
    **CALLER,
}


def _filed_id(page: str) -> str:
    found = re.search(r"已受理，案件編號 ([A-Z]-311-\d{3}-\d{6})", page)
    assert found, page[-3000:]
    return found.group(1)


def _case(env: DemoEnv, request_id: str) -> tuple[str, str, str | None]:
    engine = make_engine(env.settings.resolved_database_url)
    with make_session_factory(engine)() as db:
        row = db.scalar(
            select(ServiceRequest).where(ServiceRequest.service_request_id == request_id)
        )
        case = db.scalar(select(Case).where(Case.service_request_id == request_id))
        assert row is not None and case is not None
        found = (row.jurisdiction, case.agency, row.held_by_node)
    engine.dispose()
    return found


def test_a_hotline_clerk_lands_on_intake_files_finds_and_transfers(
    visit: Callable[[str], Visitor], demo_env: DemoEnv
) -> None:
    clerk = visit("tpe-hotline-clerk")
    home = clerk.get("/")
    assert str(home.url).endswith("/hotline") and "1999 市民服務專線受理" in home.text

    chosen = clerk.get("/hotline?jurisdiction=taipei-city&service=streetlight-out")
    assert "請記下燈桿上的編號" in chosen.text  # the FAQ answer, before filing
    assert "路燈狀況" in chosen.text and "處理期限：3 日" in chosen.text

    # a required attribute and the location missing: the form again, each field named
    refused = clerk.post(
        "/hotline/requests",
        {
            k: v
            for k, v in STREETLIGHT.items()
            if k not in ("attribute[light_state]", "address_string")
        },
    )
    assert refused.status_code == 400, refused.text[-2000:]
    assert "必答屬性" in refused.text and "須提供地點" in refused.text
    assert "忠孝東路口路燈整晚不亮" in refused.text  # what was typed is kept

    filed = clerk.post("/hotline/requests", STREETLIGHT)
    assert filed.status_code == 200, filed.text[-2000:]
    request_id = _filed_id(filed.text)
    assert request_id.startswith("A-311-")
    assert _case(demo_env, request_id)[1] == "taipei-city.public_works"
    queue = visit("tpe-pwd-clerk").get("/counter").text  # what the report is, in words
    assert "路燈故障" in queue and ">streetlight-out" not in queue

    found = clerk.get("/hotline", params={"phone": CALLER["phone"]})
    assert request_id in found.text and "處理中" in found.text and "臺北市政府工務局" in found.text
    assert "（臺北時間）" in found.text
    assert request_id in clerk.get("/hotline", params={"email": CALLER["email"]}).text
    assert request_id not in clerk.get("/hotline", params={"phone": "0987654321"}).text

    no_note = clerk.post(
        f"/hotline/requests/{request_id}/transfer",
        {"to_jurisdiction": "new-taipei-city", "note": " ", **CALLER},
    )
    assert no_note.status_code == 422 and "請寫下轉接說明" in no_note.text
    moved = clerk.post(
        f"/hotline/requests/{request_id}/transfer",
        {"to_jurisdiction": "new-taipei-city", "note": "路燈位於新北市境內", **CALLER},
    )
    assert moved.status_code == 200, moved.text[-2000:]
    assert f"案件 {request_id} 已轉接新北市，編號不變" in moved.text
    assert _case(demo_env, request_id) == ("new-taipei-city", "new-taipei-city.public_works", None)
    assert "新北市政府工務局" in moved.text

    # the hotline of the city the call left no longer holds it: only 新北市's 1999 may move it
    found = clerk.get("/hotline", params={"phone": CALLER["phone"]})
    assert f"/hotline/requests/{request_id}/transfer" not in found.text
    again = clerk.post(
        f"/hotline/requests/{request_id}/transfer",
        {"to_jurisdiction": "taipei-city", "note": "再轉回", **CALLER},
    )
    assert again.status_code == 403 and "只有新北市的 1999" in again.text
    assert _case(demo_env, request_id)[0] == "new-taipei-city"
    back = visit("nwt-hotline-clerk").post(
        f"/hotline/requests/{request_id}/transfer",
        {"to_jurisdiction": "taipei-city", "note": "地點其實在臺北市", **CALLER},
    )
    assert back.status_code == 200 and "已轉接臺北市" in back.text


def test_only_hotline_staff_use_the_intake_page(visit: Callable[[str], Visitor]) -> None:
    clerk = visit("tpe-udd-clerk")
    assert clerk.get("/hotline").status_code == 403
    assert clerk.post("/hotline/requests", STREETLIGHT).status_code == 403
