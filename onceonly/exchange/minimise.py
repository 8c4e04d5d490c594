"""Field-level minimisation: only what the access rule allows leaves, nothing else.

``allowed`` names top-level fields of the common standard; ``parcels.section`` keeps one
sub-field of every object in the ``parcels`` list. Applied to what the owner's adapter returns
even though the adapter was asked for the same fields: the signed transcript must never carry
more than the rule allows, whatever an adapter does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def split_allowed(allowed: Iterable[str]) -> tuple[set[str], dict[str, set[str]]]:
    """Whole fields, and for list fields the sub-fields allowed when not the whole list."""
    whole: set[str] = set()
    partial: dict[str, set[str]] = {}
    for name in allowed:
        head, _, tail = name.partition(".")
        if tail:
            partial.setdefault(head, set()).add(tail)
        else:
            whole.add(head)
    for head in whole:
        partial.pop(head, None)
    return whole, partial


def minimise(record: Mapping[str, Any], allowed: Iterable[str]) -> dict[str, Any]:
    """A copy of ``record`` holding only the allowed fields (and allowed sub-fields)."""
    whole, partial = split_allowed(allowed)
    result: dict[str, Any] = {}
    for name, value in record.items():
        if name in whole:
            result[name] = value
        elif name in partial:
            keep = partial[name]
            if isinstance(value, list):
                result[name] = [
                    {k: v for k, v in item.items() if k in keep}
                    for item in value
                    if isinstance(item, Mapping)
                ]
            elif isinstance(value, Mapping):
                result[name] = {k: v for k, v in value.items() if k in keep}
    return result


def merge_records(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Several owners' (minimised) records as one answer: list fields concatenated in order
    (every land office's parcels), any other field the first owner's value."""
    merged: dict[str, Any] = {}
    for record in records:
        for name, value in record.items():
            if isinstance(value, list) and isinstance(merged.get(name), list):
                merged[name] = merged[name] + value
            else:
                merged.setdefault(name, value)
    return merged
