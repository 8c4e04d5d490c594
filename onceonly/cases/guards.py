"""What the counter says before a clerk opens a case that is probably a mistake: the citizen
already has an open case of the same item, or the household register says the citizen has
died or holds no one with that ID. Warnings, in words; the clerk may still go on (a second
case can be right, and the register can lag), by confirming on the same form.

The register is asked through its owner's provider, for two fields only, when the owner lets
the clerk's agency read it for this item, and the read is written to the audit log like any
other look at a person's record. An open case is looked for in the clerk's own agency only:
another agency's case looks as if there were none.

The counter's open form shows them (``onceonly.counter``) and the cases API returns them
(``GET /api/v1/cases/warnings``), so both kinds of client can warn before opening.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.orm import Session

from onceonly.accounts.deps import Principal
from onceonly.audit.log import AuditRecord, append
from onceonly.cases import service
from onceonly.cases.steps import case_actor
from onceonly.catalog import service as catalog
from onceonly.domain.errors import DomainValueError
from onceonly.domain.national_id import validate_national_id
from onceonly.errors import FieldError, validation_problem
from onceonly.i18n import t
from onceonly.policy.service import Requester, allows_reading
from onceonly.providers.base import Provider, ProviderUnavailable

CAUTION_KINDS = ("open_case", "deceased", "not_registered", "register_unknown")
REGISTER_DATASET = "household_registration"
LIFE_FIELDS = ("is_alive", "death_date")


@dataclass(frozen=True)
class Caution:
    kind: str
    """``open_case``, ``deceased``, ``not_registered`` or ``register_unknown``."""
    text: str
    case_number: str | None = None


class Providers(Protocol):
    """Where an owner's provider is found (the exchange's provider directory)."""

    def for_owner(self, agency_code: str) -> Provider | None: ...


def agency_name(session: Session, code: str, lang: str) -> str:
    agency = catalog.get_agency(session, code)
    if agency is None:
        return code
    return agency.name_en if lang == "en" else agency.name_zh


def check_request(
    session: Session, user: Principal, application_item: str, subject: str, lang: str
) -> None:
    """A 422 naming each field that is wrong, as opening would (the API asks before opening,
    so it is told): the subject, an unknown item, or one the user's agency has no part in."""
    errors: list[FieldError] = []
    try:
        validate_national_id(subject)
    except DomainValueError as exc:
        errors.append(FieldError("subject", exc.message(lang), exc.code))
    item = catalog.get_application_item(session, application_item)
    agency = catalog.get_agency(session, user.agency_code)
    if item is None:
        errors.append(
            FieldError(
                "application_item", t("cases.unknown_item", lang, code=application_item), "unknown"
            )
        )
    elif agency is not None and (refused := service.not_handled_error(session, item, agency, lang)):
        errors.append(refused)
    if errors:
        raise validation_problem(errors, lang)


def _register_warning(
    session: Session, providers: Providers, user: Principal, national_id: str, item: str, lang: str
) -> Caution | None:
    """Asked only when the register's owner lets the clerk's agency read it for this item
    (:func:`~onceonly.policy.service.allows_reading`): else any clerk could learn of anyone,
    with no case and no rule, whether they are registered and when they died."""
    dataset = catalog.get_dataset(session, REGISTER_DATASET)
    owner = dataset.owner_agency if dataset else None
    provider = providers.for_owner(owner) if owner else None
    agency = catalog.get_agency(session, user.agency_code)
    if provider is None or owner is None or agency is None:
        return None
    requester = Requester(agency.code, agency.kind, agency.jurisdiction)
    if not allows_reading(
        session,
        requester=requester,
        owner_agency=owner,
        dataset=REGISTER_DATASET,
        application_item=item,
        subject=national_id,
    ):
        return None
    try:
        record = provider.fetch(REGISTER_DATASET, national_id, list(LIFE_FIELDS))
    except ProviderUnavailable:
        return Caution("register_unknown", t("counter.warn.register_unknown", lang))
    append(
        session,
        AuditRecord(
            event="case.register_check",
            actor_username=user.username,
            actor_badge=user.badge,
            actor_role=user.role,
            actor_agency=user.agency_code,
            application_item=item,
            subject=national_id,
            dataset=REGISTER_DATASET,
            fields=list(LIFE_FIELDS),
            owner_agency=owner,
            reason_zh=t("counter.audit.register_check", "zh-TW"),
            reason_en=t("counter.audit.register_check", "en"),
            details={"credential": dict(user.credential)} if user.credential else {},
        ),
    )
    if record is None:
        return Caution("not_registered", t("counter.warn.not_registered", lang))
    fields = record.fields
    alive = fields.get("is_alive")
    dead = bool(fields.get("death_date")) if alive is None else not bool(alive)
    if dead:
        when = str(fields.get("death_date") or "")
        key = "counter.warn.deceased_on" if when else "counter.warn.deceased"
        return Caution("deceased", t(key, lang, date=when))
    return None


def open_warnings(
    session: Session,
    providers: Providers,
    user: Principal,
    application_item: str,
    subject: str,
    lang: str,
) -> list[Caution]:
    """The warnings due before opening this case; none when the form itself is wrong or the
    user's agency has no part in the item (opening then names the field), or nothing looks
    amiss."""
    try:
        national_id = validate_national_id(subject)
    except DomainValueError:
        return []
    item = catalog.get_application_item(session, application_item)
    agency = catalog.get_agency(session, user.agency_code)
    if item is None or agency is None or not service.handles(session, item, agency):
        return []  # opening will say why; the register is not asked for a case never opened
    name = item.name_en if lang == "en" else item.name_zh
    warnings = [
        Caution(
            "open_case",
            t(
                "counter.warn.open_case",
                lang,
                number=case.number,
                item=name,
                agency=agency_name(session, case.agency, lang),
                state=t(f"cases.state.{case.state}", lang),
            ),
            case.number,
        )
        for case in service.open_cases_of(session, case_actor(user), national_id, item.code)
    ]
    register = _register_warning(session, providers, user, national_id, item.code, lang)
    if register is not None:
        warnings.append(register)
    return warnings
