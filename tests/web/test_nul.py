"""Text with NUL (U+0000) is a 422 naming the field, on both databases, never a 500.

PostgreSQL refuses such text even in a comparison (the probe's fuzzing got 500s from
``?agency_kind=%00`` and JSON strings with ``\\u0000``); SQLite stores it silently.
"""

from __future__ import annotations

import pytest

from tests.web.conftest import ROLES, DemoClient


def _fields(answer: object) -> list[str]:
    assert answer.status_code == 422, answer.text  # type: ignore[attr-defined]
    assert answer.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    errors = answer.json()["errors"]  # type: ignore[attr-defined]
    assert {e["code"] for e in errors} == {"nul"}
    return [e["field"] for e in errors]


def test_nul_in_a_query_parameter_is_refused_naming_it(demo_client: DemoClient) -> None:
    answer = demo_client.client.get("/api/v1/catalog/application-items?agency_kind=a%00b")
    assert _fields(answer) == ["agency_kind"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"application_item": "x\u0000", "subject": "A123456789"}, "application_item"),
        (
            {"application_item": "x", "subject": "A1", "contact": {"n": ["ok", "\u0000"]}},
            "contact.n.1",
        ),
    ],
)
def test_nul_in_a_json_body_is_refused_naming_the_field(
    demo_client: DemoClient, body: dict[str, object], field: str
) -> None:
    clerk = demo_client.headers(ROLES["clerk"])
    answer = demo_client.client.post("/api/v1/cases", json=body, headers=clerk)
    assert _fields(answer) == [field]


def test_an_escaped_backslash_before_u0000_is_ordinary_text(demo_client: DemoClient) -> None:
    clerk = demo_client.headers(ROLES["clerk"])
    answer = demo_client.client.post(
        "/api/v1/cases",
        content=b'{"application_item": "x\\\\u0000", "subject": "A123456789"}',
        headers={**clerk, "Content-Type": "application/json"},
    )
    assert answer.status_code != 500
    assert "nul" not in {e.get("code") for e in answer.json().get("errors", [])}


def test_nul_in_a_form_is_refused_naming_the_field(demo_client: DemoClient) -> None:
    answer = demo_client.client.post(
        "/login", content=b"username=a%00&password=x", headers={
            "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"
        },
    )  # fmt: skip
    assert _fields(answer) == ["username"]
