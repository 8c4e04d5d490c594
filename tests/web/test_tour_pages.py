"""The README tour's pages as the people of the tour read them: each role lands on its home,
every page has the one header (the person, their agency in words, sign-out) and footer, and
no page shows a catalog code, an exception or a time that is not labelled Taipei time.

The walk drives the tour through the pages as a browser would (forms, cookies, anti-forgery
tokens): a clerk opens a case, fetches its evidence, relays it; the receiver decides (the
citizen's e-mail cannot be sent: nothing listens on the mail port); the citizen signs in
with the demo card; the owner, the auditor and the administrators read their pages.
"""

from __future__ import annotations

import dataclasses
import re
import socket
from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from onceonly.accounts.homes import ROLE_HOMES
from onceonly.catalog import models as cm
from onceonly.catalog import service as catalog
from onceonly.citizens.cards import ensure_demo_pki
from onceonly.db import transaction
from onceonly.notify.demo import seed_demo_notify
from onceonly.notify.events import LifeEventIn, record_life_event
from tests.citizens.conftest import HOUSING_ITEM, Portal
from tests.conftest import DemoEnv, post_login
from tests.counter.support import Visitor

TAIPEI_LABEL = "（臺北時間）"
SILENT = {"script", "style", "code", "textarea"}
"""Elements whose text nobody reads as prose: scripts, and identifiers marked as code."""


class _Text(HTMLParser):
    """The text a reader sees: element text outside scripts and ``<code>``, plus the title."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._silent = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in SILENT:
            self._silent += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in SILENT and self._silent:
            self._silent -= 1

    def handle_data(self, data: str) -> None:
        if not self._silent and data.strip():
            self.parts.append(data.strip())


def visible_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return "\n".join(parser.parts)


@dataclasses.dataclass(frozen=True)
class Codes:
    """The catalog's codes a page must name in words instead."""

    agencies: frozenset[str]
    datasets: frozenset[str]
    legal_bases: frozenset[str]
    items: frozenset[str]
    fields: frozenset[str]

    def everything(self) -> dict[str, str]:
        kinds = {
            "agency": self.agencies,
            "dataset": self.datasets,
            "legal basis": self.legal_bases,
            "application item": self.items,
            "field": self.fields,
        }
        return {code: kind for kind, codes in kinds.items() for code in codes}


def catalog_codes(env: DemoEnv, sessions: object) -> Codes:
    with transaction(sessions) as db:  # type: ignore[arg-type]
        datasets = catalog.list_datasets(db)
        return Codes(
            agencies=frozenset(a.code for a in catalog.list_agencies(db)),
            datasets=frozenset(d.code for d in datasets),
            legal_bases=frozenset(db.scalars(select(cm.LegalBasis.code))),
            items=frozenset(db.scalars(select(cm.ApplicationItem.code))),
            # a field name with an underscore is unmistakably a code (national_id)
            fields=frozenset(f.name for d in datasets for f in d.fields if "_" in f.name)
            | {"_record_id"},
        )


_EXCEPTION = re.compile(r"\b\w*(?:Error|Exception)\b:?|Traceback")
_TIME = re.compile(r"(?<![\d:])\d{1,2}:\d{2}(?::\d{2})?(?![\d:])")


def reading_problems(html: str, codes: Codes) -> list[str]:
    """What a person must not read on a page: a code, an exception, UTC or an unlabelled time."""
    text = visible_text(html)
    problems = []
    for code, kind in codes.everything().items():
        shown = re.search(rf"(?<![\w.\-/]){re.escape(code)}(?![\w\-])", text)
        if shown:
            around = text[max(0, shown.start() - 30) : shown.end() + 30].replace("\n", " ")
            problems.append(f"{kind} code {code!r} shown as text: {around!r}")
    problems += [f"exception shown: {m.group(0)!r}" for m in _EXCEPTION.finditer(text)]
    if re.search(r"\bUTC\b|\bGMT\b", text):
        problems.append("a time in UTC")
    for found in _TIME.finditer(text):
        after = text[found.end() : found.end() + len(TAIPEI_LABEL)]
        if after != TAIPEI_LABEL:
            context = text[max(0, found.start() - 20) : found.end() + 12].replace("\n", " ")
            problems.append(f"time without its label: {context!r}")
    return problems


def header_problems(html: str, name: str | None, agency: str | None) -> list[str]:
    """The one header: the person's name and agency in words and a sign-out, once; the footer."""
    problems = []
    header = re.search(r'<header class="site">(.*?)</header>', html, re.S)
    if html.count('<header class="site">') != 1 or header is None:
        return ["not exactly one site header"]
    text = visible_text(header.group(1))
    if name is not None:
        if name not in text:
            problems.append(f"the header does not name {name}")
        if header.group(1).count('action="/logout"') != 1:
            problems.append("no single sign-out in the header")
    if agency is not None and agency not in text:
        problems.append(f"the header does not name the agency {agency}")
    footer = re.search(r'<footer class="site">(.*?)</footer>', html, re.S)
    if footer is None:
        problems.append("no site footer")
    else:
        for link in ('href="/privacy"', 'href="/accessibility"'):
            if link not in footer.group(1):
                problems.append(f"footer lacks {link}")
    return problems


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclasses.dataclass
class Tour:
    portal: Portal
    codes: Codes
    visitors: dict[str, Visitor]
    case: str

    def as_(self, username: str) -> Visitor:
        if username not in self.visitors:
            self.visitors[username] = Visitor(TestClient(self.portal.app)).sign_in(username)
        return self.visitors[username]


@pytest.fixture
def tour(demo_env: DemoEnv) -> Iterator[Tour]:
    mail_down = dataclasses.replace(
        demo_env, settings=demo_env.settings.model_copy(update={"smtp_port": _closed_port()})
    )
    portal = Portal(mail_down, ensure_demo_pki(mail_down.settings))
    codes = catalog_codes(demo_env, portal.app.state.sessions)
    walk = Tour(portal, codes, {}, "")
    udd = walk.as_("tpe-udd-clerk")
    opened = udd.open_case(HOUSING_ITEM, portal.nid, contact_email="citizen@example.org")
    assert opened.status_code == 200, opened.text[:500]
    walk.case = udd.case_number(opened)
    assert udd.post(f"/counter/cases/{walk.case}/evidence").status_code == 200
    moved = udd.post(
        f"/counter/cases/{walk.case}/relay",
        {"to_agency": "taipei-city.social_welfare", "note": "請核定"},
    )
    assert moved.status_code == 200, moved.text[:500]
    social = walk.as_("tpe-social-clerk")
    decided = social.post(
        f"/counter/cases/{walk.case}/decide", {"decision": "approved", "reason": "符合資格"}
    )
    assert decided.status_code == 200, decided.text[:500]
    with transaction(portal.app.state.sessions) as db:  # tell-us-once: the agencies told
        seed_demo_notify(db, "taipei-city")
        record_life_event(
            db,
            LifeEventIn(
                kind="death",
                national_id=portal.nid,
                jurisdiction="taipei-city",
                payload={"death_date": "2026-06-01"},
            ),
        )
    try:
        yield walk
    finally:
        for visitor in walk.visitors.values():
            visitor.client.close()
        portal.close()


STAFF_PAGES: list[tuple[str, str]] = [
    ("tpe-udd-clerk", "/counter"),
    ("tpe-udd-clerk", "/counter/cases"),
    ("tpe-udd-clerk", "/catalog"),
    ("tpe-udd-clerk", "/catalog/items/" + HOUSING_ITEM),
    ("tpe-udd-clerk", "/privacy"),
    ("tpe-udd-clerk", "/accessibility"),
    ("tpe-social-clerk", "/counter"),
    ("tpe-social-clerk", "/counter/cases/{case}"),
    ("tpe-social-clerk", "/counter/cases/{case}/print"),
    ("tpe-social-clerk", "/counter/cases/{case}/transcripts/household_registration/0"),
    ("tpe-hh-clerk", "/counter/tell-us-once"),
    ("tpe-social-owner", "/owners/rules"),
    ("tpe-auditor", "/audit/flags"),
    ("tpe-auditor", "/audit"),
    ("tpe-auditor", "/owners/alerts"),
    ("tpe-auditor", "/notify/citizens/{nid}"),
    ("tpe-auditor", "/stats"),
    ("tpe-auditor", "/survey"),
    ("admin", "/admin/users"),
    ("admin", "/admin/api-tokens"),
    ("admin", "/admin/notify"),
    ("tnn-hh-clerk", "/consolidate/review"),
]
CITIZEN_PAGES = ["/me", "/me/consents", "/me/previews", "/me/reports"]


def _agency_of(tour: Tour, username: str) -> tuple[str, str]:
    from onceonly.accounts.users import get_user

    with transaction(tour.portal.app.state.sessions) as db:
        user = get_user(db, username)
        assert user is not None, username
        agency = catalog.get_agency(db, user.agency_code)
        return user.display_name, agency.name_zh if agency else user.agency_code


def test_the_tour_pages_read_in_words_with_one_header_and_footer(tour: Tour) -> None:
    problems: list[str] = []
    for username, template in STAFF_PAGES:
        path = template.format(case=tour.case, nid=tour.portal.nid)
        response = tour.as_(username).get(path)
        if response.status_code != 200:
            problems.append(f"{path} as {username}: {response.status_code}")
            continue
        name, agency = _agency_of(tour, username)
        found = reading_problems(response.text, tour.codes)
        found += header_problems(response.text, name, agency)
        problems += [f"{path} as {username}: {p}" for p in found]
    citizen = tour.portal.client
    assert tour.portal.sign_in().status_code == 200
    for path in CITIZEN_PAGES:
        response = citizen.get(path)
        if response.status_code != 200:
            problems.append(f"{path} as the citizen: {response.status_code}")
            continue
        found = reading_problems(response.text, tour.codes)
        found += header_problems(response.text, "", None)
        problems += [f"{path} as the citizen: {p}" for p in found]
    for path in ("/", "/catalog", "/privacy", "/accessibility", "/login"):
        response = TestClient(tour.portal.app).get(path)
        found = reading_problems(response.text, tour.codes) + header_problems(
            response.text, None, None
        )
        problems += [f"{path} signed out: {p}" for p in found]
    assert problems == [], "\n".join(problems)


def test_a_message_that_could_not_be_sent_reads_as_a_sentence(tour: Tour) -> None:
    """The e-mail failed (nothing listens): the case page and printout say so in words, and
    the technical reason is on the administrators' page (the tenant's: it is their case)."""
    social = tour.as_("tpe-social-clerk")
    for path in (f"/counter/cases/{tour.case}", f"/counter/cases/{tour.case}/print"):
        page = social.get(path).text
        assert "通知民眾失敗" in page, path
        assert not _EXCEPTION.search(visible_text(page)), path
    with transaction(tour.portal.app.state.sessions) as db:
        from onceonly.accounts.users import create_user

        create_user(db, "tpe-admin", "onceonly-demo", "admin", "taipei-city.civil_affairs", "管理")
    admin_page = tour.as_("tpe-admin").get("/admin/notify").text
    assert tour.case in admin_page and "Connection refused" in admin_page


@pytest.mark.parametrize(("username", "role"), [
    ("tpe-udd-clerk", "clerk"),
    ("tpe-social-owner", "owner"),
    ("tpe-auditor", "auditor"),
    ("admin", "admin"),
    ("tpe-city-admin", "admin"),
])  # fmt: skip
def test_each_role_lands_on_its_home(demo_env: DemoEnv, username: str, role: str) -> None:
    from onceonly.web.app import create_app

    app = create_app(demo_env.settings)
    with TestClient(app, follow_redirects=False) as client:
        signed_in = post_login(client, {"username": username, "password": "onceonly-demo"})
        assert signed_in.status_code == 303
        assert signed_in.headers["location"] == ROLE_HOMES[role]
        front = client.get("/", headers={"Accept": "text/html"})
        assert front.status_code == 303 and front.headers["location"] == ROLE_HOMES[role]
        home = client.get(ROLE_HOMES[role], headers={"Accept": "text/html"})
        assert home.status_code == 200, home.text[:300]
        for link in sorted(set(re.findall(r'<a href="(/[^"?#]*)', home.text))):
            # a link offered to this role leads somewhere it may go (the platform operator
            # was offered a city's Open311 keys page, which refuses it)
            followed = client.get(link, headers={"Accept": "text/html"})
            assert followed.status_code not in (401, 403) and followed.status_code < 500, link
        asked = post_login(
            client, {"username": username, "password": "onceonly-demo", "next": "/catalog"}
        )
        assert asked.headers["location"] == "/catalog", "a page asked for still wins"
    app.state.engine.dispose()


def test_the_citizen_lands_on_their_own_page(tour: Tour) -> None:
    signed_in = tour.portal.sign_in()
    assert signed_in.status_code == 200 and signed_in.json()["redirect"] == ROLE_HOMES["citizen"]
    front = tour.portal.client.get("/", headers={"Accept": "text/html"}, follow_redirects=False)
    assert front.status_code == 303 and front.headers["location"] == "/me"


def test_the_checks_see_a_code_an_exception_utc_and_an_unlabelled_time() -> None:
    codes = Codes(
        agencies=frozenset({"taipei-city.social_welfare"}),
        datasets=frozenset({"household_registration"}),
        legal_bases=frozenset({"pdpa-art16"}),
        items=frozenset(),
        fields=frozenset({"national_id"}),
    )
    clean = (
        "<p>臺北市政府社會局 · 2026-06-30 10:00（臺北時間）</p>"
        "<code>taipei-city.social_welfare</code><input value='household_registration'>"
    )
    assert reading_problems(clean, codes) == []
    for bad in (
        "<p>taipei-city.social_welfare 傳遞至 臺北市政府社會局</p>",
        "<p>法源：pdpa-art16</p>",
        "<p>不能核准：household_registration</p>",
        "<td>national_id</td>",
        "<li>ConnectionRefusedError: [Errno 111] Connection refused</li>",
        "<p>2026-06-30 02:00 UTC</p>",
        "<p>2026-06-30 10:00</p>",
    ):
        assert reading_problems(bad, codes), bad


def test_an_auditor_is_told_of_the_agencies_outside_their_city(tour: Tour) -> None:
    """The page said "processed by all 6 agencies" above a table of 臺北市's three: the
    national agencies told (監理, 健保, 勞保) are another tenant's, so they are counted, not
    named."""
    page = tour.as_("tpe-auditor").get(f"/notify/citizens/{tour.portal.nid}")
    assert page.status_code == 200
    text = visible_text(page.text)
    assert "民眾的通報與各機關處理情形" in text and "我的通報" not in text
    assert re.search(r"另有 \d+ 個其他縣市或中央的機關也收到此通報", text), text


def test_a_visitor_finds_the_citizens_and_the_publics_pages_from_the_front_page(
    demo_env: DemoEnv,
) -> None:
    """The front page offered only the catalog, the API and staff sign-in: a citizen had no
    way to their own portal, nor anyone to the transcript check or the public statistics."""
    from onceonly.web.app import create_app

    with TestClient(create_app(demo_env.settings), follow_redirects=False) as anyone:
        for lang, words in (("zh-TW", "自然人憑證"), ("en", "sign in with your card")):
            front = anyone.get("/", params={"lang": lang}, headers={"Accept": "text/html"})
            assert front.status_code == 200 and words in front.text
            links = set(re.findall(r'<a href="(/[^"?#]*)', front.text.split("<main", 1)[1]))
            assert {"/citizen/login", "/verify", "/stats/public", "/login"} <= links
            for link in links:
                followed = anyone.get(link, headers={"Accept": "text/html"})
                assert followed.status_code == 200, (link, followed.status_code)
