"""Column headings read alike: on /admin/notify in English three of them were lower-case
("pending", "delivered", "processed": the delivery states, as a cell says them) among
capitalised ones ("Agency", "Retrying", "Dead")."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import pytest

from onceonly.i18n import LANGUAGES, catalogue, t
from onceonly.web.templating import templates

HEADING = re.compile(r"<th\b[^>]*>(.*?)</th>", re.S)


def _main_block(name: str, lang: str, **context: Any) -> str:
    """The page's own part (its ``main`` block), rendered as the app would in ``lang``."""
    template = templates.env.get_template(name)
    values = {
        "lang": lang,
        "tr": lambda key, **kw: t(key, lang, **kw),
        "tr_or": lambda key, fallback: t(key, lang) if key in catalogue() else fallback,
        "named": str,
        "when": lambda moment, seconds=False: str(moment),
        "mask": lambda value: value,
        **context,
    }
    return "".join(template.blocks["main"](template.new_context(values)))


def headings(html: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in HEADING.findall(html)]


def _admin_notify(lang: str) -> str:
    """/admin/notify with a row in each of its four tables, so every heading shows."""
    queue = SimpleNamespace(
        agency_code="taipei-city.tax_office", mode="push", pending=1, retrying=0, delivered=2,
        processed=3, dead=0, lag_seconds=lambda: 0.0,
    )  # fmt: skip
    failure = SimpleNamespace(
        delivery_id=1, agency_code="taipei-city.tax_office", kind="death", attempts=2,
        last_status_code=503, last_error="", next_attempt_at=None,
    )  # fmt: skip
    dead = SimpleNamespace(
        id=1, agency_code="taipei-city.tax_office", kind="death", national_id="A12345****",
        seq=1, attempts=5, last_status_code=503, last_error="",
    )  # fmt: skip
    message = SimpleNamespace(
        case_number="TPE-1", channel="email", attempts=1, last_error="", created_at=None
    )
    return _main_block(
        "notify/admin.html",
        lang,
        queues=[queue],
        failures=[failure],
        dead_letters=[dead],
        case_failures=[message],
        user=SimpleNamespace(csrf_token="x"),
    )


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_heading_of_the_notify_administration_page_is_in_words(lang: str) -> None:
    found = headings(_admin_notify(lang))
    assert len(found) == 8 + 6 + 7 + 5, found
    assert all(found), found


def test_the_notify_administration_page_capitalises_every_english_heading() -> None:
    found = headings(_admin_notify("en"))
    lower = [heading for heading in found if heading[:1].islower()]
    assert not lower, f"lower-case headings among {found}"
    assert {"Pending", "Delivered", "Processed"} <= set(found)
