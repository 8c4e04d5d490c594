"""JWS limits for federation documents: request signatures carry a certificate (``x5c``) and
snapshots list every node, both beyond joserfc's default 512-byte header / 128 kB payload."""

from __future__ import annotations

from joserfc.jws import JWSRegistry


class _FederationRegistry(JWSRegistry):
    max_header_length = 8192
    max_payload_length = 64 * 1024 * 1024


def registry(algorithm: str) -> JWSRegistry:
    """A registry that accepts ``algorithm`` only, with room for certificates and snapshots."""
    return _FederationRegistry(algorithms=[algorithm])
