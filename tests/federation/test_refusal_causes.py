"""A certificate refusal carries its cause, so the counter can say who must act (the partner's
certificate revoked: contact the operator) instead of "try again in a minute"."""

from __future__ import annotations

import pytest

from onceonly.exchange.schemas import EvidenceAsk
from onceonly.federation.remote import _cert_refused, _tls_cause
from onceonly.pki.trust import CertificateRefused

ASK = EvidenceAsk(type="is_low_income_household")


@pytest.mark.parametrize(
    ("key", "code", "cause"),
    [
        ("federation.peer_cert_refused", "cert_revoked", "partner_certificate_revoked"),
        ("federation.peer_cert_refused", "cert_expired", "partner_certificate_refused"),
        ("federation.own_cert_refused", "cert_revoked", "own_certificate_revoked"),
        ("federation.own_cert_refused", "cert_expired", "own_certificate_refused"),
    ],
)
def test_a_refused_certificate_names_whose_and_why(key: str, code: str, cause: str) -> None:
    result = _cert_refused(
        "yilan-county.social_welfare",
        ASK,
        "welfare_status",
        key,
        CertificateRefused(code, "keyCompromise"),
        "north-regional",
    )
    assert (result.status, result.retry_after, result.cause) == ("denied", None, cause)


@pytest.mark.parametrize(
    ("detail", "cause"),
    [
        ("[SSL: SSLV3_ALERT_CERTIFICATE_REVOKED] ssl/tls alert", "own_certificate_revoked"),
        (
            "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate revoked",
            "partner_certificate_revoked",
        ),
        (
            "[SSL: CERTIFICATE_VERIFY_FAILED] unable to get local issuer",
            "partner_certificate_refused",
        ),
    ],
)
def test_a_refused_handshake_names_whose_certificate(detail: str, cause: str) -> None:
    assert _tls_cause(detail) == cause
