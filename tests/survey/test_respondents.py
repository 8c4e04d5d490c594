"""Who may answer a wave, and whose answers count.

An attacker's review reproduced this against the demo: 臺北市's administrator opened a wave
for the labour office, made four clerk accounts, answered with each, waited for the office's
real clerk, closed the wave and subtracted the four known answers from the results (n = 5):
the clerk's every answer. Or, without new accounts, issued an API token for a real clerk and
answered in that clerk's name. Now a wave's list of accounts is fixed when it opens, only
those accounts answer, only from their own browser session, and results need five of them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from onceonly.accounts.api_tokens import hash_token
from onceonly.accounts.models import ApiToken
from onceonly.accounts.password_changes import set_password
from onceonly.accounts.password_rules import OPERATOR
from onceonly.accounts.principal import NODE_OPERATOR, Principal
from onceonly.accounts.tenancy import Scope
from onceonly.accounts.users import UserView, create_user, get_user, set_active
from onceonly.db import make_engine, make_session_factory, transaction
from onceonly.errors import Problem
from onceonly.survey import service as survey
from onceonly.survey.models import SurveyPool, SurveyWave
from tests.conftest import DemoEnv
from tests.counter.support import PASSWORD, Visitor

TAIPEI = Scope(tenant="taipei-city")
LABOUR = "taipei-city.labour"
SOCIAL = "taipei-city.social_welfare"
UDD = "taipei-city.urban_development"
ADMIN = "tpe-city-admin"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CLOSED = NOW + timedelta(days=15)
Visit = Callable[[str], Visitor]


@pytest.fixture
def factory(demo_env: DemoEnv) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(demo_env.settings.resolved_database_url)
    yield make_session_factory(engine)
    engine.dispose()


def _every_item(value: str) -> dict[str, str]:
    return {f"item-{item.code}": value for item in survey.load_instrument().items}


def _open_over_http(admin: Visitor, factory: sessionmaker[Session], agency: str) -> int:
    closes = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    opened = admin.post(
        "/survey/waves", {"title": "勞動局梯次", "agencies": agency, "closes_at": closes}
    )
    assert opened.status_code == 200 and "梯次已開啟" in opened.text
    with factory() as db:
        return survey.list_waves(db, TAIPEI)[0].id  # newest first


def _wave(factory: sessionmaker[Session], wave_id: int) -> survey.WaveView:
    with factory() as db:
        return survey.get_wave(db, wave_id, TAIPEI)


def _user(factory: sessionmaker[Session], username: str) -> UserView:
    with factory() as db:
        user = get_user(db, username)
    assert user is not None, username
    return user


def _issued_before(factory: sessionmaker[Session], username: str, issuer: str) -> str:
    """A token ``issuer`` issued for ``username`` when administrators still could."""
    plain = "oot_" + "s" * 43
    with transaction(factory) as db:
        db.add(
            ApiToken(
                user_id=_user(factory, username).id,
                name="survey",
                token_hash=hash_token(plain),
                prefix=plain[:10],
                created_by_id=_user(factory, issuer).id,
                expires_at=datetime.now(UTC) + timedelta(days=1),
            )
        )
    return plain


def _nothing_recorded(factory: sessionmaker[Session], wave_id: int) -> None:
    with factory() as db:
        assert survey.participation_count(db, wave_id) == 0
        pool = db.get(SurveyPool, wave_id)
        assert pool is not None and pool.entries == []


def test_puppets_made_after_the_wave_opened_cannot_answer_nor_unmask_the_clerk(
    visit: Visit, factory: sessionmaker[Session]
) -> None:
    """The attacker's sequence, step by step over HTTP, as the review ran it."""
    admin = visit(ADMIN)
    wave_id = _open_over_http(admin, factory, LABOUR)
    target = _user(factory, "tpe-labour-clerk")
    assert _wave(factory, wave_id).invited == {target.id}  # the office's clerks at opening

    puppets = []
    for n in range(4):
        made = admin.post(
            "/admin/users",
            {
                "username": f"puppet-{n}",
                "display_name": f"傀儡{n}",
                "role": "clerk",
                "agency_code": LABOUR,
                "password": PASSWORD,
            },
        )
        assert made.status_code == 200 and f"puppet-{n}" in made.text  # the account is made
        puppet = visit(f"puppet-{n}")  # the administrator's password is temporary, but
        own = {"new_password": f"puppet-{n}-own-2026", "new_password_again": f"puppet-{n}-own-2026"}
        changed = puppet.post("/account/password", {"current_password": PASSWORD, **own})
        assert changed.status_code == 200, changed.text  # its maker sets the puppet's "own"
        puppets.append(puppet)
        assert f'href="/survey/waves/{wave_id}"' not in puppet.get("/survey").text
        form = puppet.get(f"/survey/waves/{wave_id}")
        assert form.status_code == 403 and "不在本梯次的填答名單" in form.text
        refused = puppet.post(f"/survey/waves/{wave_id}", _every_item("5"))
        assert refused.status_code == 403
        assert "開啟時" in refused.text and "開啟後才建立" in refused.text  # says why, in words
    _nothing_recorded(factory, wave_id)
    puppet = puppets[0]
    english = puppet.client.post(
        f"/survey/waves/{wave_id}?lang=en",
        data={"csrf_token": puppet.csrf, **_every_item("5")},
        headers={"Accept": "application/json"},
    )
    assert english.status_code == 403 and english.json()["type"].endswith("not-on-list")
    assert "made or enabled later" in english.json()["detail"]
    _nothing_recorded(factory, wave_id)

    answered = visit("tpe-labour-clerk").post(f"/survey/waves/{wave_id}", _every_item("2"))
    assert answered.status_code == 200 and "已收到您的填答" in answered.text
    assert admin.post(f"/survey/waves/{wave_id}/close").status_code == 200

    data = admin.get(f"/survey/waves/{wave_id}/results.csv")
    assert data.status_code == 200
    assert list(csv.DictReader(io.StringIO(data.text))) == []  # nothing to subtract from
    shown = admin.get(f"/survey/waves/{wave_id}/results")
    assert "填答少於 5 份" in shown.text and 'id="table-overall"' not in shown.text
    with factory() as db:
        res = survey.results(db, survey.get_wave(db, wave_id, TAIPEI))
    assert res.suppressed and res.overall == {} and res.by_city == {} and res.by_kind == {}
    assert (res.invited, res.listed_respondents, res.respondents) == (1, 1, 1)


def test_a_token_issued_for_a_real_clerk_cannot_answer_in_their_name(
    visit: Visit, factory: sessionmaker[Session], demo_app: FastAPI
) -> None:
    """The variant without new accounts: the administrator issues an API token for a real
    clerk and answers with it; the clerk then found the wave "already answered". An
    administrator can no longer issue one (a person's tokens are the person's own), but one
    issued before may still be about until it is revoked: the survey refuses it too."""
    admin = visit(ADMIN)
    wave_id = _open_over_http(admin, factory, SOCIAL)
    issued = admin.client.post(
        "/api/v1/auth/tokens",
        json={"username": "tpe-social-clerk", "name": "survey"},
        headers={"X-CSRF-Token": admin.csrf, "Accept": "application/json"},
    )
    assert issued.status_code == 403, issued.text
    assert issued.json()["errors"][0]["code"] == "personal_account"
    bearer = {"Authorization": f"Bearer {_issued_before(factory, 'tpe-social-clerk', ADMIN)}"}
    with TestClient(demo_app) as api:
        refused = api.post(
            f"/survey/waves/{wave_id}",
            data=_every_item("5"),
            headers=bearer | {"Accept": "application/json"},
        )
        english = api.post(
            f"/survey/waves/{wave_id}?lang=en",
            data=_every_item("5"),
            headers=bearer | {"Accept": "application/json"},
        )
        form = api.get(f"/survey/waves/{wave_id}", headers=bearer | {"Accept": "text/html"})
    assert refused.status_code == 403, refused.text
    problem = refused.json()
    assert problem["type"].endswith("own-session-only") and "API 權杖" in problem["detail"]
    assert "required_roles" not in problem  # past the role check: the survey's own refusal
    assert english.status_code == 403 and "API token" in english.json()["detail"]
    assert form.status_code == 200 and 'id="answers"' not in form.text  # no form to post
    assert "請用您自己的帳號密碼登入" in form.text
    _nothing_recorded(factory, wave_id)

    clerk = visit("tpe-social-clerk")
    page = clerk.get(f"/survey/waves/{wave_id}")
    assert 'id="answers"' in page.text  # the real clerk still has the form: nothing answered
    answered = clerk.post(f"/survey/waves/{wave_id}", _every_item("3"))
    assert answered.status_code == 200 and "已收到您的填答" in answered.text


def test_only_the_accounts_own_session_answers(factory: sessionmaker[Session]) -> None:
    """A session is the account's own credential; a token (even one the account holds for
    itself) or any credential another account issued is refused, and nothing is written."""
    clerk = _user(factory, "tpe-udd-clerk")
    with transaction(factory) as db:
        wave = survey.open_wave(
            db,
            scope=TAIPEI,
            opened_by=ADMIN,
            title="憑證",
            agencies=[UDD],
            closes_at=NOW + timedelta(days=14),
            now=NOW,
        )

    def principal(method: str, issued_by: str | None) -> Principal:
        return Principal(
            clerk.id,
            clerk.username,
            clerk.display_name,
            "clerk",
            UDD,
            clerk.badge,
            method,
            token_id=7 if method == "token" else None,
            session_id=7 if method == "session" else None,
            issued_by=issued_by,
            issuer_badge="B-ADMIN1" if issued_by == ADMIN else None,
        )

    for method, issuer in (
        ("token", ADMIN),
        ("token", clerk.username),
        ("token", NODE_OPERATOR),
        ("session", ADMIN),
        ("session", None),
    ):
        who = principal(method, issuer)
        assert not survey.own_session(who), (method, issuer)
        with transaction(factory) as db, pytest.raises(Problem) as refused:
            survey.answer(db, wave, who, {"1": 5}, now=NOW)
        assert refused.value.status == 403 and refused.value.kind == "own-session-only"
        assert "本人" in refused.value.detail
    _nothing_recorded(factory, wave.id)
    with transaction(factory) as db:
        survey.answer(db, wave, principal("session", clerk.username), {"1": 5}, now=NOW)
    with factory() as db:
        assert survey.participation_count(db, wave.id) == 1


def test_the_list_is_the_active_clerks_at_opening_and_later_accounts_do_not_count(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as db:
        listed = [create_user(db, f"udd-{n}", None, "clerk", UDD, f"同仁{n}") for n in range(4)]
        away = create_user(db, "udd-away", None, "clerk", UDD, "留停")
        set_active(db, away.id, False, by="operator")
        create_user(db, "udd-owner", None, "owner", UDD, "資料管理者")
        wave = survey.open_wave(
            db,
            scope=TAIPEI,
            opened_by=ADMIN,
            title="名單",
            agencies=[UDD],
            closes_at=NOW + timedelta(days=14),
            now=NOW,
        )
        late = [create_user(db, f"late-{n}", None, "clerk", UDD, f"後來{n}") for n in range(4)]
        set_active(db, away.id, True, by="operator")
    udd = _user(factory, "tpe-udd-clerk")
    assert wave.invited == {udd.id, *(u.id for u in listed)}
    with factory() as db:  # kept with the wave, not worked out again when read
        row = db.get(SurveyWave, wave.id)
        assert row is not None and sorted(row.invited) == sorted(wave.invited)
        assert {u.username for u in survey.nonrespondents(db, wave)} == {
            "tpe-udd-clerk",
            *(u.username for u in listed),
        }
        assert survey.roster(db, wave).invited == 5
        assert survey.waves_to_answer(db, late[0].id, "clerk", UDD, NOW) == []

    for user in [*late, away]:
        with transaction(factory) as db, pytest.raises(Problem) as refused:
            survey.submit(
                db, wave, user_id=user.id, role="clerk", agency_code=UDD, answers={"1": 5}, now=NOW
            )
        assert refused.value.status == 403 and refused.value.kind == "not-on-list"
    _nothing_recorded(factory, wave.id)

    for user in listed:  # four of the list answer: below the threshold, nothing is shown
        with transaction(factory) as db:
            survey.submit(
                db, wave, user_id=user.id, role="clerk", agency_code=UDD, answers={"1": 4}, now=NOW
            )
    with factory() as db:
        res = survey.results(db, survey.get_wave(db, wave.id, TAIPEI), CLOSED)
    assert res.suppressed and res.listed_respondents == 4 and survey.results_csv_rows(res) == []
    with transaction(factory) as db:  # the fifth listed account: shown
        survey.submit(
            db, wave, user_id=udd.id, role="clerk", agency_code=UDD, answers={"1": 6}, now=NOW
        )
    with factory() as db:
        res = survey.results(db, survey.get_wave(db, wave.id, TAIPEI), CLOSED)
    assert not res.suppressed and res.overall["1"].n == 5 and res.min_cell == survey.MIN_CELL


def test_a_normal_wave_of_listed_clerks_shows_its_results_over_http(
    visit: Visit, factory: sessionmaker[Session]
) -> None:
    with transaction(factory) as db:
        for n in range(4):
            create_user(db, f"labour-{n}", PASSWORD, "clerk", LABOUR, f"同仁{n}")
    admin = visit(ADMIN)
    wave_id = _open_over_http(admin, factory, LABOUR)
    with transaction(factory) as db:
        create_user(db, "labour-late", PASSWORD, "clerk", LABOUR, "後來")

    clerk = visit("labour-0")
    form = clerk.get(f"/survey/waves/{wave_id}")
    assert form.status_code == 200 and "誰看得到什麼" in form.text
    assert "就已確定" in form.text and "共 5 個" in form.text  # the list, in words
    assert "至少 5 個帳號填答時才顯示" in form.text and ADMIN in form.text  # who sees what
    assert "開啟前 30 天內才建立" in form.text  # four were made just now (and the demo's)
    english = clerk.get(f"/survey/waves/{wave_id}?lang=en")
    assert "Who can see what" in english.text and "5 accounts" in english.text

    for username in ("tpe-labour-clerk", "labour-0", "labour-1", "labour-2", "labour-3"):
        done = visit(username).post(f"/survey/waves/{wave_id}", {"item-1": "4", "item-2": "x"})
        assert done.status_code == 200 and "已收到您的填答" in done.text, username
    late = visit("labour-late").post(f"/survey/waves/{wave_id}", {"item-1": "1"})
    assert late.status_code == 403
    admin.post(f"/survey/waves/{wave_id}/close")
    rows = list(csv.DictReader(io.StringIO(admin.get(f"/survey/waves/{wave_id}/results.csv").text)))
    overall = {r["item"]: r for r in rows if r["group"] == "all"}
    assert overall["1"]["n"] == "5" and overall["1"]["positive_pct"] == "100.0"
    assert overall["2"]["cannot_judge_pct"] == "100.0"
    page = admin.get(f"/survey/waves/{wave_id}/results")
    assert 'id="table-overall"' in page.text


def test_answers_kept_from_before_the_list_need_five_more_per_cell(
    factory: sessionmaker[Session],
) -> None:
    """A wave answered before lists were kept: the migration rebuilds its list from the
    accounts made by its opening, so the puppets made after are off it. Their answers stay in
    the anonymous tables; results then need five listed answers, and every cell shown must
    hold that many besides the unlisted ones."""
    with transaction(factory) as db:
        clerks = [create_user(db, f"old-{n}", None, "clerk", UDD, f"同仁{n}") for n in range(5)]
        wave = survey.open_wave(
            db,
            scope=TAIPEI,
            opened_by=ADMIN,
            title="舊梯次",
            agencies=[UDD],
            closes_at=NOW + timedelta(days=14),
            now=NOW,
        )
    puppets = clerks[:4]
    target = clerks[4]
    for user in clerks:
        with transaction(factory) as db:
            survey.submit(
                db,
                wave,
                user_id=user.id,
                role="clerk",
                agency_code=UDD,
                answers={"1": 5, "2": 5} if user in puppets else {"1": 2, "2": 1},
                now=NOW,
            )
    with transaction(factory) as db:  # as migration 0028 lists it: the puppets came later
        row = db.get(SurveyWave, wave.id)
        assert row is not None
        row.invited = [target.id, _user(factory, "tpe-udd-clerk").id]
    with factory() as db:
        res = survey.results(db, survey.get_wave(db, wave.id, TAIPEI), CLOSED)
    assert res.suppressed and (res.listed_respondents, res.unlisted) == (1, 4)
    assert res.overall == {} and survey.results_csv_rows(res) == []


def test_unlisted_answers_raise_the_floor_of_every_cell(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as db:
        clerks = [create_user(db, f"mix-{n}", None, "clerk", UDD, f"同仁{n}") for n in range(6)]
        wave = survey.open_wave(
            db,
            scope=TAIPEI,
            opened_by=ADMIN,
            title="混合",
            agencies=[UDD],
            closes_at=NOW + timedelta(days=14),
            now=NOW,
        )
    for n, user in enumerate(clerks):
        with transaction(factory) as db:
            answers = {"1": 4} if n == 0 else {"1": 4, "2": 3}
            survey.submit(
                db, wave, user_id=user.id, role="clerk", agency_code=UDD, answers=answers, now=NOW
            )
    with transaction(factory) as db:
        row = db.get(SurveyWave, wave.id)
        assert row is not None
        row.invited = [u.id for u in clerks[:5]]  # clerks[5] answered but is off the list
    with factory() as db:
        res = survey.results(db, survey.get_wave(db, wave.id, TAIPEI), CLOSED)
    assert not res.suppressed and (res.listed_respondents, res.unlisted) == (5, 1)
    assert res.shown(res.overall["1"]) and res.overall["1"].n == 6
    assert not res.shown(res.overall["2"])  # five answers, one of them perhaps a puppet's
    assert {r["item"] for r in survey.results_csv_rows(res)} == {"1"}
    assert res.min_cell == survey.MIN_CELL + 1


def test_an_account_someone_else_could_hold_cannot_answer(factory: sessionmaker[Session]) -> None:
    """Found by an attacker's review of the list: the administrator reset four listed clerks'
    passwords (or woke a dormant account just before opening), signed in as them, set an
    "own" password and answered, then read the fifth clerk's answers by subtraction. An
    account whose password someone else set, or that was enabled again, within RECENT_DAYS
    before opening or since cannot answer; one handed over long before can."""
    from onceonly.accounts.models import User

    opened = datetime.now(UTC)
    with transaction(factory) as db:
        reset, dormant, long_ago, untouched = (
            create_user(db, f"udd-h{n}", None, "clerk", UDD, f"同仁{n}") for n in range(4)
        )
        set_active(db, dormant.id, False, by="operator")
        set_active(db, dormant.id, True, by="operator")  # woken just before opening
        row = db.get(User, long_ago.id)
        assert row is not None
        row.handed_over_at = opened - timedelta(days=survey.RECENT_DAYS + 1)
        wave = survey.open_wave(
            db,
            scope=TAIPEI,
            opened_by=ADMIN,
            title="交接",
            agencies=[UDD],
            closes_at=opened + timedelta(days=14),
            now=opened,
        )
    with transaction(factory) as db:  # while the wave is open
        set_password(db, reset.username, "an-admins-choice-2026", by=OPERATOR)
    assert {reset.id, dormant.id, long_ago.id, untouched.id} <= wave.invited

    def own(user: UserView) -> Principal:
        return Principal(
            user.id,
            user.username,
            user.display_name,
            "clerk",
            UDD,
            user.badge,
            "session",
            session_id=1,
            issued_by=user.username,
        )

    for user in (reset, dormant):
        with transaction(factory) as db, pytest.raises(Problem) as refused:
            survey.answer(db, wave, own(user), {"1": 5})
        assert refused.value.status == 403 and refused.value.kind == "handed-over"
        assert "重新啟用" in refused.value.detail
    _nothing_recorded(factory, wave.id)
    with factory() as db:
        assert survey.roster(db, wave).handed == 2
    for user in (long_ago, untouched):
        with transaction(factory) as db:
            survey.answer(db, wave, own(user), {"1": 5})
    with factory() as db:
        assert survey.participation_count(db, wave.id) == 2
