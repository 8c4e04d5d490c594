"""Every look at a person's household-register record, written to the audit log.

A tell-us-once report, and its preview, read the register (:mod:`onceonly.notify.register`):
whether the person is registered and alive, in which city, at which address. Each answer is
personal data, and an answer that refuses (no such person, death already recorded, not
registered in that city, not the registered address) tells as much as one that accepts. So a
check used to be a silent oracle: any household office of any city could ask, preview after
preview, about anyone, and the citizen's "who looked at my data" page never showed it.

Now each person the register was asked about gets one ``notify.register_check`` entry with
that person as ``subject`` (the event's subject, and a parent or spouse the event names),
written like the counter's ``case.register_check`` (:mod:`onceonly.cases.guards`): the
reader's account, badge, role, agency and credential, the dataset and the fields read, the
register's owner, and a reason in both languages. ``details`` say what the look was for
(``kind``, ``preview``), what the person is in the event (``as``), whether the register
held them, whether the check passed or which fields it refused (field and code, never the
value given), and where the office and the person are (``office_jurisdiction``,
``registered_in``, ``other_city``).

What may be revealed, to whom:

* **Reports and previews about citizens of other cities stay allowed.** A citizen may register
  a death, a birth or a move at any household office, and a move in is by nature recorded
  by an office of another city. Forbidding it would break the service; hiding the register's
  answer would leave the clerk unable to tell the informant what is wrong. Instead the look
  is on the record, marked ``other_city`` (said so to the citizen, except for a move in,
  where it is the normal case), so a probe is visible to the citizen and to the auditors.
* **The preview answers no more than the report would.** A report runs the very same checks
  and a refused one records nothing, so refusing or blurring only the preview would stop no
  prober and would cost the informant at the counter the answer before the real thing. The
  list of agencies to be told stays too (it can hint at the person's city, which the
  informant knows): it is what the preview is for. Nor is there a quota: an office records
  many events a day, and a quota on previews alone would be dodged by refused reports; what
  holds a prober to account is that every question, by badge and credential, is on the
  record the citizen reads.
* **A refusal is logged as surely as an acceptance.** The caller's transaction is rolled back
  when the check refuses (an API error, a failed CLI run, a refused relay), which used to
  take any entry written in it along. So the work of the report runs in a savepoint; on a
  refusal after the register answered, the savepoint is undone (no event, no half-made
  sequence row), the entries are appended and committed, and the refusal is raised. The
  caller's own earlier changes in that session, if any, are committed with them; every
  caller today opens the session for the report alone.
* **The address check is not an oracle of parts.** The old address of a move is compared
  whole (spelling aside), and a mismatch is said in one sentence that never says which part
  differs; nor does the same answer add the refusals that would say what did match (that the
  city is the one registered, that a move there is already recorded):
  :func:`~onceonly.notify.register.check_register` returns the mismatch alone. Guessing an
  address therefore takes one question per candidate, and every question is one entry
  (``refused`` names ``payload.old_address`` with ``mismatch``), on the citizen's page too.
* **A citizen's own report reads only their own record.** That is no one else's look, so it
  is not logged (the report itself is on the citizen's "my reports" page); a look by a
  citizen at anyone else would be.
* **Nothing read, nothing logged.** When the register cannot answer (503) or the event is
  refused before it is asked (a malformed field, an office that may not report), no person's
  record was read.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from onceonly.accounts.principal import Principal
from onceonly.accounts.users import CITIZEN_USERNAME_PREFIX
from onceonly.audit.log import AuditRecord, append_batch
from onceonly.catalog import service as catalog
from onceonly.errors import Problem
from onceonly.i18n import LANGUAGES, t
from onceonly.notify.kinds import NATIONAL_ID_FIELDS
from onceonly.notify.register import (
    REGISTER_DATASET,
    REGISTER_FIELDS,
    Register,
    RegisteredPerson,
)

REGISTER_CHECK_EVENT = "notify.register_check"
CITIZEN_CALLER = "citizen:"


@dataclass(frozen=True)
class Reader:
    """Who asks the register, as the audit log names them."""

    username: str
    agency: str | None = None
    role: str | None = None
    badge: str | None = None
    credential: Mapping[str, Any] | None = None
    own_national_id: str | None = None
    """A citizen reporting about themself: a look at their own record is not logged."""

    @classmethod
    def of(cls, principal: Principal) -> Reader:
        """A signed-in account (a clerk or owner at the counter or through the API)."""
        return cls(
            username=principal.username,
            agency=principal.agency_code,
            role=principal.role,
            badge=principal.badge,
            credential=dict(principal.credential) if principal.credential else None,
        )

    @classmethod
    def of_caller(cls, caller: str, recorded_by: str | None = None) -> Reader:
        """The reader when the caller names no account: ``citizen:<ID>`` (the portal),
        ``node:<id>`` (a relayed move) or an agency code (the command line, whose event
        says who recorded it)."""
        if caller.startswith(CITIZEN_CALLER):
            own = caller.removeprefix(CITIZEN_CALLER).upper()
            return cls(CITIZEN_USERNAME_PREFIX + own.lower(), role="citizen", own_national_id=own)
        if caller.startswith("node:"):
            return cls(caller)
        return cls(recorded_by or caller, agency=caller)


@dataclass
class LoggedRegister:
    """A :class:`~onceonly.notify.register.Register` that remembers whom it was asked about
    and what it answered (the first answer per person), for :func:`logged_reads`."""

    register: Register
    answers: dict[str, RegisteredPerson | None] = field(default_factory=dict)

    def person(self, national_id: str) -> RegisteredPerson | None:
        found = self.register.person(national_id)  # unanswered (503): nothing was read
        self.answers.setdefault(national_id, found)
        return found


@dataclass(frozen=True)
class Look:
    """What a look was for: the event's kind and fields, and whether it was a preview."""

    kind: str
    payload: Mapping[str, Any]
    preview: bool


def _role_in_event(national_id: str, payload: Mapping[str, Any]) -> str:
    for name in sorted(NATIONAL_ID_FIELDS):
        if str(payload.get(name) or "").upper() == national_id:
            return name
    return "subject"


def _reason(look: Look, refused: bool, other_city: bool) -> dict[str, str]:
    mode = "preview" if look.preview else "report"
    said = {}
    for lang in LANGUAGES:
        kind = t(f"notify.kind.{look.kind}", lang)
        text = t(f"notify.audit.register_check.{mode}", lang, kind=kind)
        if other_city:
            text += t("notify.audit.register_check.other_city", lang)
        if refused:
            text += t("notify.audit.register_check.refused", lang)
        said[lang] = text
    return said


def register_check_records(
    session: Session,
    reader: Reader,
    answers: Mapping[str, RegisteredPerson | None],
    look: Look,
    refused: Problem | None,
) -> list[AuditRecord]:
    """One entry per person the register was asked about, the reader's own record aside;
    ``refused``: the refusal the check ended in (``None`` when it passed)."""
    dataset = catalog.get_dataset(session, REGISTER_DATASET)
    owner = dataset.owner_agency if dataset else None
    office = catalog.get_agency(session, reader.agency) if reader.agency else None
    office_city = office.jurisdiction if office else None
    outcome: dict[str, Any] = {"outcome": "passed"}
    if refused is not None:
        outcome = {
            "outcome": "refused",
            "problem": refused.kind,
            "refused": [{"field": e.field, "code": e.code} for e in refused.errors],
        }
    records = []
    for national_id, person in answers.items():
        if national_id == reader.own_national_id:
            continue
        registered_in = person.jurisdiction if person else None
        other_city = bool(
            office_city not in (None, "central") and registered_in and registered_in != office_city
        )
        reason = _reason(look, refused is not None, other_city and look.kind != "move_in")
        details: dict[str, Any] = {
            "kind": look.kind,
            "preview": look.preview,
            "as": _role_in_event(national_id, look.payload),
            "registered": person is not None,
            **outcome,
            "office_jurisdiction": office_city,
            "registered_in": registered_in,
            "other_city": other_city,
        }
        if reader.credential:
            details["credential"] = dict(reader.credential)
        records.append(
            AuditRecord(
                event=REGISTER_CHECK_EVENT,
                actor_username=reader.username,
                actor_badge=reader.badge,
                actor_role=reader.role,
                actor_agency=reader.agency,
                subject=national_id,
                dataset=REGISTER_DATASET,
                fields=list(REGISTER_FIELDS),
                owner_agency=owner,
                reason_zh=reason["zh-TW"],
                reason_en=reason["en"],
                details=details,
            )
        )
    return records


@contextmanager
def logged_reads(
    session: Session, register: Register, reader: Reader, look: Look
) -> Iterator[Register]:
    """The register to check an event with, every look at it written to the audit log in
    ``session``: with the caller's transaction when the block succeeds; on a refusal
    (:class:`~onceonly.errors.Problem`) after the register answered, with the block's own
    changes undone and the entries committed before the refusal goes on (the caller rolls
    back on it, and the look happened all the same). Nested, the outer block logs."""
    if isinstance(register, LoggedRegister):
        yield register
        return
    logged = LoggedRegister(register)
    savepoint = session.begin_nested()
    try:
        yield logged
    except Problem as problem:
        if savepoint.is_active:
            savepoint.rollback()
        records = register_check_records(session, reader, logged.answers, look, problem)
        if records:
            append_batch(session, records)
            session.commit()
        raise
    except BaseException:
        if savepoint.is_active:
            savepoint.rollback()
        raise
    savepoint.commit()
    records = register_check_records(session, reader, logged.answers, look, None)
    if records:
        append_batch(session, records)
