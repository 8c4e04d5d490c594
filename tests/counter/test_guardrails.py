"""Guardrails at the counter, as a clerk meets them on the pages: nothing preselects 核准 while
evidence is missing; a second open case of the same item, or a citizen the register says has
died or does not hold, is warned about before anything is created; notes have a limit;
a scan must really be the file it claims and can be replaced; the relay list names each
agency once; a partner's revoked certificate is not "try again in a minute"."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from onceonly.cases import service
from onceonly.cases.models import Case, CaseEvent
from onceonly.cases.schemas import MAX_NOTE_CHARS
from onceonly.catalog import service as catalog
from onceonly.citizens.accesses import Access, AccessFilter, list_accesses
from onceonly.counter.pages import relay_targets
from onceonly.db import transaction
from onceonly.domain.national_id import make_national_id
from onceonly.exchange.schemas import EvidenceAsk, EvidenceResult, Reason
from onceonly.federation.remote import _cert_refused
from onceonly.i18n import t
from onceonly.pki.trust import CertificateRefused
from tests import scans
from tests.conftest import DemoEnv
from tests.counter.support import Visitor

ITEM = "public-housing-low-income"
PIECE = "is_low_income_household"
Visit = Callable[[str], Visitor]


def _opened(clerk: Visitor, subject: str, item: str = ITEM, **extra: str) -> str:
    response = clerk.open_case(item, subject, **extra)
    assert response.status_code == 200, response.text[:2000]
    return clerk.case_number(response)


def _upload(clerk: Visitor, number: str, data: bytes, content_type: str, name: str) -> Any:
    return clerk.client.post(
        f"/counter/cases/{number}/paper",
        data={"csrf_token": clerk.csrf, "evidence_type": PIECE},
        files={"file": (name, data, content_type)},
        headers={"Accept": "text/html"},
        follow_redirects=True,
    )


def _approve_radio(page: str) -> str:
    found = re.search(r'<input type="radio" id="decision-approved"[^>]*>', page)
    assert found, "no approve choice on the page"
    return found.group(0)


def _cases_of(app: FastAPI, subject: str) -> list[str]:
    with app.state.sessions() as db:
        return list(db.scalars(select(Case.number).where(Case.subject == subject)))


# --- the decision form ------------------------------------------------------------------------


def test_approve_is_never_preselected_and_is_off_while_evidence_is_missing(
    visit: Visit, demo_env: DemoEnv
) -> None:
    clerk = visit("tpe-udd-clerk")
    number = _opened(clerk, demo_env.sample("low_income_applicant"))
    # One piece on paper, the others not fetched: the case is gathering, evidence is missing.
    attached = _upload(clerk, number, scans.pdf(), "application/pdf", "低收證明.pdf")
    assert attached.status_code == 200, attached.text[:2000]
    radio = _approve_radio(attached.text)
    assert "checked" not in radio and "disabled" in radio
    assert "尚缺證明資料，還不能核准" in attached.text
    assert 'id="decision-rejected" name="decision" value="rejected" checked' not in attached.text

    complete = clerk.post(f"/counter/cases/{number}/evidence")
    radio = _approve_radio(complete.text)
    assert "disabled" not in radio and "checked" not in radio, "a decision is the clerk's act"
    unchosen = clerk.post(f"/counter/cases/{number}/decide", {"decision": "", "reason": "ok"})
    assert unchosen.status_code == 422 and "請選擇核准或駁回" in unchosen.text


# --- warnings before a case is opened ---------------------------------------------------------


def test_a_second_open_case_of_the_same_item_is_warned_about_before_it_is_made(
    visit: Visit, demo_env: DemoEnv, demo_app: FastAPI
) -> None:
    subject = demo_env.sample("low_income_applicant")
    clerk = visit("tpe-udd-clerk")
    first = _opened(clerk, subject)

    warned = clerk.open_case(ITEM, subject)
    assert warned.status_code == 409
    assert "這位民眾已有一件「低收入戶申請等候承租國宅」的案件尚未結案" in warned.text
    assert first in warned.text and "已確認，仍要開案" in warned.text
    assert _cases_of(demo_app, subject) == [first], "nothing is created before the clerk confirms"

    # Another item for the same citizen is no second case of the same thing.
    _opened(clerk, subject, "public-housing-general")

    confirmed = re.search(r'name="confirmed" value="([^"]+)"', warned.text)
    assert confirmed is not None and confirmed.group(1) == "open_case"
    second = _opened(clerk, subject, confirmed=confirmed.group(1))
    assert second != first
    page = clerk.get(f"/counter/cases/{second}").text
    assert "承辦人已看過提醒後開案：已有同一項目的未結案件" in page


def test_a_deceased_or_unregistered_citizen_is_warned_about(
    visit: Visit, demo_env: DemoEnv, demo_app: FastAPI
) -> None:
    clerk = visit("tpe-udd-clerk")
    deceased = demo_env.sample("deceased")
    warned = clerk.open_case(ITEM, deceased)
    assert warned.status_code == 409
    assert "戶籍資料記載這位民眾已於" in warned.text and "死亡" in warned.text
    assert _cases_of(demo_app, deceased) == []
    # Confirming another warning than the one due does not get past it.
    assert clerk.open_case(ITEM, deceased, confirmed="open_case").status_code == 409
    assert _cases_of(demo_app, deceased) == []

    nobody = make_national_id("A", 1, 9_999_998)
    warned = clerk.open_case(ITEM, nobody)
    assert warned.status_code == 409 and "戶籍資料查無這個身分證統一編號" in warned.text
    assert _cases_of(demo_app, nobody) == []
    assert len(_cases_of(demo_app, nobody)) == 0
    opened = clerk.open_case(ITEM, nobody, confirmed="not_registered")
    assert opened.status_code == 200 and len(_cases_of(demo_app, nobody)) == 1

    # A living, registered citizen with no open case goes straight through.
    _opened(clerk, demo_env.sample("taipei_home_owner"))


# --- notes ----------------------------------------------------------------------------------


def test_a_note_over_the_limit_is_refused_at_its_field_and_long_notes_wrap(
    visit: Visit, demo_env: DemoEnv
) -> None:
    clerk = visit("tpe-udd-clerk")
    number = _opened(clerk, demo_env.sample("low_income_applicant"))
    clerk.post(f"/counter/cases/{number}/evidence")
    too_long = "長" * (MAX_NOTE_CHARS + 1)
    refused = clerk.post(
        f"/counter/cases/{number}/relay",
        {"to_agency": "taipei-city.social_welfare", "note": too_long},
    )
    assert refused.status_code == 422
    assert 'id="f-relay-note-error"' in refused.text
    assert f"說明共 {MAX_NOTE_CHARS + 1} 字，上限為 {MAX_NOTE_CHARS} 字" in refused.text
    assert f'maxlength="{MAX_NOTE_CHARS}"' in refused.text

    reason = clerk.post(
        f"/counter/cases/{number}/decide", {"decision": "rejected", "reason": too_long}
    )
    assert reason.status_code == 422 and 'id="f-decide-reason-error"' in reason.text

    longest = "x" * MAX_NOTE_CHARS  # one unbroken word: must still wrap on the page
    decided = clerk.post(
        f"/counter/cases/{number}/decide", {"decision": "rejected", "reason": longest}
    )
    assert decided.status_code == 200
    assert f'<dd class="note-text">{longest}</dd>' in decided.text
    css = clerk.get("/static/site.css").text
    assert re.search(r"\.note-text\s*\{[^}]*overflow-wrap:\s*anywhere", css)


# --- scans ----------------------------------------------------------------------------------


def test_an_eight_byte_fake_png_is_refused_at_the_file_field(
    visit: Visit, demo_env: DemoEnv
) -> None:
    clerk = visit("tpe-udd-clerk")
    number = _opened(clerk, demo_env.sample("low_income_applicant"))
    refused = _upload(clerk, number, scans.FAKE_PNG, "image/png", "scan.png")
    assert refused.status_code == 422
    assert f'id="f-paper-{PIECE}-file-error"' in refused.text
    assert "內容不完整或已損毀" in refused.text
    accepted = _upload(clerk, number, scans.png(), "image/png", "scan.png")
    assert accepted.status_code == 200 and "已附紙本掃描檔 scan.png" in accepted.text


def test_a_scan_can_be_replaced_and_the_old_one_stays_in_the_timeline(
    visit: Visit, demo_env: DemoEnv, demo_app: FastAPI
) -> None:
    clerk = visit("tpe-udd-clerk")
    number = _opened(clerk, demo_env.sample("low_income_applicant"))
    first = scans.pdf(note=b"blurred")
    page = _upload(clerk, number, first, "application/pdf", "模糊.pdf").text
    assert "換上新的掃描檔：低收入戶證明" in page, "an attached scan offers its replacement"
    replaced = _upload(clerk, number, scans.jpeg(), "image/jpeg", "清楚.jpg")
    assert replaced.status_code == 200
    assert "已附紙本掃描檔 清楚.jpg" in replaced.text
    assert "換下原掃描檔 模糊.pdf" in replaced.text
    with demo_app.state.sessions() as db:
        details = [
            e.details
            for e in db.scalars(select(CaseEvent).where(CaseEvent.kind == "paper_attached"))
        ]
    old = hashlib.sha256(first).hexdigest()
    assert details[-1]["replaces"]["sha256"] == old
    stored = demo_env.settings.data_dir / "uploads" / number / f"{old}.pdf"
    assert stored.read_bytes() == first, "the replaced scan's file is kept"


# --- relay and federation ---------------------------------------------------------------------


def test_the_relay_list_names_each_agency_once_in_every_jurisdiction(
    demo_app: FastAPI,
) -> None:
    with demo_app.state.sessions() as db:
        for agency in catalog.list_agencies(db):
            targets = relay_targets(db, agency.code)
            for attribute in ("name_zh", "name_en"):
                names = [getattr(a, attribute) for a in targets]
                assert len(names) == len(set(names)), (agency.code, names)
        tainan = relay_targets(db, "tainan-city.urban_development")
        assert [a.name_zh for a in tainan].count("臺南市政府財政稅務局") == 1


@pytest.mark.parametrize("status", ["denied", "failed"])
def test_a_partners_revoked_certificate_says_contact_the_operator(
    visit: Visit, demo_env: DemoEnv, demo_app: FastAPI, status: str
) -> None:
    """Refused by the certificate check (denied) or in the TLS handshake (failed): either
    way the clerk reads who must act, not a rule to request nor a minute to wait."""
    clerk = visit("tpe-udd-clerk")
    number = _opened(clerk, demo_env.sample("low_income_applicant"))
    reason = Reason.model_validate(
        {"zh-TW": "拒絕連線：其節點憑證已被廢止", "en": "refused: certificate revoked"}
    )
    with transaction(demo_app.state.sessions) as db:
        service.record_evidence(
            db,
            service.CaseActor("tpe-udd-clerk", "taipei-city.urban_development"),
            number,
            [
                EvidenceResult(
                    evidence_type=PIECE,
                    dataset="welfare_status",
                    predicate=PIECE,
                    status=status,  # type: ignore[arg-type]
                    owners=["taipei-city.social_welfare"],
                    reason=reason,
                    cause="partner_certificate_revoked",
                )
            ],
        )
    page = clerk.get(f"/counter/cases/{number}").text
    assert "合作節點，其憑證已被廢止" in page and "請聯絡系統管理者" in page
    assert "分鐘後再試" not in page and "規則已核准，請再調閱一次" not in page


class RevokedPartner:
    """Another node that holds 臺北市政府社會局's data and whose certificate is revoked: what
    ``federation.remote`` answers for it (the cause travels with the result)."""

    OWNER = "taipei-city.social_welfare"

    def is_remote(self, owner: str) -> bool:
        return owner == self.OWNER

    def holders_elsewhere(self, dataset: str) -> dict[str, list[str]]:
        return {}

    def peer_keys(self) -> list[dict[str, Any]]:
        return []

    def forward(self, owner: str, **asked: Any) -> EvidenceResult:
        return _cert_refused(
            owner,
            EvidenceAsk.model_validate(asked["ask"]),
            "welfare_status",
            "federation.peer_cert_refused",
            CertificateRefused("cert_revoked", "keyCompromise"),
            "north-regional",
        )

    def close(self) -> None:
        pass


def test_a_revoked_partner_reached_through_the_exchange_reads_the_same(
    visit: Visit, demo_env: DemoEnv, demo_app: FastAPI
) -> None:
    demo_app.state.connect_remote = lambda settings, owners: RevokedPartner()
    clerk = visit("tpe-udd-clerk")
    number = _opened(clerk, demo_env.sample("low_income_applicant"))
    page = clerk.post(f"/counter/cases/{number}/evidence").text
    card = page.split(f'id="ev-{PIECE}"', 1)[1].split("</article>", 1)[0]
    assert "合作節點，其憑證已被廢止" in card and "請聯絡系統管理者" in card
    assert "分鐘後再試" not in card and "申請存取規則" not in card


def _bearer(app: FastAPI, username: str) -> dict[str, str]:
    from onceonly.accounts.api_tokens import issue_api_token
    from onceonly.accounts.users import get_user

    with transaction(app.state.sessions) as db:
        user = get_user(db, username)
        assert user is not None
        token, _ = issue_api_token(db, user, "tests", 1)
    return {"Authorization": f"Bearer {token}"}


def test_the_cases_api_gives_the_counters_warnings_before_opening(
    demo_env: DemoEnv, demo_app: FastAPI
) -> None:
    """``GET /api/v1/cases/warnings``: the same warnings as the counter's form, in words, for
    an API client to show before ``POST /api/v1/cases`` (which records what was gone past)."""
    from fastapi.testclient import TestClient

    headers = _bearer(demo_app, "tpe-udd-clerk")
    url = "/api/v1/cases/warnings"
    subject = demo_env.sample("taipei_home_owner")
    with TestClient(demo_app) as api:

        def warnings(who: str, lang: str = "zh-TW", item: str = ITEM) -> list[dict[str, Any]]:
            answer = api.get(
                url,
                params={"application_item": item, "subject": who, "lang": lang},
                headers=headers,
            )
            assert answer.status_code == 200, answer.text
            return list(answer.json()["warnings"])

        assert [w for w in warnings(subject) if w["kind"] == "open_case"] == []
        opened = api.post(
            "/api/v1/cases", json={"application_item": ITEM, "subject": subject}, headers=headers
        )
        assert opened.status_code == 201, opened.text
        number = opened.json()["number"]
        [second] = [w for w in warnings(subject) if w["kind"] == "open_case"]
        assert second["case_number"] == number and number in second["text"]
        assert "尚未結案" in second["text"]
        [english] = [w for w in warnings(subject, "en") if w["kind"] == "open_case"]
        assert "open" in english["text"] and "尚未結案" not in english["text"]

        deceased = demo_env.sample("deceased")
        before = _register_checks(demo_app, deceased)
        [died] = warnings(deceased)
        assert died["kind"] == "deceased" and "死亡" in died["text"]
        assert _register_checks(demo_app, deceased) == before + 1, "the look is audited"
        [shown] = _register_checks_shown(demo_app, deceased)
        assert shown.event_text == t("citizens.event.case.register_check", "en")
        assert shown.event_text != t("citizens.event.other", "en"), "said in words"
        nobody = make_national_id("A", 1, 9_999_997)
        assert [w["kind"] for w in warnings(nobody)] == ["not_registered"]

        # going past them is recorded in the case, as the counter's form records it
        gone_past = api.post(
            "/api/v1/cases",
            json={"application_item": ITEM, "subject": nobody, "acknowledged": ["not_registered"]},
            headers=headers,
        )
        assert gone_past.status_code == 201, gone_past.text
        with demo_app.state.sessions() as db:
            event = db.scalars(
                select(CaseEvent)
                .join(Case, Case.id == CaseEvent.case_id)
                .where(Case.subject == nobody, CaseEvent.kind == "opened")
            ).one()
        assert event.details["acknowledged"] == ["not_registered"]

        # bad input: a 422 naming each field; strangers: 401; unknown kinds refused
        bad = api.get(
            url, params={"application_item": "no-such-item", "subject": "A12345"}, headers=headers
        )
        assert bad.status_code == 422 and bad.headers["content-type"].startswith(
            "application/problem+json"
        )
        assert {e["field"] for e in bad.json()["errors"]} == {"subject", "application_item"}
        missing = api.get(url, params={"subject": subject}, headers=headers)
        assert missing.status_code == 422 and "application_item" in missing.text
        assert (
            api.get(url, params={"application_item": ITEM, "subject": subject}).status_code == 401
        )
        odd = api.post(
            "/api/v1/cases",
            json={"application_item": ITEM, "subject": subject, "acknowledged": ["whatever"]},
            headers=headers,
        )
        assert odd.status_code == 422 and "acknowledged" in odd.text
        assert url in api.get("/openapi.json").json()["paths"]


def test_warnings_refuse_an_item_the_agency_has_no_part_in(
    demo_env: DemoEnv, demo_app: FastAPI
) -> None:
    """The API's warnings answer what opening would: a labour office has no part in a
    public-housing application, so asking before opening names the field and why, and the
    register is not asked about a citizen for a case that could never be opened."""
    from fastapi.testclient import TestClient

    deceased = demo_env.sample("deceased")
    before = _register_checks(demo_app, deceased)
    with TestClient(demo_app) as api:
        params = {"application_item": ITEM, "subject": deceased, "lang": "en"}
        asked = api.get(
            "/api/v1/cases/warnings", params=params, headers=_bearer(demo_app, "tpe-labour-clerk")
        )
        opened = api.post(
            "/api/v1/cases",
            json={"application_item": ITEM, "subject": deceased},
            headers=_bearer(demo_app, "tpe-labour-clerk") | {"Accept-Language": "en"},
        )
    assert asked.status_code == 422, asked.text
    [error] = asked.json()["errors"]
    assert (error["field"], error["code"]) == ("application_item", "not_handled")
    assert "Urban development" in error["reason"]
    assert opened.status_code == 422 and opened.json()["errors"][0]["code"] == "not_handled"
    assert _register_checks(demo_app, deceased) == before


def test_warnings_tell_another_agencys_clerk_nothing(demo_env: DemoEnv, demo_app: FastAPI) -> None:
    """Found by an attacker's review: any clerk asking the warnings learned whether anyone was
    registered and when they died (the register asked with no case and no rule), and, item by
    item, which applications a citizen had open at other agencies of the city."""
    from fastapi.testclient import TestClient

    subject = demo_env.sample("taipei_home_owner")
    deceased = demo_env.sample("deceased")
    with TestClient(demo_app) as api:

        def warnings(username: str, who: str) -> list[dict[str, Any]]:
            answer = api.get(
                "/api/v1/cases/warnings",
                params={"application_item": ITEM, "subject": who},
                headers=_bearer(demo_app, username),
            )
            assert answer.status_code == 200, answer.text
            return list(answer.json()["warnings"])

        opened = api.post(
            "/api/v1/cases",
            json={"application_item": ITEM, "subject": subject},
            headers=_bearer(demo_app, "tpe-udd-clerk"),
        )
        assert opened.status_code == 201, opened.text
        assert [w["kind"] for w in warnings("tpe-udd-clerk", subject)] == ["open_case"]
        before = _register_checks(demo_app, deceased)
        for other in ("tpe-social-clerk", "kee-water-clerk"):
            assert warnings(other, subject) == [], other  # the case: as if there were none
            assert warnings(other, deceased) == [], other  # the register: not asked
        assert _register_checks(demo_app, deceased) == before, "nothing was read"
        assert [w["kind"] for w in warnings("tpe-udd-clerk", deceased)] == ["deceased"]


def _register_checks(app: FastAPI, subject: str) -> int:
    from onceonly.audit.models import AuditEntry

    with app.state.sessions() as db:
        return len(
            list(
                db.scalars(
                    select(AuditEntry.seq).where(
                        AuditEntry.event == "case.register_check", AuditEntry.subject == subject
                    )
                )
            )
        )


def _register_checks_shown(app: FastAPI, subject: str) -> list[Access]:
    """The register checks as the citizen's "who looked" page shows them."""
    with app.state.sessions() as db:
        found, _ = list_accesses(db, subject, AccessFilter(), "en")
    return [a for a in found if a.event == "case.register_check"]
