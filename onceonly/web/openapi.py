"""The OpenAPI document as the server really answers: errors are RFC 9457 problem documents.

FastAPI describes a 422 as ``application/json`` with an array ``detail`` and leaves other
errors out; our error handlers (``onceonly.web.errors``) send ``application/problem+json``
for every 4xx and 5xx. This rewrites the generated document once, so clients and schema-based
fuzzers (``tests/web/test_fuzz.py``) hold the server to what it says.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from onceonly.errors import PROBLEM_BASE

PROBLEM_MEDIA_TYPE = "application/problem+json"

FIELD_ERROR_SCHEMA: dict[str, Any] = {
    "title": "FieldError",
    "type": "object",
    "description": "One invalid input: which field, why, and a machine-readable code.",
    "required": ["field", "reason", "code"],
    "properties": {
        "field": {"type": "string", "examples": ["subject"]},
        "reason": {"type": "string"},
        "code": {"type": "string", "examples": ["invalid", "missing"]},
    },
}

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": (
        "An RFC 9457 problem document. `type` names the kind of problem under "
        f"{PROBLEM_BASE}; `title` and `detail` are in the caller's language. Problems may "
        "carry more members (for example each requested piece's reason)."
    ),
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "format": "uri", "examples": [PROBLEM_BASE + "validation"]},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {"type": "array", "items": {"$ref": "#/components/schemas/FieldError"}},
        "retry_after": {"type": "integer", "minimum": 0},
    },
    "additionalProperties": True,
}

_PROBLEM_CONTENT = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
_DESCRIPTIONS = {
    "401": "Not signed in, or the token or session is not valid (problem document)",
    "422": "Invalid input; `errors` names each field and the reason",
    "4XX": "Any other refusal, as a problem document",
    "5XX": "A server-side failure as a problem document (503 with Retry-After if retrying helps)",
}
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")
_JSON_TYPES = {"application/json", PROBLEM_MEDIA_TYPE}
"""Error bodies documented as JSON are our problem documents; a route that documents another
media type for an error (a protocol of its own, such as tlog-witness's text/plain) keeps it."""


def _is_error(code: str) -> bool:
    return code[:1] in ("4", "5")


def problem_document(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` (a generated OpenAPI document) with every error described as a problem
    document, 401 on every operation that takes credentials, and 4XX/5XX catch-alls."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    components["FieldError"] = FIELD_ERROR_SCHEMA
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses: dict[str, Any] = operation["responses"]
            if operation.get("security"):
                responses.setdefault("401", {"description": _DESCRIPTIONS["401"]})
            if operation.get("parameters") or operation.get("requestBody"):
                responses.setdefault("422", {"description": _DESCRIPTIONS["422"]})
            responses.setdefault("4XX", {"description": _DESCRIPTIONS["4XX"]})
            responses.setdefault("5XX", {"description": _DESCRIPTIONS["5XX"]})
            for code, response in responses.items():
                if _is_error(code) and set(response.get("content", {})) <= _JSON_TYPES:
                    response["content"] = dict(_PROBLEM_CONTENT)
                    if code == "422":
                        response["description"] = _DESCRIPTIONS["422"]
    text = repr(schema.get("paths", {}))
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        if f"#/components/schemas/{name}'" not in text:
            components.pop(name, None)
    return schema


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` (and ``/openapi.json``) return the rewritten document."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = problem_document(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


__all__ = ["PROBLEM_MEDIA_TYPE", "PROBLEM_SCHEMA", "install_openapi", "problem_document"]
