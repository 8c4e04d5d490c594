"""A scan must be the whole file it claims to be: the checks accept real PDF, PNG and JPEG
files, refuse every truncation and corruption tried, and never raise on any bytes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onceonly.cases.scans import WHOLE, jpeg_is_whole, pdf_is_whole, png_is_whole
from tests import scans

WHOLE_FILES = {
    "application/pdf": scans.pdf(),
    "image/png": scans.png(3, 5),
    "image/jpeg": scans.jpeg(),
}


@pytest.mark.parametrize("content_type", list(WHOLE_FILES))
def test_whole_files_pass(content_type: str) -> None:
    assert WHOLE[content_type](WHOLE_FILES[content_type])


@pytest.mark.parametrize(
    ("check", "data"),
    [
        (png_is_whole, scans.FAKE_PNG),
        (png_is_whole, scans.png()[:-12]),  # IEND cut off
        (png_is_whole, scans.png().replace(b"IDAT", b"IDAX")),  # CRC no longer matches
        (jpeg_is_whole, b"\xff\xd8\xff\xe0" + b"\0" * 64),
        (jpeg_is_whole, scans.jpeg()[:-2]),  # no end of image
        (pdf_is_whole, b"%PDF-1.7 scan"),
        (pdf_is_whole, scans.pdf().replace(b"%%EOF", b"")),
        (pdf_is_whole, b"MZ\x90\x00" + scans.pdf()),  # a PDF after an executable's header
    ],
)
def test_fakes_and_damaged_files_are_refused(check: object, data: bytes) -> None:
    assert callable(check) and check(data) is False


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(list(WHOLE_FILES)), st.data())
def test_every_truncation_before_the_end_marker_is_refused(content_type: str, data: object) -> None:
    whole = WHOLE_FILES[content_type]
    # A PDF is read from its end: anything cut before its final %%EOF is incomplete.
    end = whole.rindex(b"%%EOF") if content_type == "application/pdf" else len(whole) - 1
    cut = data.draw(st.integers(min_value=0, max_value=end))  # type: ignore[attr-defined]
    assert WHOLE[content_type](whole[:cut]) is False


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(list(WHOLE_FILES)), st.binary(max_size=256))
def test_no_bytes_make_a_check_raise(content_type: str, tail: bytes) -> None:
    magic = {"application/pdf": b"%PDF-1.4", "image/png": scans.FAKE_PNG}.get(
        content_type, b"\xff\xd8"
    )
    for data in (tail, magic + tail, WHOLE_FILES[content_type][:20] + tail):
        assert WHOLE[content_type](data) in (True, False)
