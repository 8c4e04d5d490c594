"""Predicates an owner answers by computing over its own records, not by one query.

A degree of kinship or the order of heirs needs several people's kinship records put together
(:mod:`onceonly.domain.kinship`); a household office holds the records of the people
registered with it, so it reads those, starting from the subject's, and answers from them.
Only the minimised answer leaves the owner: yes/no, the line and the degree, the heirs'
relationship and order - never a name, a date or a record. When a relative's record is kept
by another office (``held_by``) the answer says so (``complete: false``) instead of asking
that office: the clerk then knows the answer rests on part of the family.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from onceonly.domain import kinship
from onceonly.providers.base import (
    InvalidPredicateParams,
    PredicateAnswer,
    SourceRecord,
    UnknownPredicate,
)

Read = Callable[[str], SourceRecord | None]
"""The owner's record of one person (all fields of the dataset), or ``None``."""

MAX_RECORDS = 200
"""Most records one question reads: a family, not a register."""
HEIR_HOPS = 4
"""Parent/child/spouse steps from the deceased that the heirs of art. 1138 can lie at
(grandparents and siblings at 2, great-grandchildren representing at 3)."""


def _gather(subject: str, read: Read, here: str, hops: int) -> tuple[kinship.Family, bool] | None:
    """The family from the records this owner holds within ``hops`` steps of ``subject``, and
    whether every relative met on the way has their record here; ``None`` without the
    subject's own record."""
    records: list[list[dict[str, Any]]] = []
    seen = {subject}
    queue = deque([(subject, 0)])
    complete = True
    while queue:
        key, steps = queue.popleft()
        record = read(key)
        if record is None:
            if key == subject:
                return None
            complete = False
            continue
        rows = [dict(r) for r in record.fields.get("relatives") or ()]
        records.append(rows)
        if len(records) >= MAX_RECORDS:
            complete = complete and not queue
            break
        if steps >= hops:
            continue
        for row in rows:
            other = row.get("national_id")
            if row.get("relation") == "self" or not other or other in seen:
                continue
            seen.add(str(other))
            if row.get("held_by") and row.get("held_by") != here:
                complete = False
                continue
            queue.append((str(other), steps + 1))
    return kinship.family_from_records(records), complete


def _degree(params: Mapping[str, Any]) -> int:
    degree = params.get("degree")
    if isinstance(degree, bool) or not isinstance(degree, int) or degree < 1:
        raise InvalidPredicateParams(f"degree: a whole number of at least 1, not {degree!r}")
    return degree


def within_kinship_degree(
    subject: str, params: Mapping[str, Any], read: Read, here: str, as_of: str
) -> PredicateAnswer:
    """Is ``other`` the subject's spouse or within ``degree`` degrees (art. 967-970)? Yes
    says through which line (``blood``/``affinity``/``spouse``), lineal or collateral, and
    the degree; no says nothing more."""
    other = params.get("other")
    if not isinstance(other, str) or not other:
        raise InvalidPredicateParams("other: the national ID of the other person is required")
    degree = _degree(params)
    gathered = _gather(subject, read, here, degree + 2)  # two marriages at most on the way
    if gathered is None:
        return PredicateAnswer(False, as_of, {"complete": False})
    family, complete = gathered
    found = kinship.within_kinship_degree(family, subject, other, degree)
    if found is None:
        return PredicateAnswer(False, as_of, {"complete": complete})
    detail = {
        "line": found.line,
        "lineal": found.lineal,
        "degree": found.degree,
        "complete": complete,
    }
    return PredicateAnswer(True, as_of, detail)


def heirs_of(
    subject: str, params: Mapping[str, Any], read: Read, here: str, as_of: str
) -> PredicateAnswer:
    """The heirs of the deceased subject in the order of art. 1138: each heir's relationship
    and order (the spouse has none: they inherit alongside), no one's identity. No when the
    records hold no death or no heir."""
    gathered = _gather(subject, read, here, HEIR_HOPS)
    if gathered is None:
        return PredicateAnswer(False, as_of, {"complete": False, "heirs": []})
    family, complete = gathered
    # one entry per heir, though two records may date the same marriage differently
    heirs = list({h.key: h for h in kinship.heirs_of(family, subject)}.values())
    listed = [{"relationship": h.role, "order": h.order} for h in heirs]
    deceased = family.person(subject).death is not None
    return PredicateAnswer(
        bool(heirs), as_of, {"deceased": deceased, "heirs": listed, "complete": complete}
    )


Computation = Callable[[str, Mapping[str, Any], Read, str, str], PredicateAnswer]

COMPUTED: dict[tuple[str, str], Computation] = {
    ("kinship", "within_kinship_degree"): within_kinship_degree,
    ("kinship", "heirs_of"): heirs_of,
}
"""(dataset, predicate) -> its computation; a connector names these in ``computed``."""


def evaluate(
    dataset: str,
    predicate: str,
    subject: str,
    params: Mapping[str, Any],
    *,
    read: Read,
    here: str,
    as_of: str,
) -> PredicateAnswer:
    """Answer ``predicate`` about ``subject`` from the records ``read`` gives."""
    compute = COMPUTED.get((dataset, predicate))
    if compute is None:
        raise UnknownPredicate(f"no computation for {dataset}.{predicate}")
    return compute(subject, params, read, here, as_of)
