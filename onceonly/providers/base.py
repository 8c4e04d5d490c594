"""The contract every provider adapter meets, whatever the source behind it (SQL, HTTP, files)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

ANSWER_BY: ContextVar[float | None] = ContextVar("answer_by", default=None)
"""When (``time.monotonic()``) the caller stops waiting for the call being made in this
thread: set by the exchange around a local owner's call, so the provider stops its own work
then rather than at its own, longer, timeout."""


def time_left(own_timeout: float) -> float:
    """Seconds a provider may still spend on the call it is making: its own timeout, or less
    when the caller's deadline (:data:`ANSWER_BY`) comes first."""
    answer_by = ANSWER_BY.get()
    if answer_by is None:
        return own_timeout
    return max(0.0, min(own_timeout, answer_by - time.monotonic()))


class ProviderUnavailable(Exception):
    """The owner's source is down or did not answer in time; the caller may retry later.
    ``reason`` is shown to the clerk: one text, or one per language (``{"zh-TW": …, "en": …}``)."""

    def __init__(self, owner: str, reason: str | Mapping[str, str], retry_after: int = 30) -> None:
        self.owner = owner
        self.reason = reason
        self.retry_after = retry_after
        super().__init__(f"{owner}: {self.reason_in('en')}")

    def reason_in(self, lang: str) -> str:
        """The reason in ``lang`` (English when it was not given in it)."""
        if isinstance(self.reason, str):
            return self.reason
        return self.reason.get(lang) or self.reason.get("en") or next(iter(self.reason.values()))


class UnknownPredicate(Exception):
    """The provider does not evaluate this predicate."""


class UnknownDataset(LookupError):
    """The provider does not serve this dataset (e.g. a cadastral map never digitised)."""


class InvalidPredicateParams(ValueError):
    """A predicate was asked without a parameter it needs, or with one of the wrong type."""


@dataclass(frozen=True)
class PredicateAnswer:
    """A yes/no answer computed at the owner; the raw values it used never leave the adapter.

    ``as_of`` names the data the answer rests on (e.g. "tax year 2025") so a clerk knows how
    fresh it is, without learning the values themselves.
    """

    value: bool
    as_of: str = ""
    detail: Mapping[str, Any] = field(default_factory=dict)
    """What the answer says beyond yes/no, when the predicate's meaning needs it (the line and
    degree of a kinship, the order of heirs): codes and numbers only, never names or records."""


@dataclass(frozen=True)
class SourceRecord:
    """A record in the dataset's common standard, as the owner holds it.

    ``fields`` maps field names of the catalog's standard (core plus this jurisdiction's
    extension fields) to JSON-serialisable values; lists of objects appear as lists of dicts.
    """

    dataset: str
    subject: str
    fields: Mapping[str, Any]
    source_updated_at: str = ""
    extensions: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class Provider(Protocol):
    """One owning agency's source for one or more datasets."""

    owner: str
    """Agency code of the owner, e.g. ``central.moi_household``."""
    answers_locally: bool
    """Whether it answers from this machine, bounded in time by itself (a SQLite file): the
    exchange then asks it in the request's own thread, since handing a call of a fraction of
    a millisecond to another thread and back costs about as much again."""

    def datasets(self) -> frozenset[str]:
        """Dataset codes this provider serves."""
        ...

    def fetch(self, dataset: str, national_id: str, fields: Sequence[str]) -> SourceRecord | None:
        """The subject's record of ``dataset`` holding only ``fields``, or ``None`` when the
        owner holds none.

        ``fields`` are the top-level names of the common standard the access rule allows;
        ``parcels.section`` selects one sub-field of a list of objects. The exchange minimises
        again before signing, but the adapter should not read more than it is asked for.

        Raises :class:`ProviderUnavailable` when the source cannot be reached.
        """
        ...

    def evaluate(
        self, dataset: str, predicate: str, national_id: str, params: Mapping[str, Any]
    ) -> PredicateAnswer:
        """Answer ``predicate`` about the subject at the owner.

        Raises :class:`UnknownPredicate` or :class:`ProviderUnavailable`.
        """
        ...
