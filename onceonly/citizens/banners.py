"""What the portal says after a citizen's action, on the page the action returns to (GOV.UK's
notification banner, its success kind): "you consented to ...", "you declined ...".

Post/Redirect/Get: the action's answer is a 303 to the page with a short code and the id of
what was acted on (``/me/consents?done=consent-granted&id=12#done``), never words. The page
looks that id up among the signed-in citizen's *own* consents, previews or flags and shows the
fixed message of the code about it (named in words from the catalog), and only when the thing
is in the state the code says. An unknown code, an id that is not a number, another person's
id, or a thing in another state shows nothing: nobody can make a page of our domain say
something to a citizen by sending them a crafted link. Reloading the page shows the banner
again and repeats nothing (the action was the POST).

The words are in ``citizens/_done.html`` and ``citizens.done.*``; the banner is a
``role="status"`` region, focusable and the redirect's fragment, so a screen reader reads it
when the page opens.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from sqlalchemy.orm import Session

from onceonly.audit.log import AuditEntryView
from onceonly.audit.models import AuditEntry
from onceonly.citizens.accesses import Access, describe
from onceonly.citizens.consents import ConsentRow
from onceonly.citizens.flags import FlagView
from onceonly.citizens.previews import PreviewView
from onceonly.web.params import MAX_INTEGER

CONSENT_GRANTED = "consent-granted"
CONSENT_REVOKED = "consent-revoked"
PREVIEW_APPROVED = "preview-approved"
PREVIEW_DECLINED = "preview-declined"
FLAG_RAISED = "flag-raised"
REPORT_SENT = "report-sent"
"""Not in an address: the reports page keeps its ``?sent=<reference>`` (looked up the same
way, among the citizen's own reports)."""

ANCHOR = "done"
"""The banner's ``id``: the redirect's fragment, so the browser moves to it and focuses it."""


@dataclass(frozen=True)
class Done:
    """A banner to show: the code and the citizen's own thing it is about."""

    code: str
    thing: Any
    entry: Access | None = None
    """For a flag: the entry flagged, as the citizen's page describes it."""


def address(path: str, code: str, thing_id: int, lang: str) -> str:
    """Where an action's POST sends the browser: ``path`` with the code and the id."""
    return f"{path}?{urlencode({'lang': lang, 'done': code, 'id': thing_id})}#{ANCHOR}"


def _asked(request: Request, codes: Collection[str]) -> tuple[str, int] | None:
    """The code and id in the page's address, when the code is one this page knows and the
    id a row id; anything else is nothing to say."""
    code = request.query_params.get("done", "")
    raw = request.query_params.get("id", "")
    if code not in codes or not raw or len(raw) > 10 or not (raw.isascii() and raw.isdigit()):
        return None
    number = int(raw)
    return (code, number) if 1 <= number <= MAX_INTEGER else None


def consent_done(request: Request, own: Sequence[ConsentRow]) -> Done | None:
    """The consents page's banner: ``own`` is the signed-in citizen's consents."""
    asked = _asked(request, (CONSENT_GRANTED, CONSENT_REVOKED))
    if asked is None:
        return None
    code, number = asked
    row = next((c for c in own if c.id == number), None)
    if row is None:
        return None
    if code == CONSENT_GRANTED and row.revoked_at is not None:
        return None
    if code == CONSENT_REVOKED and row.revoked_at is None:
        return None
    return Done(code, row)


def preview_done(request: Request, own: Sequence[PreviewView]) -> Done | None:
    """The previews page's banner: ``own`` is the signed-in citizen's previews."""
    asked = _asked(request, (PREVIEW_APPROVED, PREVIEW_DECLINED))
    if asked is None:
        return None
    code, number = asked
    view = next((p for p in own if p.id == number), None)
    if view is None:
        return None
    states = ("approved", "released") if code == PREVIEW_APPROVED else ("declined",)
    return Done(code, view) if view.status in states else None


def flag_done(
    request: Request, session: Session, national_id: str, own: Sequence[FlagView], lang: str
) -> Done | None:
    """The "who looked" page's banner: ``own`` is the signed-in citizen's flags; the entry
    flagged is described as the page lists it (it is about the same citizen)."""
    asked = _asked(request, (FLAG_RAISED,))
    if asked is None:
        return None
    code, number = asked
    flag = next((f for f in own if f.id == number and f.subject == national_id), None)
    if flag is None:
        return None
    row = session.get(AuditEntry, flag.entry_seq)
    if row is None or row.subject != national_id:
        return None
    return Done(code, flag, describe(session, AuditEntryView.from_row(row), lang))


def report_done(sent: str, own: Sequence[Any], reference_of: Any) -> Done | None:
    """The reports page's banner: ``sent`` is the reference in the address, ``own`` the
    citizen's own reports; a reference that is none of them says nothing."""
    if not sent or len(sent) > 40:
        return None
    event = next((e for e in own if reference_of(e.id) == sent), None)
    return Done(REPORT_SENT, event) if event is not None else None
