"""Integers beyond 64 bits in a path or query are a 422 naming the parameter, never a 500.

The databases keep 64-bit integers; a bare ``int`` parameter let ``2**70`` reach a lookup and
fail there. Every integer parameter of every route must carry an upper bound the database can
hold (``onceonly.web.params``), read from the app itself so tomorrow's route is checked too;
and the requests the outside probe sent come back as clear 422s.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, get_args

import fastapi.routing
import pytest
from annotated_types import Le
from fastapi.routing import APIRoute
from pydantic import BaseModel

from onceonly.config import Settings
from onceonly.web.app import create_app
from onceonly.web.params import MAX_BIGINT, MAX_INTEGER
from tests.web.conftest import ROLES, DemoClient


def _is_int(annotation: Any) -> bool:
    return annotation is int or int in get_args(annotation)


def _int_params(route: APIRoute) -> Iterator[tuple[str, Any]]:
    """(name, field info) of every integer path or query parameter, dependencies and query
    models included."""
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        stack += dependant.dependencies
        for param in dependant.path_params + dependant.query_params:
            info = param.field_info
            model = info.annotation
            if isinstance(model, type) and issubclass(model, BaseModel):
                for name, sub in model.model_fields.items():
                    if _is_int(sub.annotation):
                        yield name, sub
            elif _is_int(model):
                yield param.name, info


def _upper_bound(info: Any) -> int | None:
    bounds = [m.le for m in info.metadata if isinstance(m, Le)]
    return min(bounds) if bounds else None


def test_every_integer_parameter_has_a_bound_both_databases_can_hold(tmp_path: Any) -> None:
    """Ids, sequence numbers and sizes fit PostgreSQL's 32-bit ``integer``; a page times the
    largest page size (``per_page``, else 1000) fits the 64-bit ``OFFSET``."""
    app = create_app(Settings(data_dir=tmp_path, secret_key="x"))
    checked, unbounded = 0, []
    for context in fastapi.routing.iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        params = dict(_int_params(route))
        for name, info in params.items():
            checked += 1
            bound = _upper_bound(info)
            if name == "page" and bound is not None:
                per_page = _upper_bound(params["per_page"]) if "per_page" in params else None
                fits = bound * (per_page or 1000) <= MAX_BIGINT
            else:
                fits = bound is not None and bound <= MAX_INTEGER
            if not fits:
                unbounded.append(f"{sorted(route.methods)} {context.path}: {name}")
    assert checked >= 20, "the walk found too few integer parameters to be trusted"
    assert not unbounded, "integer parameters without a safe bound:\n" + "\n".join(unbounded)


HUGE = [str(2**31), str(2**63), "100000000000000000000", "1e20"]


@pytest.mark.parametrize(
    ("method", "template", "role", "field"),
    [
        ("GET", "/api/v1/cases?page={n}", "clerk", "page"),
        ("DELETE", "/api/v1/auth/tokens/{n}", "clerk", "token_id"),
        ("POST", "/api/v1/access-rules/{n}/approve", "owner", "rule_id"),
        ("POST", "/api/v1/access-rules/{n}/revoke", "owner", "rule_id"),
        ("POST", "/api/v1/notify/subscriptions/{n}/approve", "owner", "subscription_id"),
        ("POST", "/api/v1/notify/dead-letters/{n}/replay", "admin", "dead_letter_id"),
        ("GET", "/api/v1/notify/feed?cursor={n}", "clerk", "cursor"),
    ],
)
def test_huge_integers_are_a_422_naming_the_field(
    demo_client: DemoClient, method: str, template: str, role: str, field: str
) -> None:
    headers = demo_client.headers(ROLES[role])
    body = {"reason": "x"} if method == "POST" else None
    for number in HUGE:
        answer = demo_client.client.request(
            method, template.format(n=number), headers=headers, json=body
        )
        assert answer.status_code == 422, (number, answer.status_code, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert field in {e["field"] for e in answer.json()["errors"]}, answer.text
