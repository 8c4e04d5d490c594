"""Bounded integer types for path and query parameters.

A number larger than its column holds reaches the database driver as an OverflowError or an
"out of range" error, a 500. These types refuse it at the edge instead, as a 422 problem
naming the parameter (issue 12, hole 6). Use them for every id, sequence number, size and page
a route takes. An ``Integer`` column is 64 bits on SQLite but 32 on PostgreSQL, so ids of
such columns are bounded by :data:`MAX_INTEGER`; ``BigInteger`` ones by :data:`MAX_BIGINT`.

:data:`RowId`, :data:`Seq` and :data:`Page` carry only their bounds, so one type serves a
path (``rule_id: RowId``), a query (``page: Page = 1``), a query model's field and a form
field (``Annotated[RowId, Form()]``).
"""

from __future__ import annotations

from typing import Annotated

from annotated_types import Ge, Le
from fastapi import Path, Query

MAX_INTEGER = (1 << 31) - 1
"""The largest value of an ``Integer`` column on both backends (PostgreSQL ``integer``)."""
MAX_BIGINT = (1 << 63) - 1
"""The largest value of a ``BigInteger`` column (and of LIMIT/OFFSET) on both backends."""

PositiveId = Annotated[int, Path(ge=1, le=MAX_INTEGER)]
"""A row id or sequence number (an ``Integer`` column) in a path."""

SizeInPath = Annotated[int, Path(ge=0, le=MAX_INTEGER)]
"""A count of rows of an ``Integer``-keyed table (a tree size) in a path."""

MAX_PAGE = MAX_INTEGER
"""Pages beyond this cannot exist (there are fewer rows); any page size up to 2**32 keeps the
offset within a 64-bit ``OFFSET``."""

RowId = Annotated[int, Ge(1), Le(MAX_INTEGER)]
"""A row's id (rules, tokens, subscriptions, dead letters, ...), anywhere in a request."""

Seq = Annotated[int, Ge(0), Le(MAX_INTEGER)]
"""A position or count that may be zero (audit sequence numbers, feed cursors, indexes)."""

Page = Annotated[int, Ge(1), Le(MAX_PAGE)]
"""A page number of a paged listing, counted from 1."""


def max_page(per_page_max: int) -> int:
    """The largest page whose offset ((page - 1) · per_page) still fits in 64 bits."""
    return MAX_BIGINT // per_page_max


def page_query(per_page_max: int) -> object:
    """``Query`` for a 1-based page number of at most ``per_page_max`` items a page."""
    return Query(ge=1, le=max_page(per_page_max), description="Page number, from 1.")
