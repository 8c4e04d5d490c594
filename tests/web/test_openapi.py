"""The OpenAPI document describes errors as the server sends them: RFC 9457 problem documents.

Every 4xx/5xx response of every operation is ``application/problem+json`` with the Problem
schema (not FastAPI's ``application/json`` array ``detail``), every operation that takes
credentials documents 401, and real answers of the server validate against the schema.
"""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient

from onceonly.config import Settings
from onceonly.web.app import create_app


@pytest.fixture
def client(settings: Settings) -> Any:
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as made:
        yield made
    app.state.engine.dispose()


def _operations(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
    ]


def test_every_error_is_documented_as_a_problem_document(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    operations = _operations(doc)
    assert len(operations) > 40
    for name, op in operations:
        responses = op["responses"]
        for code, response in responses.items():
            content = response.get("content", {})
            if code[0] in "45" and "application/problem+json" in content:
                assert content["application/problem+json"]["schema"] == {
                    "$ref": "#/components/schemas/Problem"
                }, (name, code)
            elif code[0] in "45" and name.split()[-1].startswith("/open311/v2/"):
                errors = content["application/json"]["schema"]  # GeoReport v2's own format
                assert errors["type"] == "array", (name, code)
                assert errors["items"]["required"] == ["code", "description"], (name, code)
            elif code[0] in "45":  # a protocol's own error body (tlog-witness: text/plain)
                assert content and not any("json" in media for media in content), (name, code)
        if op.get("parameters") or op.get("requestBody"):
            assert "422" in responses, name
        if op.get("security"):
            assert "401" in responses, f"{name} takes credentials but does not document 401"


def _validator(doc: dict[str, Any]) -> Any:
    schema = {"$ref": "#/components/schemas/Problem", "components": doc["components"]}
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def test_real_error_answers_match_the_documented_schema(client: TestClient) -> None:
    validator = _validator(client.get("/openapi.json").json())
    answers = [
        client.get("/api/v1/cases"),  # 401, no credentials
        client.get("/api/v1/cases", headers={"Authorization": "Bearer nope"}),  # 401, bad token
        client.post("/api/v1/auth/tokens", json={"name": 5}),  # 422 or 401
        client.get("/api/v1/catalog/datasets/no-such-dataset"),  # 404
    ]
    statuses = set()
    for answer in answers:
        if answer.status_code < 400:
            continue
        statuses.add(answer.status_code)
        assert answer.headers["content-type"] == "application/problem+json", answer.text
        validator.validate(answer.json())
    assert {401, 404} <= statuses


def _objects(schema: dict[str, Any], components: dict[str, Any], seen: set[str]) -> list[str]:
    """The object schemas ``schema`` reaches that accept keys they do not name."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return []
        seen.add(name)
        target = components[name]
        open_ = "properties" in target and target.get("additionalProperties") is not False
        return [name] * open_ + _objects(target, components, seen)
    inner = [*schema.get("properties", {}).values(), *schema.get("anyOf", [])]
    inner += [*schema.get("oneOf", []), *schema.get("allOf", [])]
    inner += [
        schema[k] for k in ("items", "additionalProperties") if isinstance(schema.get(k), dict)
    ]
    return [name for part in inner for name in _objects(part, components, seen)]


def test_every_json_body_refuses_a_key_it_does_not_know(client: TestClient) -> None:
    """An agency system that misspells an optional key is told so (and the document says
    it): ignored, the request went on as if the key had not been sent."""
    doc = client.get("/openapi.json").json()
    bodies = [
        (name, media["schema"])
        for name, op in _operations(doc)
        for kind, media in op.get("requestBody", {}).get("content", {}).items()
        if kind == "application/json"
    ]
    assert len(bodies) >= 15
    for name, schema in bodies:
        assert _objects(schema, doc["components"]["schemas"], set()) == [], name
