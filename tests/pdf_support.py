"""Validating a PDF transcript's signature in tests, with pyHanko's validator; an owner whose
key moves to its own gateway, so that no PDF can be made here."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from sqlalchemy.orm import Session

from onceonly.config import Settings
from onceonly.exchange.keys import hand_over, install_kid
from onceonly.exchange.pdf import run_to_end


def validated(data: bytes, root: asn1_x509.Certificate | None = None) -> Any:
    """The status of the PDF's first signature under ``root`` (default: its own certificate).
    Through :func:`run_to_end`, since a browser test leaves an event loop running in this
    thread and pyHanko's synchronous helpers would ``asyncio.run`` beside it."""
    signature = PdfFileReader(io.BytesIO(data)).embedded_signatures[0]
    context = ValidationContext(trust_roots=[root or signature.signer_cert])
    return run_to_end(async_validate_pdf_signature(signature, context))


def pdfsig(data: bytes, folder: Path) -> str:
    """poppler's ``pdfsig`` report on ``data``: what Evince, Okular and most Linux PDF readers
    (poppler with NSS) say about its signature. A missing ``pdfsig`` skips, unless
    ``./run-tests`` runs (it sets ``ONCEONLY_CHROMIUM`` and installs ``poppler-utils``)."""
    if shutil.which("pdfsig") is None:
        message = "no pdfsig (apt-get install poppler-utils; ./run-tests installs it)"
        if "ONCEONLY_CHROMIUM" in os.environ:
            pytest.fail(message + ": ./run-tests is running, so the reader check must run")
        pytest.skip(message)
    path = folder / f"checked-{hashlib.sha256(data).hexdigest()[:12]}.pdf"
    path.write_bytes(data)
    run = subprocess.run(
        ["pdfsig", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return run.stdout + run.stderr


def assert_reader_valid(report: str, signer: str) -> None:
    """``pdfsig`` calls the signature valid over the whole file, signed by ``signer`` (the
    certificate is not in any trust store: that part is expected to say so)."""
    assert "Signature Validation: Signature is Valid." in report, report
    assert "Total document signed" in report, report
    assert f"Signer Certificate Common Name: {signer}" in report, report


def hand_over_to_a_gateway(session: Session, settings: Settings, token: str) -> None:
    """The owner that signed ``token`` now keeps its signing key at its own gateway."""
    payload = token.split(".")[1]
    owner = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["iss"]
    x = base64.urlsafe_b64encode(bytes(range(32))).rstrip(b"=").decode()
    public = {"kty": "OKP", "crv": "Ed25519", "x": x}
    hand_over(session, settings, owner, [public | {"kid": install_kid(public), "agency": owner}])
