"""The kinds of life event and the fields each may carry.

Household-registration events come from the household registration office; the citizen
reports the last two kinds themselves. A move between cities is two events: 遷出 (``move_out``,
recorded where the citizen leaves) and 遷入 (``move_in``, where they arrive); a move inside one
city is an ``address_change``. ``required`` fields must be present; any field outside
``fields`` is refused so nothing unexpected reaches an agency.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EventKind:
    code: str
    source: str
    fields: tuple[str, ...]
    required: tuple[str, ...]


HOUSEHOLD = "household_registration"
CITIZEN = "citizen"

EVENT_KINDS: dict[str, EventKind] = {
    k.code: k
    for k in (
        EventKind(
            "address_change",
            HOUSEHOLD,
            ("new_address", "old_address", "moved_on", "household_no"),
            ("new_address",),
        ),
        EventKind("name_change", HOUSEHOLD, ("new_name", "old_name", "changed_on"), ("new_name",)),
        EventKind("death", HOUSEHOLD, ("death_date", "name", "place_of_death"), ("death_date",)),
        EventKind(
            "birth",
            HOUSEHOLD,
            ("birth_date", "name", "father_national_id", "mother_national_id", "address"),
            ("birth_date",),
        ),
        EventKind(
            "marriage",
            HOUSEHOLD,
            ("marriage_date", "spouse_national_id", "spouse_name"),
            ("marriage_date",),
        ),
        EventKind(
            "divorce",
            HOUSEHOLD,
            ("divorce_date", "spouse_national_id", "spouse_name"),
            ("divorce_date",),
        ),
        EventKind(
            "move_out",
            HOUSEHOLD,
            ("moved_out_on", "old_address", "to_jurisdiction", "household_no"),
            ("moved_out_on", "old_address", "to_jurisdiction"),
        ),
        EventKind(
            "move_in",
            HOUSEHOLD,
            ("moved_in_on", "new_address", "old_address", "from_jurisdiction", "household_no"),
            ("moved_in_on", "new_address", "from_jurisdiction"),
        ),
        EventKind("mailing_address", CITIZEN, ("mailing_address",), ("mailing_address",)),
        EventKind("contact_details", CITIZEN, ("phone", "email"), ()),
    )
}

DATE_FIELDS = frozenset(
    {
        "death_date",
        "birth_date",
        "marriage_date",
        "divorce_date",
        "moved_on",
        "moved_out_on",
        "moved_in_on",
        "changed_on",
    }
)
"""Dates of the event: an ISO or ROC-era date (民國113年3月1日), stored as ISO, never in the
future."""
NATIONAL_ID_FIELDS = frozenset({"father_national_id", "mother_national_id", "spouse_national_id"})
"""Other people the event names: valid national IDs or resident numbers."""

HOUSEHOLD_KINDS = tuple(k for k, v in EVENT_KINDS.items() if v.source == HOUSEHOLD)
CITIZEN_KINDS = tuple(k for k, v in EVENT_KINDS.items() if v.source == CITIZEN)


def fields_of(kinds: list[str] | tuple[str, ...]) -> set[str]:
    """Every field any of ``kinds`` can carry."""
    return {f for k in kinds if k in EVENT_KINDS for f in EVENT_KINDS[k].fields}
