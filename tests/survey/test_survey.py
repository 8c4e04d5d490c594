"""The staff survey: the instrument is the report's, each invited clerk answers once per
wave, answers cannot be joined to accounts in the database, and results are the report's
columns with small groups suppressed."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from onceonly.accounts.demo_accounts import DEMO_PASSWORD
from onceonly.accounts.tenancy import Scope
from onceonly.accounts.users import UserView, create_user, get_user
from onceonly.db import make_engine, make_session_factory, transaction
from onceonly.errors import Problem
from onceonly.survey import service as survey
from onceonly.survey.models import (
    SurveyParticipation,
    SurveyPool,
    SurveyResponse,
    SurveyWave,
)
from tests.conftest import DemoEnv
from tests.counter.support import Visitor

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CLOSED = NOW + timedelta(days=15)
"""After :func:`_wave`'s waves close: their results are shown."""
TAIPEI = Scope(tenant="taipei-city")
UDD = "taipei-city.urban_development"
SOCIAL = "taipei-city.social_welfare"
Visit = Callable[[str], Visitor]


@pytest.fixture
def factory(demo_env: DemoEnv) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(demo_env.settings.resolved_database_url)
    yield make_session_factory(engine)
    engine.dispose()


def _clerks(factory: sessionmaker[Session], agency: str, count: int) -> list[UserView]:
    prefix = agency.split(".")[1][:6]
    with transaction(factory) as db:
        return [
            create_user(db, f"s-{prefix}-{i}", None, "clerk", agency, f"同仁{i}")
            for i in range(count)
        ]


def _admin(factory: sessionmaker[Session], username: str, agency: str) -> None:
    with transaction(factory) as db:
        create_user(db, username, DEMO_PASSWORD, "admin", agency, "管理")


def _wave(factory: sessionmaker[Session], agencies: list[str]) -> survey.WaveView:
    with transaction(factory) as db:
        return survey.open_wave(
            db,
            scope=TAIPEI,
            opened_by="tpe-admin",
            title="2026 第一梯次",
            agencies=agencies,
            closes_at=NOW + timedelta(days=14),
            now=NOW,
        )


def _answer(
    factory: sessionmaker[Session], wave: survey.WaveView, user: UserView, **values: int
) -> None:
    with transaction(factory) as db:
        survey.submit(
            db,
            wave,
            user_id=user.id,
            role=user.role,
            agency_code=user.agency_code,
            answers={k.removeprefix("q").replace("_", "-"): v for k, v in values.items()},
            now=NOW,
        )


def test_the_instrument_is_the_reports_questionnaire() -> None:
    instrument = survey.load_instrument()
    items = {i.code: i for i in instrument.items}
    assert instrument.report_n == 715
    assert sum(c["valid"] for c in instrument.report_by_city.values()) == 715  # table 3-5
    assert items["25"].report == survey.ReportFigure("5-4", 17.9, 54.8, 27.3, 708)
    assert items["57"].report is not None and items["57"].report.n == 665
    assert {"66", "67", "68", "69", "70"} <= set(items)  # the merger items
    assert all(items[c].report is None for c in ("66", "70"))
    for item in instrument.items:
        if item.report:  # each row of the report's tables adds up to 100% give or take rounding
            total = item.report.negative + item.report.positive + item.report.cannot
            assert abs(total - 100) <= 0.2, item.code


def test_each_invited_clerk_answers_once_and_others_not_at_all(
    factory: sessionmaker[Session],
) -> None:
    (clerk,) = _clerks(factory, UDD, 1)
    (outsider,) = _clerks(factory, SOCIAL, 1)
    wave = _wave(factory, [UDD])
    with factory() as db:
        assert [u.username for u in survey.nonrespondents(db, wave)] == [
            "s-urban_-0",
            "tpe-udd-clerk",
        ]
    _answer(factory, wave, clerk, q1=5)
    with pytest.raises(Problem) as twice:
        _answer(factory, wave, clerk, q1=1)
    assert twice.value.status == 409 and twice.value.kind == "already-answered"
    with pytest.raises(Problem) as uninvited:
        _answer(factory, wave, outsider, q1=4)
    assert uninvited.value.status == 403
    late = survey.WaveView(**{**wave.__dict__, "closes_at": NOW - timedelta(seconds=1)})
    with pytest.raises(Problem) as closed:
        _answer(factory, late, accounts_view(factory, "tpe-udd-clerk"), q1=4)
    assert closed.value.status == 409
    with factory() as db:
        assert survey.participation_count(db, wave.id) == 1
        assert db.scalars(select(SurveyResponse)).all() == []  # pooled until BATCH answers
        pool = db.get(SurveyPool, wave.id)
        assert pool is not None and len(pool.entries) == 1
        assert [u.username for u in survey.nonrespondents(db, wave)] == ["tpe-udd-clerk"]


def accounts_view(factory: sessionmaker[Session], username: str) -> UserView:
    with factory() as db:
        user = get_user(db, username)
    assert user is not None
    return user


def test_no_join_from_answer_to_account_in_the_schema_or_the_rows(
    factory: sessionmaker[Session],
) -> None:
    clerks = _clerks(factory, UDD, 5) + _clerks(factory, SOCIAL, 5)
    wave = _wave(factory, [UDD, SOCIAL])
    arrival = []
    for n, clerk in enumerate(reversed(clerks)):  # arrival order is not account order
        _answer(factory, wave, clerk, q1=1 + n % 6, q2=n // 6)
        arrival.append((1 + n % 6, n // 6))
        if n == survey.BATCH - 2:
            with factory() as db:  # batched: nothing released before BATCH answers gather
                assert db.scalars(select(SurveyResponse)).all() == []

    with factory() as db:
        schema = inspect(db.get_bind())
        for table in ("survey_responses", "survey_answers", "survey_pools"):
            columns = schema.get_columns(table)
            names = {c["name"] for c in columns}
            assert not names & {"user_id", "username", "badge", "agency", "agency_code"}, table
            types = " ".join(str(c["type"]).upper() for c in columns)
            assert "DATE" not in types and "TIME" not in types, f"{table} carries a time"
            targets = {fk["referred_table"] for fk in schema.get_foreign_keys(table)}
            assert targets <= {"survey_waves", "survey_responses"}, table
        participation = {c["name"] for c in schema.get_columns("survey_participation")}
        assert participation == {"wave_id", "user_id"}  # who answered, and nothing else

        identifying = set()
        for clerk in clerks:
            identifying |= {str(clerk.id), clerk.username, clerk.badge, clerk.agency_code}
        rows = list(db.execute(text("SELECT * FROM survey_responses")).all())
        rows += db.execute(text("SELECT * FROM survey_answers")).all()
        for row in rows:
            for value in row:
                if isinstance(value, str):
                    assert value not in identifying, row
        # Read back in storage order, responses do not come in arrival order (the chance that
        # two shuffled batches of five both come back in order is 1 in 14,400).
        stored = db.execute(
            text(
                "SELECT r.token, a.item, a.value FROM survey_responses r "
                "JOIN survey_answers a ON a.response_token = r.token"
            )
        ).all()
        by_token: dict[str, dict[str, int]] = {}
        order: list[str] = []
        for token, item, value in stored:
            if token not in by_token:
                order.append(token)
            by_token.setdefault(token, {})[item] = value
        assert sorted(arrival) == sorted((by_token[t]["1"], by_token[t]["2"]) for t in order)
        storage = [r[0] for r in db.execute(text("SELECT token FROM survey_responses"))]
        seen = [(by_token[t]["1"], by_token[t]["2"]) for t in storage]
        assert seen != arrival
        if db.get_bind().dialect.name == "sqlite":
            for table in ("survey_responses", "survey_answers", "survey_participation"):
                sql = db.execute(
                    text("SELECT sql FROM sqlite_master WHERE name = :n"), {"n": table}
                ).scalar_one()
                assert "WITHOUT ROWID" in sql.upper(), table
        assert len(db.scalars(select(SurveyParticipation)).all()) == len(clerks)


def test_results_are_the_reports_columns_and_small_groups_are_suppressed(
    factory: sessionmaker[Session],
) -> None:
    udd = _clerks(factory, UDD, 5)
    social = _clerks(factory, SOCIAL, 5)
    wave = _wave(factory, [UDD, SOCIAL])
    with factory() as db:
        assert survey.results(db, wave, CLOSED).suppressed
    # item 1: 1,3 negative; 4,6 positive; 0 cannot judge; item 2 answered by two only
    for clerk, value in zip(udd, (1, 3, 4, 6, 0), strict=True):
        _answer(factory, wave, clerk, q1=value)
    for n, clerk in enumerate(social[:2]):
        _answer(factory, wave, clerk, q1=5, q2=2 + n)
    with factory() as db:
        res = survey.results(db, wave, CLOSED)
    assert not res.suppressed and res.respondents == 7
    one = res.overall["1"]
    assert (one.negative, one.positive, one.cannot, one.n) == (2, 4, 1, 7)
    assert one.pct(one.positive) == 57.1
    assert not res.shown(res.overall["2"])  # two answers: not shown
    # social welfare's 2 are suppressed, and so is urban development's 5: the overall cell
    # less urban development's would be social welfare's two answers
    assert res.by_kind == {}
    assert set(res.by_city) == {"taipei-city"}
    rows = survey.results_csv_rows(res)
    assert {(r["group"], r["group_code"], r["item"]) for r in rows} == {
        ("all", "", "1"),
        ("city", "taipei-city", "1"),
    }
    for clerk in social[2:]:
        _answer(factory, wave, clerk, q1=2)
    with factory() as db:
        res = survey.results(db, wave, CLOSED)
    assert set(res.by_kind) == {"urban_development", "social_welfare"}
    rows = survey.results_csv_rows(res)
    overall = rows[0]
    assert overall["n"] == 10 and overall["report_2011_positive_pct"] == 76.8
    assert overall["report_2011_n"] == 715


def test_answers_out_of_scale_are_refused_naming_the_item() -> None:
    instrument = survey.load_instrument()
    assert survey.parse_answers(instrument, {"item-1": "6", "item-59-2": "x", "item-3": ""}) == {
        "1": 6,
        "59-2": 0,
    }
    with pytest.raises(Problem) as bad:
        survey.parse_answers(instrument, {"item-1": "7", "item-2": "同意"}, "en")
    assert bad.value.status == 422
    assert [e.field for e in bad.value.errors] == ["item-1", "item-2"]
    with pytest.raises(Problem) as empty:
        survey.parse_answers(instrument, {}, "en")
    assert empty.value.errors[0].field == "answers"


def test_a_wave_is_only_for_the_tenants_own_agencies(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as db, pytest.raises(Problem) as other:
        survey.open_wave(
            db,
            scope=TAIPEI,
            opened_by="tpe-admin",
            title="x",
            agencies=["kaohsiung-city.social_welfare"],
            closes_at=NOW + timedelta(days=1),
            now=NOW,
        )
    assert other.value.status == 422 and other.value.errors[0].field == "agencies"
    wave = _wave(factory, [UDD])
    with factory() as db, pytest.raises(Problem) as hidden:
        survey.get_wave(db, wave.id, Scope(tenant="kaohsiung-city"))
    assert hidden.value.status == 404


def test_the_pages_open_a_wave_remind_answer_once_and_show_results(
    visit: Visit, factory: sessionmaker[Session]
) -> None:
    _admin(factory, "tpe-admin", "taipei-city.civil_affairs")
    admin = visit("tpe-admin")
    assert admin.post("/survey/waves", {"title": "", "closes_at": "2020-01-01"}).status_code == 422
    last = admin.post("/survey/waves", {"title": "x", "agencies": UDD, "closes_at": "9999-12-31"})
    assert last.status_code == 422 and 'id="f-open-closes_at-error"' in last.text  # was 500
    closes = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    opened = admin.post(
        "/survey/waves", {"title": "第一梯次", "agencies": UDD, "closes_at": closes}
    )
    assert opened.status_code == 200 and "梯次已開啟" in opened.text
    with factory() as db:
        (wave,) = survey.list_waves(db, TAIPEI)

    clerk = visit("tpe-udd-clerk")
    home = clerk.get("/survey")
    assert f'href="/survey/waves/{wave.id}"' in home.text and "尚未填答" in home.text
    form = clerk.get(f"/survey/waves/{wave.id}")
    assert form.status_code == 200 and "無法判斷" in form.text and "縣市合併後" in form.text
    bad = clerk.post(f"/survey/waves/{wave.id}", {"item-1": "9"})
    assert bad.status_code == 422 and 'id="item-1-error"' in bad.text
    done = clerk.post(f"/survey/waves/{wave.id}", {"item-1": "4", "item-66": "x"})
    assert done.status_code == 200 and "已收到您的填答" in done.text
    again = clerk.post(f"/survey/waves/{wave.id}", {"item-1": "1"})
    assert again.status_code == 409 and "每人每梯次限填一次" in again.text

    assert visit("tpe-social-clerk").get(f"/survey/waves/{wave.id}").status_code == 403
    results = admin.get(f"/survey/waves/{wave.id}/results")
    assert results.status_code == 200 and "填答少於 5 份" in results.text
    listing = admin.get("/survey")
    assert "第一梯次" in listing.text


def test_results_page_draws_charts_beside_tables_and_csv(
    visit: Visit, factory: sessionmaker[Session]
) -> None:
    _admin(factory, "tpe-admin", "taipei-city.civil_affairs")
    _admin(factory, "khh-admin", "kaohsiung-city.civil_affairs")
    clerks = _clerks(factory, UDD, 5)
    wave = _wave(factory, [UDD])
    for clerk in clerks:
        _answer(factory, wave, clerk, q1=5, q66=2)
    admin = visit("tpe-admin")
    page = admin.get(f"/survey/waves/{wave.id}/results")
    assert page.status_code == 200
    assert "<svg" in page.text and 'id="table-overall"' in page.text
    assert "76.8% / 17.8% / 5.5% / 715 (5-1)" in page.text  # the 2011 figures beside
    assert "100.0%" in page.text
    data = admin.get(f"/survey/waves/{wave.id}/results.csv")
    assert data.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(data.text)))
    assert {
        (r["group"], r["item"], r["positive_pct"], r["n"]) for r in rows if r["group"] == "all"
    } == {
        ("all", "1", "100.0", "5"),
        ("all", "66", "0.0", "5"),
    }
    assert visit("tpe-auditor").get(f"/survey/waves/{wave.id}/results").status_code == 200
    assert visit("khh-admin").get(f"/survey/waves/{wave.id}/results").status_code == 404
    assert visit("admin").get(f"/survey/waves/{wave.id}/results").status_code == 404


def _undisclosed(res: survey.Results) -> None:
    """No shown group cell, taken from the overall cell, leaves fewer than MIN_CELL answers."""
    for groups in (res.by_city, res.by_kind):
        for item, total in res.overall.items():
            shown = sum(cells[item].n for cells in groups.values() if item in cells)
            assert all(
                cells[item].n >= survey.MIN_CELL for cells in groups.values() if item in cells
            )
            assert total.n - shown == 0 or total.n - shown >= survey.MIN_CELL, (item, groups)


def test_a_withheld_group_is_not_the_overall_less_the_shown_ones(
    factory: sessionmaker[Session],
) -> None:
    """Five clerks of one agency kind and one of another: showing the five beside the overall
    gave the one clerk's answers away by subtraction (the overall less the five)."""
    udd = _clerks(factory, UDD, 5)
    lonely, *social = _clerks(factory, SOCIAL, 5)
    wave = _wave(factory, [UDD, SOCIAL])
    for clerk in udd:
        _answer(factory, wave, clerk, q1=4, q2=5)
    _answer(factory, wave, lonely, q1=1, q2=6)
    with factory() as db:
        res = survey.results(db, wave, CLOSED)
    assert res.shown(res.overall["1"]) and res.overall["1"].n == 6
    assert res.by_kind == {}
    _undisclosed(res)
    # per item too: a second agency kind of five, of whom one answers item 3 beside five others
    wave = _wave(factory, [UDD, SOCIAL])
    for clerk in udd:
        _answer(factory, wave, clerk, q1=4, q3=6)
    for n, clerk in enumerate([lonely, *social]):
        _answer(factory, wave, clerk, q1=2, **({"q3": 1} if n == 0 else {}))
    with factory() as db:
        res = survey.results(db, wave, CLOSED)
    assert set(res.by_kind) == {"urban_development", "social_welfare"}
    assert "3" in res.overall and "3" not in res.by_kind["urban_development"]
    _undisclosed(res)


def test_results_are_withheld_while_the_wave_takes_answers(
    factory: sessionmaker[Session],
) -> None:
    """Read before and after one clerk's answer, live results (pooled answers included)
    differed by exactly that answer; the tenant's administrator sees who has answered."""
    clerks = _clerks(factory, UDD, 7)
    wave = _wave(factory, [UDD])
    for clerk in clerks[:6]:
        _answer(factory, wave, clerk, q1=4)
    with factory() as db:
        before = survey.results(db, wave, NOW)
    _answer(factory, wave, clerks[6], q1=1)
    with factory() as db:
        after = survey.results(db, wave, NOW)
        final = survey.results(db, wave, CLOSED)
    for res in (before, after):
        assert res.suppressed and res.still_open
        assert res.overall == {} and res.by_kind == {} and res.by_city == {}
        assert survey.results_csv_rows(res) == []
    assert not final.suppressed and final.overall["1"].n == 7  # pooled answers count, closed


@given(st.text(max_size=12) | st.integers().map(str) | st.just("4" * 5000))
def test_a_scale_answer_is_one_to_six_or_x_else_a_422(raw: str) -> None:
    """``str.isdigit`` took ``²`` and ``４`` and ``int`` failed on 5,000 digits: a 500."""
    instrument = survey.load_instrument()
    try:
        answers = survey.parse_answers(instrument, {"item-1": raw})
    except Problem as problem:
        assert problem.status == 422
        assert [e.field for e in problem.errors] in (["item-1"], ["answers"])
    else:
        assert answers == {"1": 0 if raw.strip() == "x" else int(raw.strip())}


def test_a_huge_or_odd_digit_answer_is_a_422_on_the_page(
    visit: Visit, factory: sessionmaker[Session]
) -> None:
    wave = _wave(factory, [UDD])
    with transaction(factory) as db:  # open now, whatever today is
        row = db.get(SurveyWave, wave.id)
        assert row is not None
        row.closes_at = datetime.now(UTC) + timedelta(days=1)
    clerk = visit("tpe-udd-clerk")
    for raw in ("4" * 5000, "²", "４"):
        answered = clerk.post(f"/survey/waves/{wave.id}", {"item-1": raw})
        assert answered.status_code == 422 and 'id="item-1-error"' in answered.text


def test_an_administrator_ends_collection_early_and_then_reads_the_results(
    visit: Visit, factory: sessionmaker[Session]
) -> None:
    _admin(factory, "tpe-admin", "taipei-city.civil_affairs")
    _admin(factory, "khh-admin", "kaohsiung-city.civil_affairs")
    clerks = _clerks(factory, UDD, 5)
    now = datetime.now(UTC)
    with transaction(factory) as db:
        wave = survey.open_wave(
            db,
            scope=TAIPEI,
            opened_by="tpe-admin",
            title="提前截止",
            agencies=[UDD],
            closes_at=now + timedelta(days=14),
            now=now,
        )
    for clerk in clerks:
        with transaction(factory) as db:
            survey.submit(
                db, wave, user_id=clerk.id, role="clerk", agency_code=UDD, answers={"1": 5}
            )
    admin = visit("tpe-admin")
    withheld = admin.get(f"/survey/waves/{wave.id}/results")
    assert "截止後才顯示結果" in withheld.text and "要提前結束收件" in withheld.text
    assert 'id="table-overall"' not in withheld.text

    close = f"/survey/waves/{wave.id}/close"
    assert visit("khh-admin").post(close).status_code == 404  # another tenant's wave
    assert visit("tpe-auditor").post(close).status_code == 403
    assert admin.client.post(close, data={}, follow_redirects=False).status_code == 403  # CSRF
    closed = admin.post(close)
    assert closed.status_code == 200 and "已結束收件，現在可以查看結果" in closed.text
    assert "由 tpe-admin 提前結束收件" in closed.text
    again = admin.post(close)
    assert again.status_code == 200 and "這個梯次已經截止" in again.text

    shown = admin.get(f"/survey/waves/{wave.id}/results")
    assert 'id="table-overall"' in shown.text and "100.0%" in shown.text
    late = visit("tpe-udd-clerk").post(f"/survey/waves/{wave.id}", {"item-1": "1"})
    assert late.status_code == 409 and "本梯次已截止" in late.text
    clerk = accounts_view(factory, "tpe-udd-clerk")
    with transaction(factory) as db, pytest.raises(Problem) as on_its_way:
        # the wave as read before the close, so only the check under the pool's lock stops it
        survey.submit(db, wave, user_id=clerk.id, role="clerk", agency_code=UDD, answers={"1": 1})
    assert on_its_way.value.status == 409
    with factory() as db:
        assert survey.results(db, survey.get_wave(db, wave.id, TAIPEI)).respondents == 5
