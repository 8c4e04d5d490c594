"""Survivorship: one golden record per cluster, decided field by field, with lineage.

Rules (per field, from the plan; ``default`` for the rest):

* ``most_recent``: the value of the freshest record (the plan's ``recency_field``, else the
  source's ``as_of``);
* ``most_trusted``: the value of the record from the most trusted source;
* ``non_empty``: the value most records agree on (any record that has one);
* ``longest``: the longest value (a full address beats a truncated one).

Nulls never win while any record has a value, nor does a value a validation check warned
about (a national ID whose checksum fails) while a clean one exists. Ties fall to trust,
then recency, then the smaller record id, so the result never depends on input order.
Every output field keeps the ids of the source records that carried the winning value.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from onceonly.consolidate.normalise import SOURCE
from onceonly.consolidate.plan import Plan
from onceonly.consolidate.sources import RECORD_ID
from onceonly.consolidate.validate import WARNINGS

_FIELD_WARNINGS = {"national_id": "id_checksum", "sex": "sex_matches_id"}


@dataclass(frozen=True)
class Candidate:
    record_id: str
    source: str
    trust: int
    recency: str
    value: Any
    suspect: bool

    @property
    def rank(self) -> int:
        """Recency as a number (``2010-12-24`` -> 20101224), 0 when unknown."""
        digits = self.recency.replace("-", "")
        return int(digits) if digits.isdigit() else 0


def golden_id(cluster: str) -> str:
    """A stable id for the golden record of a cluster (its smallest member id)."""
    return "g-" + hashlib.sha256(cluster.encode()).hexdigest()[:12]


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _tiebreak(c: Candidate) -> tuple[Any, ...]:
    return (-c.trust, -c.rank, c.record_id)


def choose(rule: str, candidates: list[Candidate]) -> tuple[Any, str]:
    """The winning value under ``rule`` and the reason key explaining why."""
    present = [c for c in candidates if c.value is not None and c.value != ""]
    if not present:
        return None, "all_empty"
    clean = [c for c in present if not c.suspect] or present
    if len(clean) == 1 or all(c.value == clean[0].value for c in clean[1:]):
        return clean[0].value, "agreed"
    reason = rule
    if rule == "most_recent":
        winner = min(clean, key=lambda c: (-c.rank, -c.trust, c.record_id))
    elif rule == "most_trusted":
        winner = min(clean, key=_tiebreak)
    elif rule == "longest":
        winner = min(clean, key=lambda c: (-len(str(c.value)), *_tiebreak(c)))
    else:
        votes = Counter(str(c.value) for c in clean)
        winner = min(clean, key=lambda c: (-votes[str(c.value)], *_tiebreak(c)))
    return winner.value, reason


def survive(plan: Plan, kept: pl.DataFrame, cluster_of: Mapping[str, str]) -> list[dict[str, Any]]:
    """Golden records: ``{golden_id, members, fields, lineage}`` in a stable order."""
    clustered = pl.DataFrame(
        {"record_id": list(cluster_of), "cluster": list(cluster_of.values())},
        schema={"record_id": pl.String, "cluster": pl.String},
    )
    return list(iter_golden(plan, kept, clustered))


def _grouped(kept: pl.DataFrame, clusters: pl.DataFrame) -> Iterator[list[dict[str, Any]]]:
    """The kept rows of each cluster together, clusters in order, members by record id;
    streamed, so a million records never sit in memory as Python objects at once."""
    ordered = kept.join(clusters, left_on=RECORD_ID, right_on="record_id").sort(
        ["cluster", RECORD_ID]
    )
    batch: list[dict[str, Any]] = []
    current = None
    for row in ordered.iter_rows(named=True):
        if row["cluster"] != current and batch:
            yield batch
            batch = []
        current = row["cluster"]
        batch.append(row)
    if batch:
        yield batch


def iter_golden(plan: Plan, kept: pl.DataFrame, clusters: pl.DataFrame) -> Iterator[dict[str, Any]]:
    """:func:`survive` one golden record at a time; ``clusters`` has columns ``record_id``
    and ``cluster``."""
    spec = plan.model.survivorship
    sources = {s.id: s for s in plan.model.sources}
    fields = plan.mapped_fields
    recency_field = spec.recency_field
    for rows in _grouped(kept, clusters):
        cluster = rows[0]["cluster"]
        values: dict[str, Any] = {}
        lineage: dict[str, Any] = {}
        for name in fields:
            rule = spec.fields.get(name, spec.default)
            candidates = []
            for row in rows:
                source = sources[row[SOURCE]]
                fresh = row.get(recency_field) if recency_field else None
                recency = _json(fresh) or (source.as_of.isoformat() if source.as_of else "")
                warned = _FIELD_WARNINGS.get(name) in (row.get(WARNINGS) or [])
                candidates.append(
                    Candidate(
                        row[RECORD_ID],
                        source.id,
                        source.trust,
                        recency,
                        _json(row.get(name)),
                        warned,
                    )
                )
            value, reason = choose(rule, candidates)
            values[name] = value
            lineage[name] = {
                "rule": rule,
                "reason": reason,
                "sources": [
                    c.record_id for c in candidates if c.value == value and value is not None
                ],
                "candidates": [
                    {
                        "record_id": c.record_id,
                        "value": c.value,
                        "source": c.source,
                        "trust": c.trust,
                        "recency": c.recency,
                        "suspect": c.suspect,
                    }
                    for c in candidates
                ],
            }
        yield (
            {
                "golden_id": golden_id(cluster),
                "members": [r[RECORD_ID] for r in rows],
                "fields": values,
                "lineage": lineage,
            }
        )


def find_golden(golden: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
    """The golden record whose id, member record id or national ID is ``key``."""
    for record in golden:
        if key == record["golden_id"] or key in record["members"]:
            return record
        if key and key in (
            record["fields"].get("national_id"),
            record["fields"].get("owner_national_id"),
        ):
            return record
    return None


def explain(record: dict[str, Any], lang: str = "zh-TW") -> list[dict[str, str]]:
    """Per field: the value, the rule, why it won and which records it came from."""
    from onceonly.i18n import t

    lines = []
    for name, info in record["lineage"].items():
        value = record["fields"][name]
        others = [
            f"{c['record_id']}={c['value']}"
            for c in info["candidates"]
            if c["value"] != value and c["value"] is not None
        ]
        lines.append(
            {
                "field": name,
                "value": "" if value is None else str(value),
                "rule": t(f"consolidate.rule.{info['rule']}", lang),
                "why": t(f"consolidate.reason.{info['reason']}", lang),
                "from": ", ".join(info["sources"]),
                "others": ", ".join(others),
            }
        )
    return lines
