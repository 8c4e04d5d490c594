"""The review page: the merged city's household-registration or civil-affairs clerks decide
pairs of people, its land-office clerks pairs of parcels; other clerks are refused and the
platform's administrators see no pair (no tenant's personal data)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from onceonly.accounts.api_tokens import issue_api_token
from onceonly.accounts.users import create_user, get_user
from onceonly.consolidate import review
from onceonly.db import transaction
from onceonly.web.app import create_app
from tests.conftest import DemoEnv


def _token(app, username: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with transaction(app.state.sessions) as db:
        user = get_user(db, username)
        assert user is not None
        token, _ = issue_api_token(db, user, "test", 1)
    return {"Authorization": f"Bearer {token}"}


def test_review_page_and_decision(demo_env: DemoEnv) -> None:
    app = create_app(demo_env.settings)
    with transaction(app.state.sessions) as db:
        create_user(
            db,
            "tnn-civil-clerk",
            "a-long-password-1",
            "clerk",
            "tainan-city.civil_affairs",
            "臺南市民政局承辦人",
        )
        review.sync_queue(
            db,
            "plan-a",
            "tainan-city",
            [
                review.Candidate("county:1", "city:9", 0.7, {"name": "王小明"}, {"name": "王小銘"}),
            ],
        )
        item_id = review.pending(db, "plan-a")[0].id
    with TestClient(app) as client:
        page = client.get("/consolidate/review", headers=_token(app, "tnn-civil-clerk"))
        assert page.status_code == 200 and "王小銘" in page.text
        other = client.get("/consolidate/review", headers=_token(app, "tpe-udd-clerk"))
        assert other.status_code == 403
        refused = client.post(
            f"/consolidate/review/{item_id}",
            data={"decision": "match"},
            headers=_token(app, "tpe-udd-clerk"),
        )
        assert refused.status_code == 403
        done = client.post(
            f"/consolidate/review/{item_id}",
            data={"decision": "match"},
            headers=_token(app, "tnn-civil-clerk"),
            follow_redirects=False,
        )
        assert done.status_code == 303
        admin = client.get("/consolidate/review", headers=_token(app, "admin"))
        assert admin.status_code == 200 and "王小銘" not in admin.text
    with app.state.sessions() as db:
        assert review.decisions(db, "plan-a") == {("city:9", "county:1"): True}


def test_cli_review_records_decisions(database_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from onceonly.cli import app as cli
    from onceonly.consolidate.demo import generate_demo
    from onceonly.db import make_engine, make_session_factory

    data = generate_demo(tmp_path / "legacy", records=20)
    sessions = make_session_factory(make_engine(database_url))
    with transaction(sessions) as db:
        review.sync_queue(db, "tainan-merger-demo", "tainan-city", [
            review.Candidate("county:1", "city:1", 0.6, {"name": "甲"}, {"name": "乙"}),
            review.Candidate("county:2", "city:2", 0.5, {"name": "丙"}, {"name": "丙"}),
        ])  # fmt: skip
    result = CliRunner(env={"ONCEONLY_DATABASE_URL": database_url, "COLUMNS": "200"}).invoke(
        cli,
        ["consolidate", "review", str(data.plan), "--as", "tnn-civil-clerk", "--lang", "en"],
        input="y\nn\n",
    )
    assert result.exit_code == 0, result.output
    with sessions() as db:
        assert review.decisions(db, "tainan-merger-demo") == {
            ("city:2", "county:2"): True,  # closest to 0.5 is shown first
            ("city:1", "county:1"): False,
        }


def test_a_parcel_pair_shows_its_own_fields_and_asks_about_parcels(demo_env: DemoEnv) -> None:
    app = create_app(demo_env.settings)
    parcel_a = {"section": "大灣段", "parcel_no": "0123-0004", "area_m2": 330.58}
    parcel_b = {"section": "大灣段", "parcel_no": "0123-0004", "area_m2": 330.6}
    with transaction(app.state.sessions) as db:
        review.sync_queue(db, "land-a", "tainan-city", [
            review.Candidate("county:1", "city:9", 0.7, {"name": "王小明"}, {"name": "王小銘"}),
            review.Candidate("county_land:1", "city_land:2", 0.6, parcel_a, parcel_b),
        ])  # fmt: skip
    with TestClient(app) as client:
        land = client.get("/consolidate/review?lang=en", headers=_token(app, "tnn-land-clerk"))
        household = client.get("/consolidate/review?lang=en", headers=_token(app, "tnn-hh-clerk"))
        platform = client.get("/consolidate/review?lang=en", headers=_token(app, "admin"))
        elsewhere = client.get("/consolidate/review", headers=_token(app, "tpe-land-clerk"))
    assert land.status_code == household.status_code == 200
    assert "1 pending" in land.text and "1 pending" in household.text, "counts are of your pairs"
    (parcel,) = land.text.split("Match probability")[1:]
    assert "Same parcel" in parcel and "330.6" in parcel and ">name<" not in parcel
    (person,) = household.text.split("Match probability")[1:]
    assert "Same person" in person and "parcel_no" not in person and "王小銘" in person
    assert platform.status_code == 200
    assert "王小銘" not in platform.text and "330.6" not in platform.text
    assert "1 pending" not in platform.text, "not even other tenants' counts"
    assert elsewhere.status_code == 200 and "王小銘" not in elsewhere.text


def test_a_pair_names_its_places_and_a_fix_its_fields_in_words(demo_env: DemoEnv) -> None:
    app = create_app(demo_env.settings)
    person = {
        "name": "陳月娟",
        "jurisdiction": "tainan-city",
        "former_jurisdiction": "tainan-county",
    }
    held = {
        **person,
        "birth_date": None,
        review.HELD: [
            {
                "field": "birth_date",
                "check": "not_nullable",
                "value": "",
                "zh": "出生日期：必填欄位缺值",
                "en": "Date of birth: required value missing",
            }
        ],
    }
    with transaction(app.state.sessions) as db:
        review.sync_queue(
            db,
            "plan-w",
            "tainan-city",
            [review.Candidate("county:35", "county:34", 0.9998, held, person)],
        )
        item_id = review.pending(db, "plan-w")[0].id
    clerk = _token(app, "tnn-hh-clerk")
    with TestClient(app) as client:
        fixed = client.post(
            f"/consolidate/review/{item_id}/fix",
            data={"record_id": "county:35", "fix.birth_date": "民國57年8月6日"},
            headers=clerk,
            follow_redirects=False,
        )
        assert fixed.status_code == 303
        page = client.get("/consolidate/review", headers=clerk).text
        english = client.get("/consolidate/review?lang=en", headers=clerk).text
    pair = page.split("review-pair", 1)[1]
    assert '<th scope="row">戶籍所在縣市</th><td>臺南市</td><td>臺南市</td>' in pair
    assert '<th scope="row">改制前縣市</th><td>臺南縣</td><td>臺南縣</td>' in pair
    assert "已補正，下次執行時載入：出生日期：民國57年8月6日" in pair
    assert "tainan-city" not in pair and "birth_date=" not in pair
    assert "<td>Tainan City</td>" in english
    assert "released to the next load: Date of birth: 民國57年8月6日" in english


def test_a_held_back_record_shows_why_and_its_clerk_fixes_it(demo_env: DemoEnv) -> None:
    app = create_app(demo_env.settings)
    held = {
        "name": "陳月娟",
        "birth_date": None,
        review.HELD: [
            {
                "field": "birth_date",
                "check": "not_nullable",
                "value": "",
                "zh": "birth_date：必填欄位未填",
                "en": "birth_date: a required value is missing",
            }
        ],
    }
    with transaction(app.state.sessions) as db:
        review.sync_queue(
            db,
            "plan-h",
            "tainan-city",
            [review.Candidate("county:35", "county:34", 0.9998, held, {"name": "陳月娟"})],
        )
        item_id = review.pending(db, "plan-h")[0].id
    clerk = _token(app, "tnn-hh-clerk")
    with TestClient(app) as client:
        page = client.get("/consolidate/review", headers=clerk)
        assert page.status_code == 200
        assert "必填欄位未填" in page.text and 'name="fix.birth_date"' in page.text
        form = {"record_id": "county:35", "fix.birth_date": "民國57年8月6日"}
        other = client.post(
            f"/consolidate/review/{item_id}/fix", data=form, headers=_token(app, "tpe-udd-clerk")
        )
        assert other.status_code == 403
        wrong = client.post(
            f"/consolidate/review/{item_id}/fix",
            data={"record_id": "county:35", "fix.name": "王"},
            headers=clerk,
        )
        assert wrong.status_code == 422 and "name" in wrong.text
        partner = client.post(
            f"/consolidate/review/{item_id}/fix",
            data={"record_id": "county:34", "fix.birth_date": "1968-08-06"},
            headers=clerk,
        )
        assert partner.status_code == 422  # the partner is not held back
        done = client.post(
            f"/consolidate/review/{item_id}/fix", data=form, headers=clerk, follow_redirects=False
        )
        assert done.status_code == 303
    with app.state.sessions() as db:
        assert review.fixes(db, "plan-h") == {"county:35": {"birth_date": "民國57年8月6日"}}
        review.sync_queue(  # a rerun refreshes the pair's values but keeps the fix
            db,
            "plan-h",
            "tainan-city",
            [review.Candidate("county:35", "county:34", 0.9998, held, {"name": "陳月娟"})],
        )
        assert review.fixes(db, "plan-h") == {"county:35": {"birth_date": "民國57年8月6日"}}


def test_a_pair_elsewhere_is_answered_like_one_that_does_not_exist(demo_env: DemoEnv) -> None:
    """A reviewer of another government (or of the other entity) cannot tell a pair waiting
    there from an id never issued: both are "no such pair", and nothing is decided."""
    app = create_app(demo_env.settings)
    with transaction(app.state.sessions) as db:
        review.sync_queue(db, "plan-e", "tainan-city", [
            review.Candidate("county:1", "city:9", 0.7, {"name": "王小明"}, {"name": "王小銘"}),
        ])  # fmt: skip
        item_id = review.pending(db, "plan-e")[0].id
    answers = {}
    with TestClient(app) as client:
        for who, target in (
            ("tpe-land-clerk", item_id),  # a reviewer in 臺北市
            ("tnn-land-clerk", item_id),  # 臺南市's land office: parcels only
            ("tpe-land-clerk", item_id + 1000),  # no such pair
        ):
            for path in (f"/consolidate/review/{target}", f"/consolidate/review/{target}/fix"):
                response = client.post(
                    path,
                    data={"decision": "match", "record_id": "county:1", "fix.name": "甲"},
                    headers=_token(app, who),
                )
                body = response.json()
                answers[(who, target, path.endswith("fix"))] = (
                    response.status_code,
                    body["title"],
                    body["detail"].replace(str(target), "#"),
                )
    assert len(set(answers.values())) == 1, answers
    assert next(iter(answers.values()))[0] == 404
    with app.state.sessions() as db:
        assert review.decisions(db, "plan-e") == {}
