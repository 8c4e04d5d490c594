"""Tables of the survey capability.

Anonymity is a property of the schema, not of a promise: who answered and what was answered
live in separate tables that share no column but the wave.

* ``survey_participation`` says *that* an account answered a wave (so nobody answers twice)
  and nothing else: no time, no answer.
* ``survey_responses`` and ``survey_answers`` say *what* was answered: a random identifier,
  the wave, the coarse city and agency kind the report tabulates by, the values. No account,
  no agency code, no time.

Arrival order is the remaining join: read both tables back in storage order and the n-th
participant is the n-th response. So a response does not go to ``survey_responses`` when it
is given: it joins the wave's ``survey_pools`` row (one row per wave, its list rewritten in a
random order on every answer) and only when :data:`~onceonly.survey.service.BATCH` answers
have gathered are they inserted together, shuffled, under random keys. Storage order then
tells at most which batch of ``BATCH`` participants a response came from. On SQLite the
tables are ``WITHOUT ROWID`` (kept in key order: the account id, a random token), so not even
the batch shows. Only :mod:`onceonly.survey.service` touches these tables.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from onceonly.db import Base, UTCDateTime, utcnow

NO_ROWID = {"sqlite_with_rowid": False}


class SurveyWave(Base):
    """One round of the questionnaire, sent to the clerks of the chosen agencies."""

    __tablename__ = "survey_waves"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instrument: Mapped[str] = mapped_column(String(40))
    """The instrument version asked (``survey/instruments/<version>.yaml``)."""
    title: Mapped[str] = mapped_column(String(200))
    tenant: Mapped[str] = mapped_column(String(60), index=True)
    """The jurisdiction whose administrator opened it; its agencies are all of that tenant."""
    agencies: Mapped[list[str]] = mapped_column(JSON)
    opened_by: Mapped[str] = mapped_column(String(64))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """The administrator who ended collection before the date set, if one did."""
    invited: Mapped[list[int]] = mapped_column(JSON, default=list, server_default="[]")
    """The account ids asked to answer, fixed when the wave opened: the active clerk
    accounts of ``agencies`` at that moment. Only these may answer, and only their answers
    count toward the threshold; an account made afterwards is not asked."""


class SurveyPool(Base):
    """Answers given but not yet released to ``survey_responses``: a list in random order
    of ``{"city", "kind", "answers"}``, kept in one row so it has no arrival order."""

    __tablename__ = "survey_pools"

    wave_id: Mapped[int] = mapped_column(
        ForeignKey("survey_waves.id", ondelete="CASCADE"), primary_key=True
    )
    entries: Mapped[list[dict[str, Any]]] = mapped_column(JSON)


class SurveyParticipation(Base):
    """That ``user_id`` answered ``wave_id``: the once-per-wave guard, and who to remind."""

    __tablename__ = "survey_participation"
    __table_args__ = NO_ROWID

    wave_id: Mapped[int] = mapped_column(
        ForeignKey("survey_waves.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


class SurveyResponse(Base):
    """One anonymous questionnaire: no account, no agency, no time."""

    __tablename__ = "survey_responses"
    __table_args__ = NO_ROWID

    token: Mapped[str] = mapped_column(String(32), primary_key=True)
    """Random (``secrets.token_hex``): orders the table by chance, not by arrival."""
    wave_id: Mapped[int] = mapped_column(
        ForeignKey("survey_waves.id", ondelete="CASCADE"), index=True
    )
    city: Mapped[str] = mapped_column(String(60))
    agency_kind: Mapped[str] = mapped_column(String(60))


class SurveyAnswer(Base):
    """One item of one response: 1-6 on the agreement scale, 0 for 無法判斷 (cannot judge).
    An item left blank has no row, as the report's n varies per item."""

    __tablename__ = "survey_answers"
    __table_args__ = (CheckConstraint("value BETWEEN 0 AND 6", name="value"), NO_ROWID)

    response_token: Mapped[str] = mapped_column(
        ForeignKey("survey_responses.token", ondelete="CASCADE"), primary_key=True
    )
    item: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[int] = mapped_column(Integer)
