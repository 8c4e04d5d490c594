"""Webhook signatures: a receiver can tell a genuine push from anything else, and a push
sent again under another key or event id from the one the platform signed."""

from __future__ import annotations

import hashlib
import hmac

from hypothesis import example, given
from hypothesis import strategies as st

from onceonly.notify.webhook import (
    EVENT_HEADER,
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature_v1,
    signed_headers,
    verify,
)
from onceonly.notify.worker import backoff_delay

NOW = 1_700_000_000


@given(secret=st.text(min_size=1), body=st.binary(), skew=st.integers(-300, 300))
def test_a_signed_body_verifies_within_the_tolerance(secret: str, body: bytes, skew: int) -> None:
    headers = signed_headers(secret, body, "e", 1, timestamp=NOW)
    assert verify(secret, headers, body, now=NOW + skew) == "v2"


@given(
    secret=st.text(min_size=1),
    other=st.text(min_size=1),
    body=st.binary(),
    tail=st.binary(min_size=1),
)
def test_another_secret_or_body_fails(secret: str, other: str, body: bytes, tail: bytes) -> None:
    headers = signed_headers(secret, body, "e", 1, timestamp=NOW)
    assert verify(secret, headers, body + tail, now=NOW, accept_v1=True) is None
    if other != secret:
        assert verify(other, headers, body, now=NOW, accept_v1=True) is None


def test_old_or_future_or_malformed_timestamps_fail() -> None:
    headers = signed_headers("s", b"{}", "e", 1, timestamp=NOW)
    assert verify("s", headers, b"{}", now=NOW + 301) is None
    assert verify("s", headers, b"{}", now=NOW - 301) is None
    assert verify("s", {**headers, TIMESTAMP_HEADER: "soon"}, b"{}", now=NOW) is None
    without = {k: v for k, v in headers.items() if k != TIMESTAMP_HEADER}
    assert verify("s", without, b"{}", now=NOW) is None
    renamed = headers[SIGNATURE_HEADER].replace("v2=", "sha1=").replace("v1=", "sha1=")
    assert verify("s", {**headers, SIGNATURE_HEADER: renamed}, b"{}", now=NOW) is None


def test_a_rotated_secret_is_accepted_from_a_list() -> None:
    headers = signed_headers("new", b"x", "e", 1, timestamp=NOW)
    combined = f"v2=00, {headers[SIGNATURE_HEADER]}"
    assert verify("new", {**headers, SIGNATURE_HEADER: combined}, b"x", now=NOW) == "v2"


def test_idempotency_key_is_stable_across_retries() -> None:
    first = signed_headers("s", b"x", "event-1", 7, timestamp=NOW)
    later = signed_headers("s", b"x", "event-1", 7, timestamp=NOW + 60)
    assert first["Idempotency-Key"] == later["Idempotency-Key"] == "event-1:7"


@given(key=st.text(alphabet=st.characters(exclude_characters="\r\n\x00"), min_size=1))
def test_a_tampered_key_or_event_id_fails_verification(key: str) -> None:
    """The key and the event id are signed: a captured push sent with a fresh
    ``Idempotency-Key`` (or another event id) verifies no more, in the current scheme."""
    body = b'{"id":"event-1"}'
    headers = signed_headers("s", body, "event-1", 7, timestamp=NOW)
    assert verify("s", headers, body, now=NOW) == "v2"
    if key != headers[IDEMPOTENCY_HEADER]:
        assert verify("s", {**headers, IDEMPOTENCY_HEADER: key}, body, now=NOW) is None
    if key != headers[EVENT_HEADER]:
        assert verify("s", {**headers, EVENT_HEADER: key}, body, now=NOW) is None
    missing = {k: v for k, v in headers.items() if k != IDEMPOTENCY_HEADER}
    assert verify("s", missing, body, now=NOW) is None


@example(scheme="v2=", rest="é", event_id="e", key="k")
@example(scheme="v1=", rest="\udc80", event_id="e", key="k")
@example(scheme="v2=", rest="00", event_id="\ud800", key="k")
@given(
    scheme=st.sampled_from(["v2=", "v1=", "", "v3="]),
    rest=st.text(),
    event_id=st.text(),
    key=st.text(),
)
def test_any_header_text_is_answered_not_raised(
    scheme: str, rest: str, event_id: str, key: str
) -> None:
    """A signature or header that is not ASCII, even not encodable, is no signature."""
    headers = {
        TIMESTAMP_HEADER: str(NOW),
        SIGNATURE_HEADER: scheme + rest,
        EVENT_HEADER: event_id,
        IDEMPOTENCY_HEADER: key,
    }
    assert verify("s", headers, b"{}", now=NOW, accept_v1=True) is None


def test_the_header_fields_cannot_be_shifted_into_one_another() -> None:
    """``event id`` and ``key`` are separated by a newline no header can hold: moving the
    boundary between them (``ab`` + ``ab:1`` against ``a`` + ``bab:1``, the same text once
    joined) changes what was signed."""
    body = b"{}"
    headers = signed_headers("s", body, "ab", 1, timestamp=NOW)
    moved = {**headers, EVENT_HEADER: "a", IDEMPOTENCY_HEADER: "bab:1"}
    assert verify("s", moved, body, now=NOW) is None


def test_a_push_signed_the_old_way_only_is_refused_unless_asked_for() -> None:
    """``v1`` (timestamp and body only) is what a platform before ``v2`` sends, and what an
    attacker keeps after stripping ``v2`` off a push: refused unless the receiver takes
    ``v1`` during the move (and then deduplicates by the body's event id, test_replay.py)."""
    body = b'{"id":"event-1"}'
    headers = signed_headers("s", body, "event-1", 7, timestamp=NOW)
    old_way = {**headers, SIGNATURE_HEADER: signature_v1("s", NOW, body)}
    assert verify("s", old_way, body, now=NOW) is None
    assert verify("s", old_way, body, now=NOW, accept_v1=True) == "v1"
    assert verify("s", {**old_way, IDEMPOTENCY_HEADER: "fresh"}, body, now=NOW) is None


def _old_receiver_verifies(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """A receiver written against the ``v1`` scheme, as agencies' receivers are today."""
    ts = headers[TIMESTAMP_HEADER]
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    entries = [e.strip() for e in headers[SIGNATURE_HEADER].split(",")]
    return any(hmac.compare_digest("v1=" + mac, e) for e in entries if e.startswith("v1="))


def test_during_the_move_an_old_receiver_still_verifies_and_after_it_v2_stands_alone() -> None:
    body = b'{"id":"event-1"}'
    both = signed_headers("s", body, "event-1", 7, timestamp=NOW)
    assert both[SIGNATURE_HEADER].startswith("v2=") and ",v1=" in both[SIGNATURE_HEADER]
    assert _old_receiver_verifies("s", both, body)
    assert verify("s", both, body, now=NOW) == "v2"
    only = signed_headers("s", body, "event-1", 7, timestamp=NOW, legacy=False)
    assert "v1=" not in only[SIGNATURE_HEADER]
    assert not _old_receiver_verifies("s", only, body)
    assert verify("s", only, body, now=NOW, accept_v1=True) == "v2"


@given(
    attempts=st.integers(1, 200),
    base=st.floats(0.001, 10),
    cap=st.floats(0.01, 1000),
    pick=st.floats(0, 1),
)
def test_backoff_is_full_jitter_under_the_capped_exponential(
    attempts: int, base: float, cap: float, pick: float
) -> None:
    delay = backoff_delay(attempts, base, cap, lambda lo, hi: lo + (hi - lo) * pick)
    assert 0 <= delay <= min(cap, base * 2 ** min(attempts - 1, 62)) + 1e-9
    top = backoff_delay(attempts, base, cap, lambda lo, hi: hi)
    assert top == min(cap, base * 2.0 ** min(attempts - 1, 62))
