"""Fixtures for the open311 tests: the cases tests' database with the real catalog loaded."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.cases.conftest import (  # noqa: F401  (fixtures)
    _catalog_template,
    database_url,
    db,
    sessions,
)

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
"""A fixed moment (ROC year 115); tests never depend on today's date."""
