"""Checking a reported life event against the household register before it is accepted.

The register belongs to the household-registration owner; notify reads it only through that
owner's provider (the same :class:`~onceonly.providers.base.Provider` the exchange asks, so a
connector, a gateway or another node answer alike), and only the fields a check needs. A
refusal names the field and the reason, in words, like any other bad input.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from onceonly.catalog import service as catalog
from onceonly.domain.address import Address, parse_address
from onceonly.domain.errors import DomainValueError
from onceonly.errors import FieldError
from onceonly.i18n import both, t
from onceonly.notify.models import LifeEvent
from onceonly.providers.base import Provider, ProviderUnavailable

REGISTER_DATASET = "household_registration"
REGISTER_FIELDS = ("national_id", "name", "address", "jurisdiction", "is_alive", "death_date")


@dataclass(frozen=True)
class RegisteredPerson:
    """What the register says about one person, as far as the checks need it."""

    national_id: str
    name: str | None
    address: str | None
    jurisdiction: str | None
    alive: bool


class Register(Protocol):
    """The household register as notify asks it: one person, or ``None`` when it holds none.
    Raises :class:`~onceonly.providers.base.ProviderUnavailable` when it cannot answer."""

    def person(self, national_id: str) -> RegisteredPerson | None: ...


class ProviderRegister:
    """A :class:`Register` over the household-registration owner's provider."""

    def __init__(self, provider: Provider) -> None:
        self.provider = provider

    def person(self, national_id: str) -> RegisteredPerson | None:
        record = self.provider.fetch(REGISTER_DATASET, national_id, list(REGISTER_FIELDS))
        if record is None:
            return None
        fields = record.fields
        alive = fields.get("is_alive")
        return RegisteredPerson(
            national_id=national_id,
            name=_text(fields.get("name")),
            address=_text(fields.get("address")),
            jurisdiction=_text(fields.get("jurisdiction")),
            alive=(not fields.get("death_date")) if alive is None else bool(alive),
        )


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _canonical(text: str) -> Address | str:
    """An address in a form two spellings of it share; the stripped text when unreadable.
    The 里 and 鄰 are left out: informants often omit them and they never tell two doors apart."""
    try:
        return dataclasses.replace(parse_address(text), village=None, neighbourhood=None)
    except DomainValueError:
        return "".join(text.split())


def same_address(given: str, registered: str) -> bool:
    """Whether the informant's address is the registered one, however it is spelled."""
    return _canonical(given) == _canonical(registered)


@dataclass(frozen=True)
class RegisterCheck:
    """The outcome: the problems (each naming its field), and the jurisdiction the event
    belongs to (where the subject, or for a birth a parent, is registered)."""

    errors: list[FieldError]
    jurisdiction: str | None


def _recorded_death(session: Session, national_id: str) -> bool:
    return (
        session.scalar(
            select(LifeEvent.id)
            .where(LifeEvent.national_id == national_id, LifeEvent.kind == "death")
            .limit(1)
        )
        is not None
    )


def _recorded_birth(session: Session, national_id: str) -> bool:
    return (
        session.scalar(
            select(LifeEvent.id)
            .where(LifeEvent.national_id == national_id, LifeEvent.kind == "birth")
            .limit(1)
        )
        is not None
    )


def last_move_out_to(session: Session, subject: str, destination: str) -> LifeEvent | None:
    """The subject's last move recorded here, when it is a 遷出 to ``destination``: the same
    move told again (by an office, or relayed by the node of the city moved to)."""
    last = session.scalar(
        select(LifeEvent)
        .where(
            LifeEvent.national_id == subject,
            LifeEvent.kind.in_(("move_out", "move_in", "address_change")),
        )
        .order_by(LifeEvent.seq.desc())
        .limit(1)
    )
    if last is None or last.kind != "move_out":
        return None
    return last if last.payload.get("to_jurisdiction") == destination else None


def check_register(
    session: Session,
    register: Register,
    kind: str,
    subject: str,
    payload: dict[str, Any],
    lang: str | None,
) -> RegisterCheck:
    """Every way ``kind`` about ``subject`` contradicts the register or an event already
    recorded: the person must be registered and alive (a death is recorded once); a birth's
    child must be new and a named parent registered; a move's old address must be the
    registered one; a move out must leave for another jurisdiction.

    Each answer is itself personal data: callers ask through
    :func:`~onceonly.notify.register_log.logged_reads`, which writes every person asked
    about to the audit log. An old address that is not the registered one is the only
    refusal then given (the others would say which parts of the guess were right)."""
    errors: list[FieldError] = []

    def refuse(field: str, key: str, code: str, **params: Any) -> None:
        errors.append(FieldError(field, t(key, lang, **params), code))

    if kind == "birth":
        person = register.person(subject)
        if person is not None or _recorded_birth(session, subject):
            refuse("national_id", "notify.register.already_born", "conflict")
        jurisdiction = None
        for field in ("mother_national_id", "father_national_id"):
            parent_id = payload.get(field)
            if not parent_id:
                continue
            parent = register.person(str(parent_id))
            if parent is None:
                refuse(f"payload.{field}", "notify.register.not_registered", "not_found")
            elif jurisdiction is None:
                jurisdiction = parent.jurisdiction
        return RegisterCheck(errors, jurisdiction)

    person = register.person(subject)
    if person is None:
        refuse("national_id", "notify.register.not_registered", "not_found")
        return RegisterCheck(errors, None)
    if not person.alive or _recorded_death(session, subject):
        key = "notify.register.already_dead" if kind == "death" else "notify.register.deceased"
        refuse("national_id", key, "conflict")
        return RegisterCheck(errors, person.jurisdiction)
    old = payload.get("old_address")
    registered = person.address
    moving = kind in ("address_change", "move_out")
    if old and moving and registered and not same_address(str(old), registered):
        # Said alone, and never which part differs: the refusals below would tell a prober
        # what did match (that the city is the registered one, that a move there is known).
        refuse("payload.old_address", "notify.register.not_registered_address", "mismatch")
        return RegisterCheck(errors, person.jurisdiction)
    if kind == "move_out" and payload.get("to_jurisdiction") == person.jurisdiction:
        refuse("payload.to_jurisdiction", "notify.register.same_jurisdiction", "invalid")
    destination = str(payload.get("to_jurisdiction") or "")
    if kind == "move_out" and last_move_out_to(session, subject, destination) is not None:
        refuse("national_id", "notify.register.already_moved_out", "conflict")
    if kind == "move_in" and payload.get("from_jurisdiction") != person.jurisdiction:
        # Arriving from elsewhere: the register (still) holds the person where they leave.
        refuse("payload.from_jurisdiction", "notify.register.not_from_there", "mismatch")
    for field in ("spouse_national_id",):
        other = payload.get(field)
        if other and register.person(str(other)) is None:
            refuse(f"payload.{field}", "notify.register.not_registered", "not_found")
    return RegisterCheck(errors, person.jurisdiction)


class Owners(Protocol):
    """Where providers are found (the exchange's provider directory)."""

    def for_owner(self, agency_code: str) -> Provider | None: ...


class Unconnected:
    """The register when its owner is not connected to this node: every question is a 503."""

    def __init__(self, owner: str) -> None:
        self.owner = owner

    def person(self, national_id: str) -> RegisteredPerson | None:
        raise ProviderUnavailable(self.owner, both("connectors.unavailable.not_connected"), 3600)


def household_register(session: Session, owners: Owners) -> Register:
    """The register of the catalog's owner of household registration, through its provider."""
    dataset = catalog.get_dataset(session, REGISTER_DATASET)
    owner = (dataset.owner_agency if dataset else None) or REGISTER_DATASET
    provider = owners.for_owner(owner)
    return ProviderRegister(provider) if provider is not None else Unconnected(owner)
