"""Webhooks never reach inside the platform's network (server-side request forgery).

A webhook URL that names a loopback, private, link-local (cloud metadata) or otherwise
internal address, in any spelling, is refused when it is registered, naming ``webhook_url``;
a name that resolves to such an address when the push is sent (DNS rebinding) is refused at
delivery, and the worker connects to the very address it checked. The operator's allow-list
lets a named internal receiver through, and only that one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from onceonly import outbound
from onceonly.accounts.api_tokens import issue_api_token
from onceonly.accounts.users import create_user
from onceonly.config import Settings
from onceonly.db import transaction
from onceonly.demo.ports import free_port
from onceonly.errors import Problem
from onceonly.notify.models import Delivery
from onceonly.notify.receiver import read_applied
from onceonly.notify.subscriptions import (
    SubscriptionRequest,
    SubscriptionView,
    check_request,
    move_webhook,
)
from onceonly.notify.worker import NotifySettings, deliver_all
from onceonly.outbound import ALLOWED_HOSTS_ENV, OutboundPolicy
from onceonly.web.app import create_app
from tests.notify.conftest import ThreadedReceiver
from tests.notify.test_worker import record

STRICT = OutboundPolicy()
"""No host allowed: what a deployment does unless its operator lists one."""

INTERNAL = [
    "http://127.0.0.1:9/hook",
    "http://127.1/hook",
    "http://2130706433/hook",
    "http://0x7f000001/hook",
    "http://0177.0.0.1/hook",
    "http://0.0.0.0/hook",
    "http://localhost:8000/hook",
    "http://LOCALHOST./hook",
    "http://api.localhost/hook",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[::ffff:7f00:1]/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://100.100.100.200/latest/meta-data/",
    "http://10.0.0.5/hook",
    "http://172.16.3.4/hook",
    "http://192.168.1.1/hook",
    "https://[fe80::1]/hook",
    "http://224.0.0.1/hook",
    "http://printer.local/hook",
]
PUBLIC = [
    "https://agency.example/notify",
    "https://tax.gov.tw/hooks/onceonly",
    "http://8.8.8.8/hook",
    "https://[2001:4860:4860::8888]/hook",
]


@pytest.mark.parametrize("url", INTERNAL)
def test_internal_addresses_are_refused_when_registered(url: str) -> None:
    assert STRICT.refusal(url, "en"), url


@pytest.mark.parametrize("url", PUBLIC)
def test_public_receivers_are_accepted(url: str) -> None:
    assert STRICT.refusal(url, "en") is None


def test_credentials_and_other_schemes_are_refused() -> None:
    for url in ("ftp://agency.example/x", "file:///etc/passwd", "https://u:p@agency.example/x"):
        assert STRICT.refusal(url, "en"), url


def test_the_operator_allows_a_named_internal_host_and_only_that() -> None:
    allowing = OutboundPolicy(frozenset({"127.0.0.1", "notify.intra"}))
    assert allowing.refusal("http://127.0.0.1:8811/webhook") is None
    assert allowing.refusal("https://notify.intra/hook") is None
    assert allowing.refusal("http://127.0.0.2/webhook")
    assert allowing.refusal("http://localhost/webhook")


@given(st.ip_addresses(v=4))
def test_every_spelling_of_an_ipv4_address_gets_the_same_verdict(address: Any) -> None:
    """Dotted, one integer, and IPv4-mapped IPv6 are judged alike, and as ``ipaddress`` does."""
    expected = address.is_global and not address.is_multicast
    spellings = [str(address), str(int(address)), f"[::ffff:{address}]"]
    for host in spellings:
        verdict = STRICT.refusal(f"http://{host}/hook") is None
        assert verdict == expected, (host, verdict)


def _resolving(mapping: dict[str, str]) -> Callable[[str, int], list[str]]:
    """The platform's resolver with a few names of our own; nothing else (httpx included)
    knows these names, so a push arrives only at an address the check itself resolved."""

    def fake(host: str, port: int) -> list[str]:
        return [mapping[host]] if host in mapping else real_lookup(host, port)

    return fake


real_lookup = outbound.lookup


FAST = NotifySettings(
    backoff_base_seconds=0.01,
    backoff_cap_seconds=0.02,
    max_attempts=1,
    request_timeout_seconds=2,
    poll_interval_seconds=0.01,
)


def _rebinding(
    subscribe: Callable[..., SubscriptionView],
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    scheme: str,
) -> tuple[ThreadedReceiver, str]:
    port = free_port()
    view = subscribe("taipei-city.tax_office", url=f"{scheme}://rebind.example:{port}/webhook")
    monkeypatch.setattr(outbound, "lookup", _resolving({"rebind.example": "127.0.0.1"}))
    receiver = ThreadedReceiver(view.secret or "", tmp_path / "tax.sqlite", port=port)
    return receiver, view.secret or ""


@pytest.fixture
def rebinding_receiver(
    subscribe: Callable[..., SubscriptionView], tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[ThreadedReceiver, str]]:
    """A receiver on loopback whose subscription names ``https://rebind.example``, a name
    that passed registration (it names no address) and now resolves to 127.0.0.1."""
    yield _rebinding(subscribe, tmp_path, monkeypatch, "https")


@pytest.fixture
def allowed_rebinding_receiver(
    subscribe: Callable[..., SubscriptionView], tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[ThreadedReceiver, str]]:
    """The same over plain HTTP, which only a host the operator allows may use: the operator
    lists ``rebind.example`` (before the subscription is asked for, as in a deployment)."""
    monkeypatch.setenv(ALLOWED_HOSTS_ENV, "127.0.0.1,localhost,rebind.example")
    yield _rebinding(subscribe, tmp_path, monkeypatch, "http")


def test_a_name_that_resolves_inside_is_refused_at_delivery(
    sessions: sessionmaker[Session], rebinding_receiver: tuple[ThreadedReceiver, str]
) -> None:
    """Refused when resolved, before any connection (so before TLS would even start)."""
    receiver, _ = rebinding_receiver
    with receiver as end:
        record(sessions, 1)
        deliver_all(sessions, FAST, timeout=5, policy=OutboundPolicy(frozenset({"127.0.0.1"})))
    assert read_applied(end.db_path) == []
    with transaction(sessions) as session:
        delivery = session.scalars(select(Delivery)).one()
        assert delivery.status == "dead"
        assert "internal address 127.0.0.1" in (delivery.last_error or "")


def test_an_allowed_name_is_delivered_to_the_address_that_was_checked(
    sessions: sessionmaker[Session], allowed_rebinding_receiver: tuple[ThreadedReceiver, str]
) -> None:
    """``rebind.example`` exists only in the patched resolver the check uses: the push can
    arrive only if the worker connects to the address it checked, not a second lookup."""
    receiver, _ = allowed_rebinding_receiver
    with receiver as end:
        event_id = record(sessions, 1)
        allowing = OutboundPolicy(frozenset({"rebind.example"}))
        assert deliver_all(sessions, FAST, timeout=10, policy=allowing) == 0
    assert [e for e, _, _ in read_applied(end.db_path)] == [event_id]


def test_the_api_refuses_an_internal_webhook_naming_the_field(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ALLOWED_HOSTS_ENV, "")
    app = create_app(settings)
    with transaction(app.state.sessions) as db:
        user = create_user(
            db, "tax-system", "correct horse battery", "clerk", "taipei-city.tax_office", "稅"
        )
        token, _ = issue_api_token(db, user, "t", 1)
    body = {"event_kinds": ["death"], "legal_basis": "household-registration-act"}
    with TestClient(app) as client:
        for url in ("http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:8811/webhook"):
            answer = client.post(
                "/api/v1/notify/subscriptions",
                headers={"Authorization": f"Bearer {token}"},
                json={**body, "mode": "push", "webhook_url": url},
            )
            assert answer.status_code == 422, answer.text
            errors = answer.json()["errors"]
            assert [e["field"] for e in errors] == ["webhook_url"], errors
            assert errors[0]["code"] == "not-allowed"
        fine = client.post(
            "/api/v1/notify/subscriptions",
            headers={"Authorization": f"Bearer {token}"},
            json={**body, "mode": "push", "webhook_url": "https://tax.example/hook"},
        )
        assert fine.status_code == 201, fine.text
    app.state.engine.dispose()


def test_is_public_matches_ipaddress_for_plain_addresses() -> None:
    for text in ("8.8.8.8", "10.1.2.3", "169.254.169.254", "::1", "2001:db8::1", "fc00::1"):
        address = ipaddress.ip_address(text)
        assert outbound.is_public(address) == (address.is_global and not address.is_multicast)


def _push_request(url: str) -> SubscriptionRequest:
    return SubscriptionRequest(
        agency_code="taipei-city.tax_office",
        event_kinds=["death"],
        legal_basis="household-registration-act",
        webhook_url=url,
    )


def test_plain_http_is_refused_unless_the_operator_allows_the_host() -> None:
    """A push carries personal data: over plain HTTP anyone on the way reads (and can capture
    and replay) it. Only a host the operator lists, inside its own network, may use it."""
    for url in ("http://tax.example/hook", "http://8.8.8.8/hook", "HTTP://tax.example/hook"):
        errors = check_request(_push_request(url), "en", STRICT)
        assert [(e.field, e.code) for e in errors] == [("webhook_url", "https-required")], url
        assert "https" in errors[0].reason and ALLOWED_HOSTS_ENV in errors[0].reason
    assert check_request(_push_request("https://tax.example/hook"), "en", STRICT) == []
    allowing = OutboundPolicy(frozenset({"127.0.0.1", "notify.intra"}))
    assert check_request(_push_request("http://notify.intra/hook"), "en", allowing) == []
    assert check_request(_push_request("http://127.0.0.1:8811/webhook"), "en", allowing) == []
    refused = check_request(_push_request("http://tax.example/hook"), "en", allowing)
    assert [e.code for e in refused] == ["https-required"]


def test_a_plain_http_subscription_from_before_is_never_pushed_to(
    sessions: sessionmaker[Session],
    subscribe: Callable[..., SubscriptionView],
    tmp_path: Any,
) -> None:
    """Registered while its host was allowed (or before https was required), it is not sent
    to in clear text once the host is not allowed: dead at the first attempt, with the
    reason, instead of retried; the receiver gets nothing."""
    port = free_port()
    view = subscribe("taipei-city.tax_office", url=f"http://127.0.0.1:{port}/webhook")
    with ThreadedReceiver(view.secret or "", tmp_path / "tax.sqlite", port=port) as end:
        record(sessions, 1)
        patient = FAST.model_copy(update={"max_attempts": 5})
        deliver_all(sessions, patient, timeout=5, policy=STRICT)
    assert read_applied(end.db_path) == []
    with transaction(sessions) as session:
        delivery = session.scalars(select(Delivery)).one()
        assert (delivery.status, delivery.attempts) == ("dead", 1)
        assert "https" in (delivery.last_error or "")


def test_a_receiver_moves_to_https_but_not_back_to_plain_http(
    sessions: sessionmaker[Session], subscribe: Callable[..., SubscriptionView]
) -> None:
    view = subscribe("taipei-city.tax_office", url="http://127.0.0.1:8811/webhook")
    with transaction(sessions) as session:
        moved = move_webhook(session, view.id, "https://tax.example/hook", policy=STRICT)
        assert moved.webhook_url == "https://tax.example/hook"
        with pytest.raises(Problem) as caught:
            move_webhook(session, view.id, "http://tax.example/hook", lang="en", policy=STRICT)
    assert [e.code for e in caught.value.errors] == ["https-required"]
