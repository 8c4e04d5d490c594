"""Webhook signatures: a receiver can tell a genuine push from anything else."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from onceonly.notify.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, signed_headers, verify
from onceonly.notify.worker import backoff_delay

NOW = 1_700_000_000


@given(secret=st.text(min_size=1), body=st.binary(), skew=st.integers(-300, 300))
def test_a_signed_body_verifies_within_the_tolerance(secret: str, body: bytes, skew: int) -> None:
    headers = signed_headers(secret, body, "e", 1, timestamp=NOW)
    assert verify(
        secret, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER], now=NOW + skew
    )


@given(
    secret=st.text(min_size=1),
    other=st.text(min_size=1),
    body=st.binary(),
    tail=st.binary(min_size=1),
)
def test_another_secret_or_body_fails(secret: str, other: str, body: bytes, tail: bytes) -> None:
    headers = signed_headers(secret, body, "e", 1, timestamp=NOW)
    ts, sig = headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER]
    assert not verify(secret, ts, body + tail, sig, now=NOW)
    if other != secret:
        assert not verify(other, ts, body, sig, now=NOW)


def test_old_or_future_or_malformed_timestamps_fail() -> None:
    headers = signed_headers("s", b"{}", "e", 1, timestamp=NOW)
    sig = headers[SIGNATURE_HEADER]
    assert not verify("s", str(NOW), b"{}", sig, now=NOW + 301)
    assert not verify("s", str(NOW), b"{}", sig, now=NOW - 301)
    assert not verify("s", "soon", b"{}", sig, now=NOW)
    assert not verify("s", None, b"{}", sig, now=NOW)
    assert not verify("s", str(NOW), b"{}", "sha1=" + sig[3:], now=NOW)


def test_a_rotated_secret_is_accepted_from_a_list() -> None:
    headers = signed_headers("new", b"x", "e", 1, timestamp=NOW)
    combined = f"v1=00, {headers[SIGNATURE_HEADER]}"
    assert verify("new", str(NOW), b"x", combined, now=NOW)


def test_idempotency_key_is_stable_across_retries() -> None:
    first = signed_headers("s", b"x", "event-1", 7, timestamp=NOW)
    later = signed_headers("s", b"x", "event-1", 7, timestamp=NOW + 60)
    assert first["Idempotency-Key"] == later["Idempotency-Key"] == "event-1:7"


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
