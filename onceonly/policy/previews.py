"""The citizen's preview, as the owner's rule demands it: what the exchange must do with a
piece whose rule says the citizen sees the evidence before the clerk does.

The previews themselves are kept by the citizen portal (``onceonly.citizens.previews``),
which implements :class:`PreviewBook`; the app factory wires it into the exchange. Here lives
the policy: which previews decide a request (:class:`PreviewKey`) and what each state of the
citizen's decision means for the clerk (:func:`verdict`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class PreviewKey:
    """A preview decides the requests of one agency, case, item and evidence type."""

    subject: str
    case_id: str
    application_item: str
    evidence_type: str
    requester_agency: str


class PreviewState(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def decided_at(self) -> datetime | None: ...
    @property
    def label(self) -> str: ...


class PreviewBook(Protocol):
    """Where held evidence waits for the citizen's decision."""

    def current(self, session: Session, key: PreviewKey) -> PreviewState | None:
        """The preview that decides the next request of ``key``, if any."""
        ...

    def hold(
        self,
        session: Session,
        key: PreviewKey,
        *,
        dataset: str,
        requester_badge: str,
        request_id: str,
        held: dict[str, Any],
    ) -> PreviewState:
        """Keep freshly signed evidence for the citizen to see."""
        ...

    def release(self, session: Session, preview_id: int) -> dict[str, Any]:
        """Hand out once what the citizen approved; ``LookupError`` if it is not approved."""
        ...


Action = Literal["hold", "release", "declined", "waiting", "unavailable"]


@dataclass(frozen=True)
class Verdict:
    action: Action
    reason_key: str = ""
    params: dict[str, str] | None = None
    preview_id: int | None = None


def verdict(book: PreviewBook | None, session: Session, key: PreviewKey) -> Verdict:
    """What a piece whose rule requires a preview does now: fetch afresh and hold it for the
    citizen, release what they approved, refuse what they declined, or wait while they have
    not decided. Without a preview book nothing can be held, so nothing is handed out."""
    if book is None:
        return Verdict("unavailable", "policy.preview_unavailable")
    state = book.current(session, key)
    if state is None:
        return Verdict("hold")
    if state.status == "approved":
        return Verdict("release", preview_id=state.id)
    if state.status == "declined":
        when = state.decided_at.date().isoformat() if state.decided_at else ""
        return Verdict(
            "declined",
            "citizens.preview.declined_reason",
            {"id": state.label, "when": when},
            state.id,
        )
    return Verdict("waiting", "citizens.preview.waiting", {"id": state.label}, state.id)
