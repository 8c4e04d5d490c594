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


def test_a_malformed_forwarded_ask_is_refused_naming_where_never_the_values() -> None:
    """The refusal goes to the audit log (on a node and at an owner's gateway alike): the
    field and the kind of error, never what was sent (a national ID)."""
    import json

    from pydantic import ValidationError

    from onceonly.federation.peer import ForwardedAsk, malformed

    body = {"request_id": "r1", "case_id": "c1", "application_item": "x", "subject": "A123456789"}
    body |= {"ask": {"type": "household_registration"}, "actor": {"agency": ["A123456789"]}}
    with pytest.raises(ValidationError) as raised:
        ForwardedAsk.model_validate_json(json.dumps(body))
    refused = malformed(raised.value, "taipei")
    assert refused.code == "malformed" and refused.sender == "taipei"
    assert "actor.agency" in refused.detail
    assert "A123456789" not in refused.detail
