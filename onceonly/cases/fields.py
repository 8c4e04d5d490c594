"""What a clerk types about a case, checked: an e-mail address, a mobile number, a note and
a national ID, each refused with the field named and why.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from onceonly.cases.schemas import MAX_NOTE_CHARS
from onceonly.domain.errors import DomainValueError
from onceonly.domain.national_id import validate_national_id
from onceonly.errors import FieldError, Problem, validation_problem
from onceonly.i18n import t

_EMAIL_RE = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"
)


_MOBILE_RE = re.compile(r"09\d{8}")


def normalise_email(value: str, lang: str | None = None) -> str:
    """The address trimmed, or a FieldError-ready reason: one ``@``, a dotted domain, ASCII."""
    address = value.strip()
    if not _EMAIL_RE.fullmatch(address) or len(address) > 254:
        raise field_problem("contact_email", "cases.contact.email_invalid", lang, value=value)
    return address


def normalise_mobile(value: str, lang: str | None = None) -> str:
    """A Taiwan mobile number as ``09xxxxxxxx``; ``+886 9xx``, spaces and dashes accepted."""
    digits = re.sub(r"[\s\-().]", "", unicodedata.normalize("NFKC", value))
    if digits.startswith("+886"):
        digits = "0" + digits[4:]
    elif digits.startswith("886") and len(digits) == 12:
        digits = "0" + digits[3:]
    if not _MOBILE_RE.fullmatch(digits):
        raise field_problem("contact_mobile", "cases.contact.mobile_invalid", lang, value=value)
    return digits


def field_problem(name: str, key: str, lang: str | None, **params: Any) -> Problem:
    return validation_problem([FieldError(name, t(key, lang, **params))], lang)


def checked_note(name: str, value: str, required_key: str, lang: str | None) -> str:
    """The clerk's note stripped; refused when empty or over :data:`MAX_NOTE_CHARS`."""
    text = value.strip()
    if not text:
        raise field_problem(name, required_key, lang)
    if len(text) > MAX_NOTE_CHARS:
        raise field_problem(
            name, "cases.note.too_long", lang, length=len(text), limit=MAX_NOTE_CHARS
        )
    return text


def checked_subject(value: str, lang: str | None) -> str:
    try:
        return validate_national_id(value)
    except DomainValueError as exc:
        raise validation_problem(
            [FieldError("subject", exc.message(lang or "zh-TW"), exc.code)], lang
        ) from exc
