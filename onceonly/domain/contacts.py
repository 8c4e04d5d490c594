"""An e-mail address or mobile number as a page, an audit entry or a message may show it.

Masked like :func:`onceonly.domain.national_id.mask_national_id`: enough is kept for the
person whose contact it is to recognise it (or see that it is not theirs: the e-mail domain
stays whole), too little to write to it.
"""

from __future__ import annotations

MASK = "***"


def mask_email(address: str) -> str:
    """``chen.wei@example.org`` -> ``c***@example.org``; anything without a local part and a
    domain is masked entirely."""
    local, at, domain = address.strip().rpartition("@")
    if not at or not local or not domain:
        return MASK
    return f"{local[0]}{MASK}@{domain}"


def mask_mobile(number: str) -> str:
    """``0912345678`` -> ``0912***678``; a number too short to keep both ends of is masked
    entirely."""
    digits = number.strip()
    if len(digits) < 8:
        return MASK
    return f"{digits[:4]}{MASK}{digits[-3:]}"


def mask_contact(channel: str, value: str) -> str:
    """``value`` masked as the address of ``channel`` (``email``, else a mobile number)."""
    return mask_email(value) if channel == "email" else mask_mobile(value)
