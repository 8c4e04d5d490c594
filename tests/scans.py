"""Small but whole scans for tests (Pillow is not a dependency): a PDF, a PNG and a JPEG that
any reader opens, built by hand."""

from __future__ import annotations

import struct
import zlib

_PDF_BODY = (
    b"1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\n"
)


def pdf(size: int | None = None, note: bytes = b"scan") -> bytes:
    """A one-page PDF, padded with a comment to exactly ``size`` bytes when given."""
    head = b"%PDF-1.7\n% " + note + b"\n" + _PDF_BODY
    tail = b"trailer<</Root 1 0 R/Size 4>>\nstartxref\n0\n%%EOF\n"
    if size is None:
        return head + tail
    padding = size - len(head) - len(tail) - 2
    assert padding >= 0
    return head + b"%" + b"0" * padding + b"\n" + tail


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png(width: int = 2, height: int = 2) -> bytes:
    """A white greyscale PNG."""
    rows = b"".join(b"\x00" + b"\xff" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + _chunk(b"IDAT", zlib.compress(rows))
        + _chunk(b"IEND", b"")
    )


def _segment(marker: int, body: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(body) + 2) + body


def jpeg() -> bytes:
    """A 1x1 grey baseline JPEG: one quantisation table, one DC and one AC Huffman table of a
    single code each, and a scan of one block (DC difference 0, then end of block)."""
    one_code = bytes([1] + [0] * 15) + b"\x00"
    return (
        b"\xff\xd8"
        + _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
        + _segment(0xDB, b"\x00" + b"\x01" * 64)
        + _segment(0xC0, b"\x08" + struct.pack(">HH", 1, 1) + b"\x01\x01\x11\x00")
        + _segment(0xC4, b"\x00" + one_code)
        + _segment(0xC4, b"\x10" + one_code)
        + _segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
        + b"\x3f"
        + b"\xff\xd9"
    )


FAKE_PNG = b"\x89PNG\r\n\x1a\n"
"""Eight bytes: a PNG's signature and nothing else."""
