"""Tables of the statistics capability: the assumptions the savings figures rest on, stored so
an administrator can change them and each figure can say which values it used."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, String
from sqlalchemy.orm import Mapped, mapped_column

from onceonly.db import Base, UTCDateTime


class StatsAssumption(Base):
    """One named assumption (``minutes_per_trip``, ...); a name absent here has its default."""

    __tablename__ = "stats_assumptions"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[float] = mapped_column(Float)
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
