"""Errors as RFC 9457 problem documents.

Service code raises :class:`Problem`; the web layer turns it into ``application/problem+json``
for the API and into a readable page for people. Bad input names the field and the reason and
never becomes a 500 with a stack trace.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from onceonly.i18n import t

PROBLEM_BASE = "https://onceonly.example/problems/"


@dataclass
class FieldError:
    field: str
    reason: str
    code: str = "invalid"

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "reason": self.reason, "code": self.code}


@dataclass
class Problem(Exception):
    status: int
    kind: str
    """Short slug naming the problem type, e.g. ``no-rule``; becomes the ``type`` URI."""
    title: str
    detail: str = ""
    errors: list[FieldError] = field(default_factory=list)
    retry_after: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.detail or self.title)

    def as_dict(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.kind,
            "title": self.title,
            "status": self.status,
        }
        if self.detail:
            body["detail"] = self.detail
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = [e.as_dict() for e in self.errors]
        if self.retry_after is not None:
            body["retry_after"] = self.retry_after
        body.update(self.extra)
        return body


def validation_problem(errors: list[FieldError], lang: str | None = None) -> Problem:
    detail = "; ".join(f"{e.field}: {e.reason}" for e in errors)
    return Problem(422, "validation", t("problem.validation", lang), detail, errors)


def not_found(detail: str, lang: str | None = None) -> Problem:
    return Problem(404, "not-found", t("problem.not_found", lang), detail)
