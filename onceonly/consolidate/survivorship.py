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

:func:`golden_frames` decides a whole run at once in polars: two tables, one row per golden
record (its members, values and whether a rule had to choose) and one row per source
record (its candidate values, whether each was suspect and whether it won), from which
:func:`golden_records` writes the familiar ``{golden_id, members, fields, lineage}``.
:func:`reference_golden` is the same rules one cluster at a time in plain Python: the
specification the fast path is tested against.
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

_FIELD_WARNINGS = {
    "national_id": "id_checksum",
    "owner_national_id": "id_checksum",
    "sex": "sex_matches_id",
}
CLUSTER = "_cluster"


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
    golden, lineage = golden_frames(plan, kept, clustered)
    return list(golden_records(golden, lineage, rules_of(plan)))


def rules_of(plan: Plan) -> dict[str, str]:
    """Field -> survivorship rule, for every mapped field."""
    spec = plan.model.survivorship
    return {name: spec.fields.get(name, spec.default) for name in plan.mapped_fields}


def _as_text(value: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """``str()`` of the value as :func:`choose` sees it, for lengths and votes."""
    if dtype == pl.String:
        return value
    if dtype.is_float():
        return value.map_elements(str, return_dtype=pl.String)
    return value.cast(pl.String)  # dates as ISO; booleans "true" (same length as "True")


def _candidates(plan: Plan, kept: pl.DataFrame, clusters: pl.DataFrame) -> pl.DataFrame:
    """One row per clustered record, by cluster then record id: its cluster, source, trust,
    recency (text and as a number) and, per field, the value and whether it is suspect."""
    spec = plan.model.survivorship
    sources = plan.model.sources
    trust = {s.id: s.trust for s in sources}
    as_of = {s.id: s.as_of.isoformat() if s.as_of else "" for s in sources}
    source = pl.col(SOURCE)
    fallback = source.replace_strict(as_of, return_dtype=pl.String)
    recency_field = spec.recency_field
    if recency_field and recency_field in kept.columns:
        recency = pl.col(recency_field).cast(pl.String).fill_null(fallback)
    else:
        recency = fallback
    warnings = pl.col(WARNINGS) if WARNINGS in kept.columns else None
    columns: list[pl.Expr] = []
    for name in plan.mapped_fields:
        value = pl.col(name) if name in kept.columns else pl.lit(None, pl.String).alias(name)
        code = _FIELD_WARNINGS.get(name)
        suspect = (
            warnings.list.contains(code).fill_null(False)
            if code is not None and warnings is not None
            else pl.lit(False)
        )
        columns += [value, suspect.alias(f"_suspect.{name}")]
    frame = kept.join(
        clusters.select(pl.col("record_id").alias(RECORD_ID), pl.col("cluster").alias(CLUSTER)),
        on=RECORD_ID,
    )
    return (
        frame.select(
            pl.col(CLUSTER),
            pl.col(RECORD_ID),
            source,
            source.replace_strict(trust, return_dtype=pl.Int64).alias("_trust"),
            recency.alias("_recency"),
            *columns,
        )
        .with_columns(
            pl.col("_recency")
            .str.replace_all("-", "", literal=True)
            .cast(pl.Int64, strict=False)
            .fill_null(0)
            .alias("_rank")
        )
        .sort([CLUSTER, RECORD_ID])
    )


def _present(frame: pl.DataFrame, name: str) -> pl.Expr:
    """A value to choose from: neither null nor empty text."""
    value = pl.col(name)
    return (
        value.is_not_null() & (value != "")
        if frame.schema[name] == pl.String
        else value.is_not_null()
    )


def _decide(multi: pl.DataFrame, name: str, rule: str) -> pl.DataFrame:
    """Per cluster of ``multi`` (clusters of several records), in cluster order: the golden
    value of ``name`` and whether ``rule`` had to choose it among disagreeing values.

    The records of each cluster are ranked by :func:`choose`'s order in one sort of the
    whole table and the first one taken: no per-cluster Python, no per-group sorting."""
    value = pl.col(name)
    dtype = multi.schema[name]
    suspect = pl.col(f"_suspect.{name}")
    present = _present(multi, name)
    any_clean = (present & ~suspect).any().over(CLUSTER)
    eligible = pl.col("_eligible")
    trust, rank, record = -pl.col("_trust"), -pl.col("_rank"), pl.col(RECORD_ID)
    keys: list[pl.Expr] = []
    if rule == "most_recent":
        order = [rank, trust, record]
    elif rule == "longest":
        keys = [-_as_text(value, dtype).str.len_chars().cast(pl.Int64).alias("_key")]
        order = [pl.col("_key"), trust, rank, record]
    elif rule == "non_empty":
        votes = eligible.cast(pl.Int64).sum().over([CLUSTER, _as_text(value, dtype)])
        keys = [(-votes).alias("_key")]
        order = [pl.col("_key"), trust, rank, record]
    else:
        order = [trust, rank, record]
    chosen = pl.when(eligible).then(value)
    return (
        multi.select(CLUSTER, RECORD_ID, "_trust", "_rank", value, suspect)
        .with_columns((present & (~suspect | ~any_clean)).alias("_eligible"))
        .with_columns(keys)
        .sort([CLUSTER, ~eligible, *order])
        .group_by(CLUSTER, maintain_order=True)
        .agg(
            pl.when(eligible.first()).then(value.first()).alias(f"_golden.{name}"),
            (eligible.first() & (chosen.min() != chosen.max())).alias(f"_ruled.{name}"),
        )
    )


def golden_frames(
    plan: Plan, kept: pl.DataFrame, clusters: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The golden records of every cluster (``clusters``: ``record_id``, ``cluster``).

    ``golden``: ``golden_id``, ``members`` (record ids, sorted), ``fields`` and ``ruled``
    (structs by field: the value, and whether the field's rule chose it among disagreeing
    values). ``lineage``: per member, ``golden_id``, ``record_id``, ``source``, ``trust``,
    ``recency``, and structs by field ``value``, ``suspect`` and ``won`` (its value is the
    golden one). Both in cluster order, members by record id.

    Most clusters hold one record, which needs no decision: its value is the golden one.
    Only clusters of several records go through :func:`_decide`.
    """
    fields = plan.mapped_fields
    rules = rules_of(plan)
    candidates = _candidates(plan, kept, clusters)
    size = pl.len().over(CLUSTER)
    single = candidates.filter(size == 1).select(
        CLUSTER,
        *(
            e
            for name in fields
            for e in (
                pl.when(_present(candidates, name)).then(pl.col(name)).alias(f"_golden.{name}"),
                pl.lit(False).alias(f"_ruled.{name}"),
            )
        ),
    )
    multi = candidates.filter(size > 1)
    decided = [_decide(multi, name, rules[name]) for name in fields]
    several = pl.concat([decided[0], *(d.drop(CLUSTER) for d in decided[1:])], how="horizontal")
    chosen = (
        pl.concat([single, several], how="vertical")
        .sort(CLUSTER)
        .with_columns(
            pl.col(CLUSTER)
            .map_batches(
                lambda s: pl.Series([golden_id(c) for c in s.to_list()], dtype=pl.String),
                return_dtype=pl.String,
            )
            .alias("golden_id")
        )
    )
    members = candidates.group_by(CLUSTER, maintain_order=True).agg(
        pl.col(RECORD_ID).alias("members")
    )
    golden = chosen.select(
        "golden_id",
        members.get_column("members"),
        pl.struct([pl.col(f"_golden.{n}").alias(n) for n in fields]).alias("fields"),
        pl.struct([pl.col(f"_ruled.{n}").alias(n) for n in fields]).alias("ruled"),
    )
    lineage = candidates.join(
        chosen.select(CLUSTER, "golden_id", *(f"_golden.{n}" for n in fields)),
        on=CLUSTER,
        how="left",
        maintain_order="left",
    ).select(
        "golden_id",
        pl.col(RECORD_ID).alias("record_id"),
        pl.col(SOURCE).alias("source"),
        pl.col("_trust").alias("trust"),
        pl.col("_recency").alias("recency"),
        pl.struct([pl.col(n) for n in fields]).alias("value"),
        pl.struct([pl.col(f"_suspect.{n}").alias(n) for n in fields]).alias("suspect"),
        pl.struct(
            [(pl.col(n) == pl.col(f"_golden.{n}")).fill_null(False).alias(n) for n in fields]
        ).alias("won"),
    )
    return golden, lineage


def _iso_dates(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col(pl.Date).cast(pl.String))


def golden_records(
    golden: pl.DataFrame, lineage: pl.DataFrame | None, rules: Mapping[str, str]
) -> Iterator[dict[str, Any]]:
    """``{golden_id, members, fields, lineage}`` per row of :func:`golden_frames`' tables
    (``lineage`` holding exactly the members of ``golden``, in the same order), as JSON
    values: dates as ISO text. Keys are sorted, as a JSON file written with sorted keys
    reads back. Without ``lineage``: ``{golden_id, members, fields}`` only."""
    names = sorted(rules)
    if lineage is None:
        values = _iso_dates(
            golden.select(
                "golden_id", "members", pl.col("fields").struct.unnest().name.prefix("v.")
            )
        )
        for head in values.iter_rows(named=True):
            yield {
                "fields": {name: head[f"v.{name}"] for name in names},
                "golden_id": head["golden_id"],
                "members": list(head["members"]),
            }
        return
    members_of = _iso_dates(
        lineage.select(
            "record_id",
            "source",
            "trust",
            "recency",
            pl.col("value").struct.unnest().name.prefix("v."),
            pl.col("suspect").struct.unnest().name.prefix("s."),
            pl.col("won").struct.unnest().name.prefix("w."),
        )
    ).iter_rows(named=True)
    heads = _iso_dates(
        golden.select(
            "golden_id",
            "members",
            pl.col("fields").struct.unnest().name.prefix("v."),
            pl.col("ruled").struct.unnest().name.prefix("r."),
        )
    )
    for head in heads.iter_rows(named=True):
        rows = [next(members_of) for _ in head["members"]]
        lineage_of: dict[str, Any] = {}
        for name in names:
            value = head[f"v.{name}"]
            rule = rules[name]
            lineage_of[name] = {
                "candidates": [
                    {
                        "recency": r["recency"],
                        "record_id": r["record_id"],
                        "source": r["source"],
                        "suspect": r[f"s.{name}"],
                        "trust": r["trust"],
                        "value": r[f"v.{name}"],
                    }
                    for r in rows
                ],
                "reason": "all_empty" if value is None else rule if head[f"r.{name}"] else "agreed",
                "rule": rule,
                "sources": [r["record_id"] for r in rows if r[f"w.{name}"]],
            }
        yield {
            "fields": {name: head[f"v.{name}"] for name in names},
            "golden_id": head["golden_id"],
            "lineage": lineage_of,
            "members": list(head["members"]),
        }


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


def reference_golden(
    plan: Plan, kept: pl.DataFrame, clusters: pl.DataFrame
) -> Iterator[dict[str, Any]]:
    """The golden records one cluster at a time, straight from :func:`choose`: slow, and
    the reference :func:`golden_frames` must agree with (``clusters``: ``record_id``,
    ``cluster``)."""
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
