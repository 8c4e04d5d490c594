"""Signing and verifying webhook pushes (HMAC-SHA256 with the subscription's secret).

The platform sends ``X-Onceonly-Timestamp`` (Unix seconds), ``X-Onceonly-Event`` (the event
id, also the body's ``id``), ``Idempotency-Key`` (``<event id>:<subscription id>``, the same
on every retry) and ``X-Onceonly-Signature``, a comma-separated list of ``<scheme>=<hex>``:

* ``v2`` (current) is the HMAC of ``"v2\\n<timestamp>\\n<event id>\\n<idempotency key>\\n"``
  followed by the body. It covers every header a receiver acts on, so a captured push sent
  again with a fresh ``Idempotency-Key`` (or another event id) no longer verifies; header
  values hold no newline, so the fields cannot be shifted into one another, and the leading
  ``v2`` keeps a MAC of one scheme from ever passing for the other.
* ``v1`` (deprecated) is the HMAC of ``"<timestamp>.<body>"`` only: the key was unsigned, and
  a receiver that deduplicated by it applied a replay with a new key again. The platform
  still sends it next to ``v2`` while agencies move their receivers
  (``ONCEONLY_NOTIFY_SIGN_V1``, on by default for this transition; turn it off once every
  receiver checks ``v2``), since a receiver that knows ``v1`` only ignores ``v2`` entries.

Either way a receiver applies each *event* once, by the ``id`` in the signed body
(:mod:`onceonly.notify.receiver`): that alone makes a replay harmless, whatever its headers.
:func:`verify` accepts ``v2`` only unless asked to take ``v1`` too (a receiver in the middle
of the move); an attacker who strips the ``v2`` entry off a push gains nothing from a
receiver that refuses ``v1``. Signing the timestamp lets a receiver refuse pushes older than
its tolerance; several entries of a scheme are accepted so a secret can be rotated. The
format is described for agencies in ``docs/webhooks.md``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

TIMESTAMP_HEADER = "X-Onceonly-Timestamp"
SIGNATURE_HEADER = "X-Onceonly-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
EVENT_HEADER = "X-Onceonly-Event"
DEFAULT_TOLERANCE_SECONDS = 300
SCHEMES = ("v2", "v1")
"""Newest first; ``v1`` is deprecated (it does not cover the idempotency key)."""


def idempotency_key(event_id: str, subscription_id: int) -> str:
    return f"{event_id}:{subscription_id}"


def _mac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_v1(secret: str, timestamp: int, body: bytes) -> str:
    """The deprecated scheme: timestamp and body only."""
    return "v1=" + _mac(secret, f"{timestamp}.".encode() + body)


def signature_v2(secret: str, timestamp: int, event_id: str, key: str, body: bytes) -> str:
    """The current scheme: timestamp, event id, idempotency key and body."""
    return "v2=" + _mac(secret, f"v2\n{timestamp}\n{event_id}\n{key}\n".encode() + body)


def signed_headers(
    secret: str,
    body: bytes,
    event_id: str,
    subscription_id: int,
    timestamp: int | None = None,
    *,
    legacy: bool = True,
) -> dict[str, str]:
    """Every header a push carries besides the content type; ``legacy``: add the deprecated
    ``v1`` signature after the ``v2`` one, for receivers not yet moved to ``v2``."""
    ts = int(time.time()) if timestamp is None else timestamp
    key = idempotency_key(event_id, subscription_id)
    signatures = [signature_v2(secret, ts, event_id, key, body)]
    if legacy:
        signatures.append(signature_v1(secret, ts, body))
    return {
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: ",".join(signatures),
        IDEMPOTENCY_HEADER: key,
        EVENT_HEADER: event_id,
    }


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """``name`` from ``headers``, whichever case they spell it in."""
    found = headers.get(name)
    if found is None:
        found = next((v for k, v in headers.items() if k.lower() == name.lower()), None)
    return found


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    accept_v1: bool = False,
) -> str | None:
    """The scheme (``"v2"``, or ``"v1"`` when ``accept_v1``) of a valid signature in
    ``headers`` over ``body`` and the headers it covers, made within ``tolerance`` seconds of
    ``now``; ``None`` when there is none. Compares in constant time."""
    timestamp = _header(headers, TIMESTAMP_HEADER)
    given = _header(headers, SIGNATURE_HEADER)
    if not timestamp or not given:
        return None
    try:
        ts = int(timestamp)
    except ValueError:
        return None
    if abs((time.time() if now is None else now) - ts) > tolerance:
        return None
    candidates = [part.strip() for part in given.split(",")]
    event_id = _header(headers, EVENT_HEADER)
    key = _header(headers, IDEMPOTENCY_HEADER)
    if event_id is not None and key is not None:
        try:
            expected = signature_v2(secret, ts, event_id, key, body)
        except UnicodeEncodeError:  # no header the platform sends
            return None
        if _matches(expected, candidates):
            return "v2"
    if accept_v1 and _matches(signature_v1(secret, ts, body), candidates):
        return "v1"
    return None


def _matches(expected: str, candidates: list[str]) -> bool:
    """Whether a candidate of ``expected``'s scheme equals it, in constant time (a candidate
    that is not ASCII is no signature, and ``compare_digest`` would raise on it)."""
    scheme = expected.split("=", 1)[0] + "="
    return any(
        hmac.compare_digest(expected, c) for c in candidates if c.startswith(scheme) and c.isascii()
    )
