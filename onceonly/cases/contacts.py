"""Where a case's messages go, on the record and told to the citizen's own channel.

A clerk types an e-mail address or mobile number when opening a case (the citizen may give
the counter one for this case; many have registered none). Every message about the case goes
there, the decision with its reason too, so the address is personal data leaving the platform:

- each address set is written to the audit log with the citizen as subject and the clerk as
  actor (``case.contact_set``: channel, the address masked, whether it is the contact the
  citizen registered), in the transaction that sets it; the citizen's page of who handled
  their data lists it in words (and each message that left, ``case.notice_sent``,
  :mod:`onceonly.cases.notifications`);
- when the citizen registered a contact themselves (tell-us-once ``contact_details``,
  :mod:`onceonly.notify.contacts`) and the case's messages go elsewhere, that contact is told
  (message ``contact_elsewhere``: the case, the masked addresses, the agency, whom to ask), so
  a case's messages cannot be sent away unseen. Nothing is sent there when the addresses are
  the citizen's own, or when they registered none.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from onceonly.audit.log import append
from onceonly.cases.models import Case
from onceonly.cases.notifications import enqueue_to
from onceonly.cases.state import CaseActor, message_names
from onceonly.domain.contacts import mask_contact
from onceonly.i18n import t


def _same(channel: str, given: str, registered: str | None) -> bool:
    if not registered:
        return False
    if channel == "email":  # one mailbox, however its letters were typed
        return given.strip().casefold() == registered.strip().casefold()
    return given.strip() == registered.strip()


def given_contacts(case: Case) -> list[tuple[str, str]]:
    """The case's (channel, address) pairs, e-mail first."""
    pairs = (("email", case.contact_email), ("sms", case.contact_mobile))
    return [(channel, address) for channel, address in pairs if address]


def _where(pairs: list[tuple[str, str]], lang: str) -> str:
    return ("、" if lang != "en" else ", ").join(
        f"{t(f'counter.channel.{channel}', lang)} {mask_contact(channel, address)}"
        for channel, address in pairs
    )


def record_contacts(session: Session, case: Case, actor: CaseActor) -> None:
    """Audit each contact of ``case`` (just set by ``actor``) and, when they are not the
    citizen's registered contact, write the ``contact_elsewhere`` message to it; in the
    caller's transaction. A case about no one (an Open311 report) has no citizen to tell."""
    given = given_contacts(case)
    if not case.subject or not given:
        return
    from onceonly.notify.contacts import registered_contact  # notify builds on cases

    own = registered_contact(session, case.subject)
    registered = {"email": own.email, "sms": own.mobile} if own else {}
    elsewhere = [(c, a) for c, a in given if not _same(c, a, registered.get(c))]
    for channel, address in given:
        standing = "none" if not own else "other" if (channel, address) in elsewhere else "own"
        recipient = mask_contact(channel, address)
        reason = {
            lang: t(
                "cases.audit.contact_set",
                lang,
                number=case.number,
                channel=t(f"counter.channel.{channel}", lang),
                recipient=recipient,
            )
            + t(f"cases.audit.contact_set.{standing}", lang)
            for lang in ("zh-TW", "en")
        }
        append(
            session,
            actor.audit_record(
                case,
                "case.contact_set",
                {"channel": channel, "recipient": recipient, "registered": standing},
                reason_zh=reason["zh-TW"],
                reason_en=reason["en"],
            ),
        )
    if own and elsewhere:
        lang = case.contact_language
        enqueue_to(
            session,
            case,
            "contact_elsewhere",
            own.email,
            own.mobile,
            where=_where(elsewhere, lang),
            **message_names(session, case, lang),
        )
