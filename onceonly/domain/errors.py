"""The one exception type of the domain utilities.

A stable ``code`` lets the API put it in an RFC 9457 problem document, and both message texts
travel with it so the UI can show Traditional Chinese or English without a lookup table.
"""

from __future__ import annotations


class DomainValueError(ValueError):
    """A value broke a domain rule; ``code`` is stable, e.g. ``"national_id.checksum"``."""

    def __init__(
        self, code: str, message_zh: str, message_en: str, field: str | None = None
    ) -> None:
        # All arguments go to ``args`` so the exception survives pickling (xdist, workers).
        super().__init__(code, message_zh, message_en, field)
        self.code = code
        self.message_zh = message_zh
        self.message_en = message_en
        self.field = field

    def __str__(self) -> str:
        return self.message_en

    def message(self, lang: str = "zh-TW") -> str:
        """The message in ``lang``: English for any ``en*`` tag, Traditional Chinese otherwise."""
        return self.message_en if lang.lower().startswith("en") else self.message_zh

    def __repr__(self) -> str:
        return f"DomainValueError({self.code!r}, {self.message_en!r}, field={self.field!r})"
