"""Validating a PDF transcript's signature in tests, with pyHanko's validator."""

from __future__ import annotations

import io
from typing import Any

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from onceonly.exchange.pdf import run_to_end


def validated(data: bytes, root: asn1_x509.Certificate | None = None) -> Any:
    """The status of the PDF's first signature under ``root`` (default: its own certificate).
    Through :func:`run_to_end`, since a browser test leaves an event loop running in this
    thread and pyHanko's synchronous helpers would ``asyncio.run`` beside it."""
    signature = PdfFileReader(io.BytesIO(data)).embedded_signatures[0]
    context = ValidationContext(trust_roots=[root or signature.signer_cert])
    return run_to_end(async_validate_pdf_signature(signature, context))
