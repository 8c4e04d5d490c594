"""Whether an uploaded scan is really the PDF, PNG or JPEG it claims to be.

The first bytes alone prove little: an 8-byte PNG signature with nothing after it passed as
a scan. Neither Pillow nor a PDF library is a dependency, so each format's container is
walked here with the standard library, far enough to show the file is whole: PNG chunks with
their CRCs from ``IHDR`` to ``IEND``; JPEG marker segments from ``SOI`` through a frame header
(``SOFn``) and a scan to ``EOI``; a PDF's header, at least one object and its trailer
(``startxref`` and ``%%EOF``). Each check only reads; none raises on any input.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Callable

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PDF_HEADER = re.compile(rb"%PDF-[12]\.\d")
_PDF_OBJECT = re.compile(rb"\d+\s+\d+\s+obj\b")
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
"""Start-of-frame markers (DHT, JPG and DAC share the range and are not frames)."""


def png_is_whole(data: bytes) -> bool:
    """Signature, an ``IHDR`` first with a non-zero size, every chunk's CRC right, an ``IDAT``,
    and ``IEND`` last."""
    if not data.startswith(PNG_SIGNATURE):
        return False
    at, first, seen_data = len(PNG_SIGNATURE), True, False
    while at + 12 <= len(data):
        length, kind = struct.unpack(">I4s", data[at : at + 8])
        end = at + 8 + length
        if end + 4 > len(data):
            return False
        body = data[at + 8 : end]
        (crc,) = struct.unpack(">I", data[end : end + 4])
        if zlib.crc32(kind + body) != crc:
            return False
        if first:
            if kind != b"IHDR" or length != 13:
                return False
            width, height = struct.unpack(">II", body[:8])
            if width == 0 or height == 0:
                return False
            first = False
        seen_data = seen_data or kind == b"IDAT"
        if kind == b"IEND":
            return seen_data
        at = end + 4
    return False


def jpeg_is_whole(data: bytes) -> bool:
    """``SOI``, marker segments that fit, a frame header with a non-zero size, a scan, and an
    ``EOI`` after it."""
    if not data.startswith(b"\xff\xd8"):
        return False
    at, frame = 2, False
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return False
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        if length < 2 or at + 2 + length > len(data):
            return False
        if marker in _SOF:
            if length < 8:
                return False
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            if width == 0 or height == 0:
                return False
            frame = True
        if marker == 0xDA:  # start of scan: entropy-coded data runs to the end marker
            return frame and data.rfind(b"\xff\xd9") > at + 2 + length
        at += 2 + length
    return False


def pdf_is_whole(data: bytes) -> bool:
    """A ``%PDF-1.x``/``2.x`` header at the start, an indirect object, and ``startxref`` and
    ``%%EOF`` in the last kilobyte (where every reader starts)."""
    if not _PDF_HEADER.match(data):
        return False
    tail = data[-1024:]
    return _PDF_OBJECT.search(data) is not None and b"startxref" in tail and b"%%EOF" in tail


WHOLE: dict[str, Callable[[bytes], bool]] = {
    "application/pdf": pdf_is_whole,
    "image/png": png_is_whole,
    "image/jpeg": jpeg_is_whole,
}
"""Accepted content type → the check its bytes must pass."""
