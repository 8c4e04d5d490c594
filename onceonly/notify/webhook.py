"""Signing and verifying webhook pushes (HMAC-SHA256 over timestamp and body).

The platform sends ``X-Onceonly-Timestamp`` (Unix seconds), ``X-Onceonly-Signature``
(``v1=<hex>`` of HMAC-SHA256 with the subscription's secret over ``"<timestamp>.<body>"``)
and ``Idempotency-Key`` (``<event id>:<subscription id>``, the same on every retry). Signing
the timestamp with the body lets a receiver refuse replays older than its tolerance; several
``v1=`` entries separated by commas are accepted so a secret can be rotated.
"""

from __future__ import annotations

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-Onceonly-Timestamp"
SIGNATURE_HEADER = "X-Onceonly-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
EVENT_HEADER = "X-Onceonly-Event"
DEFAULT_TOLERANCE_SECONDS = 300


def idempotency_key(event_id: str, subscription_id: int) -> str:
    return f"{event_id}:{subscription_id}"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def signed_headers(
    secret: str, body: bytes, event_id: str, subscription_id: int, timestamp: int | None = None
) -> dict[str, str]:
    """Every header a push carries besides the content type."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: signature(secret, ts, body),
        IDEMPOTENCY_HEADER: idempotency_key(event_id, subscription_id),
        EVENT_HEADER: event_id,
    }


def verify(
    secret: str,
    timestamp: str | None,
    body: bytes,
    header: str | None,
    *,
    now: float | None = None,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """True when ``header`` holds a valid signature of ``body`` made within ``tolerance``
    seconds of ``now``; compares in constant time."""
    if not timestamp or not header:
        return False
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - ts) > tolerance:
        return False
    expected = signature(secret, ts, body)
    candidates = [part.strip() for part in header.split(",")]
    return any(hmac.compare_digest(expected, c) for c in candidates if c.startswith("v1="))
