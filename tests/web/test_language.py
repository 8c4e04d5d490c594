"""Which language a caller reads: ``?lang=``, then the ``lang`` cookie, then (for the API) the
``Accept-Language`` header an agency's system sends, then Traditional Chinese."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from onceonly.config import Settings
from onceonly.i18n import LANGUAGES, preferred_language
from onceonly.web.app import create_app

RANGES = ["en", "en-US", "EN-gb", "zh", "zh-TW", "zh-Hant-TW", "zh-CN", "fr", "ja", "*", "e", ""]
SUPPORTED = {"en": "en", "zh": "zh-TW"}


@given(st.text())
def test_any_header_gives_a_language_or_none(header: str) -> None:
    assert preferred_language(header) in (None, *LANGUAGES)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(RANGES),
            st.sampled_from([None, "1", "0.9", "0.5", "0.50", "0", "0.000", "2", "-1", "x", "nan"]),
        ),
        max_size=6,
    )
)
def test_the_highest_weighted_language_wins_the_first_of_equals(
    ranges: list[tuple[str, str | None]],
) -> None:
    header = ", ".join(tag if q is None else f"{tag};q={q}" for tag, q in ranges)
    best, best_weight = None, 0.0
    for tag, q in ranges:
        try:
            weight = 1.0 if q is None else float(q)
        except ValueError:
            weight = 0.0
        weight = weight if 0.0 <= weight <= 1.0 else 0.0
        language = SUPPORTED.get(tag.lower().split("-")[0])
        if language and weight > best_weight:
            best, best_weight = language, weight
    assert preferred_language(header) == best


@pytest.fixture
def client(settings: Settings) -> TestClient:
    return TestClient(create_app(settings))


def test_the_api_answers_in_the_language_its_caller_accepts(client: TestClient) -> None:
    """An agency's system says its language the HTTP way; it was ignored (Chinese only)."""

    def title(**kwargs: object) -> str:
        response = client.get("/api/v1/cases", **kwargs)  # type: ignore[arg-type]
        assert response.status_code == 401, response.text
        return str(response.json()["title"])

    chinese = title()
    english = title(headers={"Accept-Language": "fr;q=1, en-US;q=0.8, zh-TW;q=0.5"})
    assert english != chinese and english.isascii() and not chinese.isascii()
    assert title(headers={"Accept-Language": "zh-TW, en;q=0.9"}) == chinese
    assert title(headers={"Accept-Language": "en"}, params={"lang": "zh-TW"}) == chinese
    client.cookies.set("lang", "zh-TW")
    assert title(headers={"Accept-Language": "en"}) == chinese  # the reader's own choice
    client.cookies.clear()
    page = client.get("/", headers={"Accept-Language": "en"})
    assert page.status_code == 200 and 'lang="zh' in page.text  # a page keeps its Chinese


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
_BODY = st.fixed_dictionaries(
    {},
    optional={
        "case_id": _JSON,
        "application_item": _JSON,
        "subject": _JSON,
        "evidence": st.lists(st.fixed_dictionaries({}, optional={"type": _JSON}), max_size=2),
    },
)


@given(_BODY)
def test_every_refusal_of_a_body_is_in_our_words(body: dict[str, object]) -> None:
    """Pydantic says "Field required", "Input should be a valid string": in English only."""
    from pydantic import ValidationError

    from onceonly.exchange.schemas import EvidenceRequestIn
    from onceonly.validation_words import reason

    try:
        EvidenceRequestIn.model_validate(body)
    except ValidationError as refused:
        for error in refused.errors():
            chinese = reason(error, "zh-TW")
            assert chinese and "Input should" not in chinese and "Field required" not in chinese
            assert reason(error, "en")


@pytest.fixture
def clerk_token(settings: Settings) -> str:
    """An agency system's bearer token, acting as a clerk."""
    from onceonly.accounts.api_tokens import issue_api_token
    from onceonly.accounts.users import create_user
    from onceonly.db import make_engine, make_session_factory, transaction

    engine = make_engine(settings.resolved_database_url)
    with transaction(make_session_factory(engine)) as session:
        agency = "taipei-city.urban_development"
        user = create_user(session, "api-clerk", None, "clerk", agency, "C")
        token, _ = issue_api_token(session, user, "t", 1)
    engine.dispose()
    return token


def test_a_body_the_api_cannot_read_is_told_in_the_callers_language(
    client: TestClient, clerk_token: str
) -> None:
    token = clerk_token
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def errors(body: str, lang: str) -> list[dict[str, str]]:
        response = client.post("/api/v1/evidence-requests", content=body,
                               headers={**headers, "Accept-Language": lang})  # fmt: skip
        assert response.status_code == 422, response.text
        return list(response.json()["errors"])

    (garbled,) = errors("{bad", "zh-TW")
    assert garbled["field"] == "body" and "不是有效的 JSON" in garbled["reason"]
    (english,) = errors("{bad", "en")
    assert english["reason"].startswith("the body is not valid JSON")
    missing = {e["field"]: e["reason"] for e in errors('{"case_id": 5}', "zh-TW")}
    assert missing == {
        "case_id": "型別不符：應為文字",
        "application_item": "必填",
        "subject": "必填",
    }
    wrong = {e["field"]: e["reason"] for e in errors('{"case_id": 5}', "en")}
    assert wrong["case_id"] == "must be text" and wrong["subject"] == "is required"


def test_a_misspelt_key_is_named_in_words(client: TestClient, clerk_token: str) -> None:
    """``evidence[0].parmas`` was ignored, and the owner's default parameters answered."""
    body = {
        "case_id": "TPE-SW-115-000001",
        "application_item": "public-housing-low-income",
        "subject": "A123456789",
        "evidence": [{"type": "household_income_below", "parmas": {"threshold": 1}}],
    }
    for lang, words in (("zh-TW", "沒有這個欄位"), ("en", "is not a field here")):
        response = client.post(
            "/api/v1/evidence-requests",
            json=body,
            headers={"Authorization": f"Bearer {clerk_token}", "Accept-Language": lang},
        )
        assert response.status_code == 422, response.text
        (error,) = response.json()["errors"]
        assert (error["field"], error["reason"]) == ("evidence.0.parmas", words)


def test_a_body_of_many_unknown_keys_is_one_error_to_anyone(client: TestClient) -> None:
    """Each unknown key used to be an error of its own: 75,000 of them (under the 1 MiB
    limit) cost half a second and a 7.6 MB answer, and the citizen sign-in asks nobody's
    credentials."""
    body = {f"k{i}": 0 for i in range(75_000)}
    response = client.post("/api/v1/citizen/sign-in/complete", json=body)
    assert response.status_code == 422 and len(response.content) < 2_000, len(response.content)
    errors = {e["field"]: e["reason"] for e in response.json()["errors"]}
    assert errors["body"].startswith("有 75000 個不存在的欄位，例如 k0, k1, k2"), errors
    few = client.post("/api/v1/citizen/sign-in/complete", json={"k0": 0, "k1": 0})
    assert {e["field"] for e in few.json()["errors"]} >= {"k0", "k1"}  # a few: each named


def test_a_body_wrong_in_many_places_lists_the_first_fifty(
    client: TestClient, clerk_token: str
) -> None:
    asks = [{"type": "household_registration", **{f"x{k}": 0 for k in range(10)}}] * 20
    body = {"case_id": "C", "application_item": "I", "subject": "A123456789", "evidence": asks}
    response = client.post(
        "/api/v1/evidence-requests",
        json=body,
        headers={"Authorization": f"Bearer {clerk_token}", "Accept-Language": "en"},
    )
    assert response.status_code == 422, response.text
    *named, more = response.json()["errors"]
    assert len(named) == 50 and all(e["reason"] == "is not a field here" for e in named)
    assert more["field"] == "body" and more["reason"].startswith("150 more errors"), more


@given(st.dictionaries(st.text(min_size=1, max_size=6), st.integers(), max_size=40))
def test_unknown_keys_are_named_each_or_counted_in_one_error(extra: dict[str, int]) -> None:
    from pydantic import ValidationError

    from onceonly.exchange.schemas import EvidenceAsk
    from onceonly.validation_words import MAX_UNKNOWN_KEYS

    unknown = [key for key in extra if key not in EvidenceAsk.model_fields]
    try:
        EvidenceAsk.model_validate({**extra, "type": "household_registration"})
    except ValidationError as refused:
        kinds = [e["type"] for e in refused.errors()]
        if len(unknown) > MAX_UNKNOWN_KEYS:
            assert kinds == ["too_many_unknown_keys"]
        else:
            named = {e["loc"][0] for e in refused.errors() if e["type"] == "extra_forbidden"}
            assert named == set(unknown)
    else:
        assert not unknown
