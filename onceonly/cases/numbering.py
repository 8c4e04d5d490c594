"""Case numbers such as ``TPE-UDD-115-000123``: agency prefix, ROC year, sequence.

The counter row per (prefix, ROC year) is advanced with an UPDATE ... RETURNING inside the
caller's transaction: on PostgreSQL that row lock, on SQLite the database write lock, makes
concurrent openings queue, so numbers are unique and, since a rolled-back opening rolls its
number back too, without gaps.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from onceonly.cases.models import CaseCounter
from onceonly.domain.roc_date import TAIWAN, roc_year

JURISDICTION_CODES = {
    "central": "C",
    "taipei-city": "TPE",
    "new-taipei-city": "NTPC",
    "taoyuan-city": "TYC",
    "taichung-city": "TXG",
    "tainan-city": "TNN",
    "kaohsiung-city": "KHH",
    "keelung-city": "KEL",
    "hsinchu-city": "HSZ",
    "chiayi-city": "CYI",
    "hsinchu-county": "HSQ",
    "miaoli-county": "MIA",
    "changhua-county": "CHA",
    "nantou-county": "NAN",
    "yunlin-county": "YUN",
    "chiayi-county": "CYQ",
    "pingtung-county": "PIF",
    "yilan-county": "ILA",
    "hualien-county": "HUA",
    "taitung-county": "TTT",
    "penghu-county": "PEN",
    "kinmen-county": "KIN",
    "lienchiang-county": "LJF",
    "taipei-county": "TPQ",
    "taoyuan-county": "TYQ",
    "taichung-county": "TXQ",
    "former-taichung-city": "FTXG",
    "tainan-county": "TNQ",
    "former-tainan-city": "FTNN",
    "kaohsiung-county": "KHQ",
    "former-kaohsiung-city": "FKHH",
}
KIND_CODES = {
    "urban_development": "UDD",
    "social_welfare": "SWD",
    "civil_affairs": "CAD",
    "district_office": "DO",
    "economic_development": "EDD",
    "education": "EDU",
    "finance": "FIN",
    "fire": "FD",
    "health": "HD",
    "household_office": "HRO",
    "indigenous": "IPC",
    "labour": "LAB",
    "land_bureau": "LAND",
    "land_office": "LO",
    "tax_office": "TAX",
    "water": "WAT",
    "fia": "FIA",
    "moea": "MOEA",
    "mohw": "MOHW",
    "moi_household": "MOIHR",
    "moi_land": "MOILA",
    "mol": "MOL",
    "taiwan_water": "TWC",
    "vac": "VAC",
}


def _initials(code: str) -> str:
    return "".join(word[0] for word in re.split(r"[^a-z0-9]+", code.lower()) if word).upper()


def number_prefix(agency_code: str) -> str:
    """``taipei-city.urban_development`` → ``TPE-UDD``; unknown parts use their initials.

    Two agencies may share a prefix; they then share a counter, so numbers stay unique.
    """
    jurisdiction, _, kind = agency_code.partition(".")
    left = JURISDICTION_CODES.get(jurisdiction) or _initials(jurisdiction) or "X"
    right = KIND_CODES.get(kind) or _initials(kind) or "X"
    return f"{left}-{right}"[:24]


def taiwan_roc_year(moment: datetime) -> int:
    return roc_year(moment.astimezone(TAIWAN).date())


def allocate_number(session: Session, agency_code: str, moment: datetime) -> str:
    """The next case number of the agency for the ROC year of ``moment`` (Taiwan time)."""
    prefix = number_prefix(agency_code)
    year = taiwan_roc_year(moment)
    statement = (
        update(CaseCounter)
        .where(CaseCounter.prefix == prefix, CaseCounter.roc_year == year)
        .values(last=CaseCounter.last + 1)
        .returning(CaseCounter.last)
        .execution_options(synchronize_session=False)
    )
    last = session.execute(statement).scalar()
    if last is None:
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        seed = insert(CaseCounter).values(prefix=prefix, roc_year=year, last=0)
        session.execute(seed.on_conflict_do_nothing(index_elements=["prefix", "roc_year"]))
        last = session.execute(statement).scalar_one()
    return f"{prefix}-{year:03d}-{last:06d}"
