"""The staff survey: instruments, waves, anonymous answers once per wave, and results as the
2011 report tabulated them (negative 1-3 / positive 4-6 / cannot judge / n per item).

How anonymity and "nobody answers twice" hold together (see :mod:`onceonly.survey.models`):
answering writes, in one transaction, a participation row (wave, account) and a response
(random token, wave, city, agency kind, values). The two share nothing that joins them; the
response carries no time and its key is random, so neither storage order nor a timestamp
pairs them. What a database reader can still learn is what any tabulation shows: how many of
one city's agency kind answered. Result cells smaller than :data:`MIN_CELL` are therefore
suppressed, in the pages, the CSV and the API alike.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from onceonly.accounts import service as accounts
from onceonly.accounts.tenancy import Scope, tenant_of_agency
from onceonly.catalog import service as catalog
from onceonly.db import as_utc, utcnow
from onceonly.errors import FieldError, Problem, not_found, validation_problem
from onceonly.i18n import t
from onceonly.survey.models import (
    SurveyAnswer,
    SurveyParticipation,
    SurveyPool,
    SurveyResponse,
    SurveyWave,
)

INSTRUMENTS = Path(__file__).parent / "instruments"
DEFAULT_INSTRUMENT = "teg-2011"
RESPONDENT_ROLE = "clerk"
"""Holders of exchange permissions: only clerks fetch evidence from other agencies."""
MIN_CELL = 5
"""Smallest group whose results are shown; smaller groups could be one person's answers."""
CANNOT_JUDGE = 0
VALUES = (1, 2, 3, 4, 5, 6)
BATCH = 5
"""Answers released to ``survey_responses`` together, shuffled (see the models' docstring)."""
_random = secrets.SystemRandom()
_SCALE = {str(value): value for value in VALUES}
"""The only texts a scale answer may be: ``str.isdigit`` also takes ``²`` and ``４``, and
``int`` refuses a digit string past 4,300 characters, both server errors once."""


@dataclass(frozen=True)
class ReportFigure:
    table: str
    negative: float
    positive: float
    cannot: float
    n: int


@dataclass(frozen=True)
class Item:
    code: str
    zh: str
    en: str
    section: str
    report: ReportFigure | None

    def text(self, lang: str) -> str:
        return self.en if lang == "en" else self.zh


@dataclass(frozen=True)
class Section:
    code: str
    title_zh: str
    title_en: str
    scale: str
    items: tuple[Item, ...]

    def title(self, lang: str) -> str:
        return self.title_en if lang == "en" else self.title_zh


@dataclass(frozen=True)
class Instrument:
    version: str
    title_zh: str
    title_en: str
    source_zh: str
    source_en: str
    report_n: int
    sections: tuple[Section, ...]
    report_by_city: dict[str, dict[str, int]]

    @property
    def items(self) -> tuple[Item, ...]:
        return tuple(i for s in self.sections for i in s.items)

    def title(self, lang: str) -> str:
        return self.title_en if lang == "en" else self.title_zh


@cache
def load_instrument(version: str = DEFAULT_INSTRUMENT) -> Instrument:
    """The instrument ``version`` from its YAML file; unknown versions raise ``KeyError``."""
    path = INSTRUMENTS / f"{version}.yaml"
    if not version.replace("-", "").isalnum() or not path.is_file():
        raise KeyError(version)
    raw: dict[str, Any] = yaml.safe_load(path.read_text("utf-8"))
    sections = []
    for s in raw["sections"]:
        items = tuple(
            Item(
                code=str(i["code"]),
                zh=i["zh"],
                en=i["en"],
                section=s["code"],
                report=ReportFigure(**i["report"]) if i.get("report") else None,
            )
            for i in s["items"]
        )
        sections.append(
            Section(s["code"], s["title_zh"], s["title_en"], s.get("scale", "agreement"), items)
        )
    return Instrument(
        version=raw["version"],
        title_zh=raw["title_zh"],
        title_en=raw["title_en"],
        source_zh=raw["source_zh"],
        source_en=raw["source_en"],
        report_n=int(raw["report_n"]),
        sections=tuple(sections),
        report_by_city=raw.get("report_by_city") or {},
    )


@dataclass(frozen=True)
class WaveView:
    id: int
    instrument: str
    title: str
    tenant: str
    agencies: tuple[str, ...]
    opened_by: str
    opened_at: datetime
    closes_at: datetime
    closed_by: str | None = None
    """Set when an administrator ended collection before the date first set."""

    def is_open(self, now: datetime) -> bool:
        return now < self.closes_at


def _view(row: SurveyWave) -> WaveView:
    return WaveView(
        row.id,
        row.instrument,
        row.title,
        row.tenant,
        tuple(row.agencies),
        row.opened_by,
        as_utc(row.opened_at),
        as_utc(row.closes_at),
        row.closed_by,
    )


def open_wave(
    session: Session,
    *,
    scope: Scope,
    opened_by: str,
    title: str,
    agencies: list[str],
    closes_at: datetime,
    instrument: str = DEFAULT_INSTRUMENT,
    now: datetime | None = None,
    lang: str | None = None,
) -> WaveView:
    """Open a wave for the clerks of ``agencies``, all of the caller's tenant."""
    now = now or utcnow()
    errors = []
    if not title.strip() or len(title) > 200:
        errors.append(FieldError("title", t("survey.error.title", lang)))
    if not agencies:
        errors.append(FieldError("agencies", t("survey.error.no_agencies", lang)))
    for code in agencies:
        if not scope.sees_agency(code) or catalog.get_agency(session, code) is None:
            errors.append(FieldError("agencies", t("survey.error.agency", lang, agency=code)))
    if closes_at <= now:
        errors.append(FieldError("closes_at", t("survey.error.closes_at", lang)))
    try:
        load_instrument(instrument)
    except KeyError:
        errors.append(FieldError("instrument", t("survey.error.instrument", lang)))
    if errors:
        raise validation_problem(errors, lang)
    row = SurveyWave(
        instrument=instrument,
        title=title.strip(),
        tenant=scope.tenant or "",
        agencies=sorted(set(agencies)),
        opened_by=opened_by,
        opened_at=now,
        closes_at=closes_at,
    )
    session.add(row)
    session.flush()
    session.add(SurveyPool(wave_id=row.id, entries=[]))
    return _view(row)


def list_waves(session: Session, scope: Scope) -> list[WaveView]:
    """The waves of the caller's tenant, newest first."""
    if scope.tenant is None:
        return []
    rows = session.scalars(
        select(SurveyWave).where(SurveyWave.tenant == scope.tenant).order_by(SurveyWave.id.desc())
    )
    return [_view(r) for r in rows]


def get_wave(session: Session, wave_id: int, scope: Scope, lang: str | None = None) -> WaveView:
    """The wave, or 404 when it does not exist or belongs to another tenant."""
    return _view(_wave_row(session, wave_id, scope, lang))


def _wave_row(session: Session, wave_id: int, scope: Scope, lang: str | None) -> SurveyWave:
    row = session.get(SurveyWave, wave_id)
    if row is None or scope.tenant is None or row.tenant != scope.tenant:
        raise not_found(t("survey.error.no_wave", lang, wave=wave_id), lang)
    return row


def close_wave(
    session: Session,
    wave_id: int,
    *,
    scope: Scope,
    closed_by: str,
    now: datetime | None = None,
    lang: str | None = None,
) -> WaveView:
    """End collection now, before the date set: the results can then be read. There is no
    reopening, since results read before and after one more answer would give it away.

    Holds the wave's pool row, as :func:`submit` does, so an answer either lands before the
    close or is refused as late; none arrives after results were shown."""
    now = now or utcnow()
    row = _wave_row(session, wave_id, scope, lang)
    _lock_pool(session, wave_id)
    session.refresh(row)
    if not _view(row).is_open(now):
        raise _closed(lang)
    row.closes_at = now
    row.closed_by = closed_by
    session.flush()
    return _view(row)


def _lock_pool(session: Session, wave_id: int) -> SurveyPool:
    return session.scalars(
        select(SurveyPool).where(SurveyPool.wave_id == wave_id).with_for_update()
    ).one()


def _closed(lang: str | None) -> Problem:
    return Problem(
        409, "wave-closed", t("survey.error.closed_title", lang), t("survey.error.closed", lang)
    )


def eligible(wave: WaveView, role: str, agency_code: str) -> bool:
    return role == RESPONDENT_ROLE and agency_code in wave.agencies


def has_answered(session: Session, wave_id: int, user_id: int) -> bool:
    return session.get(SurveyParticipation, (wave_id, user_id)) is not None


def waves_to_answer(
    session: Session, user_id: int, role: str, agency_code: str, now: datetime | None = None
) -> list[tuple[WaveView, bool]]:
    """Open waves this account is asked to answer, each with whether it already has: the
    reminder every respondent sees on the survey page until it answers."""
    now = now or utcnow()
    scope = Scope(tenant=tenant_of_agency(agency_code))
    return [
        (wave, has_answered(session, wave.id, user_id))
        for wave in list_waves(session, scope)
        if wave.is_open(now) and eligible(wave, role, agency_code)
    ]


def parse_answers(
    instrument: Instrument, form: dict[str, str], lang: str | None = None
) -> dict[str, int]:
    """Form values (``item-<code>``: ``1``-``6`` or ``x`` for 無法判斷; blank = skipped) to
    stored values; anything else is a 422 naming the item."""
    answers: dict[str, int] = {}
    errors = []
    for item in instrument.items:
        raw = (form.get(f"item-{item.code}") or "").strip()
        if not raw:
            continue
        if raw == "x":
            answers[item.code] = CANNOT_JUDGE
        elif raw in _SCALE:
            answers[item.code] = _SCALE[raw]
        else:
            errors.append(FieldError(f"item-{item.code}", t("survey.error.value", lang)))
    if not errors and not answers:
        errors.append(FieldError("answers", t("survey.error.empty", lang)))
    if errors:
        raise validation_problem(errors, lang)
    return answers


def submit(
    session: Session,
    wave: WaveView,
    *,
    user_id: int,
    role: str,
    agency_code: str,
    answers: dict[str, int],
    now: datetime | None = None,
    lang: str | None = None,
) -> None:
    """Record that the account answered and, unlinked, what it answered."""
    now = now or utcnow()
    if not eligible(wave, role, agency_code):
        raise Problem(
            403,
            "not-invited",
            t("survey.error.not_invited_title", lang),
            t("survey.error.not_invited", lang),
        )
    if not wave.is_open(now):
        raise _closed(lang)
    if has_answered(session, wave.id, user_id):
        raise _already(lang)
    try:
        with session.begin_nested():
            session.add(SurveyParticipation(wave_id=wave.id, user_id=user_id))
            session.flush()
    except IntegrityError as error:
        raise _already(lang) from error
    agency = catalog.get_agency(session, agency_code)
    entry = {
        "city": tenant_of_agency(agency_code) or "",
        "kind": agency.kind if agency else "other",
        "answers": answers,
    }
    pool = _lock_pool(session, wave.id)
    closes_at = session.scalar(select(SurveyWave.closes_at).where(SurveyWave.id == wave.id))
    if closes_at is None or as_utc(closes_at) <= now:
        raise _closed(lang)  # closed by an administrator while this answer was on its way
    entries = list(pool.entries)
    entries.insert(_random.randrange(len(entries) + 1), entry)
    if len(entries) >= BATCH:
        _release(session, wave.id, entries)
        entries = []
    pool.entries = entries


def _release(session: Session, wave_id: int, entries: list[dict[str, Any]]) -> None:
    """Insert pooled answers as responses, in a fresh random order under random keys."""
    _random.shuffle(entries)
    for entry in entries:
        token = secrets.token_hex(16)
        session.add(
            SurveyResponse(
                token=token, wave_id=wave_id, city=entry["city"], agency_kind=entry["kind"]
            )
        )
        session.flush()
        session.add_all(
            SurveyAnswer(response_token=token, item=code, value=value)
            for code, value in sorted(entry["answers"].items())
        )
    session.flush()


def _already(lang: str | None) -> Problem:
    return Problem(
        409,
        "already-answered",
        t("survey.error.already_title", lang),
        t("survey.error.already", lang),
    )


def nonrespondents(session: Session, wave: WaveView) -> list[accounts.UserView]:
    """Active clerks of the wave's agencies who have not answered: who a reminder goes to."""
    answered = set(
        session.scalars(
            select(SurveyParticipation.user_id).where(SurveyParticipation.wave_id == wave.id)
        )
    )
    return [
        user
        for code in wave.agencies
        for user in accounts.list_users(session, role=RESPONDENT_ROLE, agency_code=code)
        if user.active and user.id not in answered
    ]


def participation_count(session: Session, wave_id: int) -> int:
    return int(
        session.scalar(select(func.count()).where(SurveyParticipation.wave_id == wave_id)) or 0
    )


@dataclass
class Cell:
    """One item in one group: the report's columns."""

    negative: int = 0
    positive: int = 0
    cannot: int = 0

    @property
    def n(self) -> int:
        return self.negative + self.positive + self.cannot

    def pct(self, part: int) -> float:
        return round(100.0 * part / self.n, 1) if self.n else 0.0

    def add(self, value: int) -> None:
        if value == CANNOT_JUDGE:
            self.cannot += 1
        elif value <= 3:
            self.negative += 1
        else:
            self.positive += 1


@dataclass
class Results:
    wave: WaveView
    instrument: Instrument
    respondents: int
    overall: dict[str, Cell]
    by_city: dict[str, dict[str, Cell]]
    by_kind: dict[str, dict[str, Cell]]
    group_sizes: dict[str, int] = field(default_factory=dict)
    """``city:<code>`` / ``kind:<code>`` -> respondents in the group."""
    suppressed: bool = False
    """Nothing is shown: fewer than :data:`MIN_CELL` respondents, or the wave still open."""
    still_open: bool = False
    """The wave takes answers until ``wave.closes_at``; its results are shown after."""

    def shown(self, cell: Cell | None) -> bool:
        return cell is not None and cell.n >= MIN_CELL


def results(session: Session, wave: WaveView, now: datetime | None = None) -> Results:
    """The report's table for the wave: overall, by city and by agency kind. Groups and items
    with fewer than :data:`MIN_CELL` answers are dropped, never shown as small numbers, and
    so is any group whose cell, taken from the overall one, would give a dropped group's
    answers away (:func:`_protected`).

    Nothing is shown while the wave is open: the results read before and after one clerk's
    answer would differ by exactly that answer (pooled answers count too), and the tenant's
    administrator sees who has answered. Closed, the figures no longer move."""
    now = now or utcnow()
    instrument = load_instrument(wave.instrument)
    responses = {
        r.token: (r.city, r.agency_kind)
        for r in session.scalars(select(SurveyResponse).where(SurveyResponse.wave_id == wave.id))
    }
    pool = session.get(SurveyPool, wave.id)
    pooled = list(pool.entries) if pool else []
    overall: dict[str, Cell] = {}
    by_city: dict[str, dict[str, Cell]] = {}
    by_kind: dict[str, dict[str, Cell]] = {}
    sizes: dict[str, int] = {}
    answered: list[tuple[str, str, str, int]] = []
    if responses:
        rows = session.execute(
            select(SurveyAnswer.response_token, SurveyAnswer.item, SurveyAnswer.value).where(
                SurveyAnswer.response_token.in_(list(responses))
            )
        )
        answered += [(*responses[token], item, value) for token, item, value in rows]
    for entry in pooled:
        answered += [(entry["city"], entry["kind"], k, v) for k, v in entry["answers"].items()]
    groups = [*responses.values(), *((e["city"], e["kind"]) for e in pooled)]
    for city, kind in groups:
        for key in (f"city:{city}", f"kind:{kind}"):
            sizes[key] = sizes.get(key, 0) + 1
    for city, kind, item, value in answered:
        overall.setdefault(item, Cell()).add(value)
        by_city.setdefault(city, {}).setdefault(item, Cell()).add(value)
        by_kind.setdefault(kind, {}).setdefault(item, Cell()).add(value)
    result = Results(wave, instrument, len(groups), overall, by_city, by_kind, sizes)
    result.still_open = wave.is_open(now)
    if len(groups) < MIN_CELL or result.still_open:
        result.overall, result.by_city, result.by_kind, result.suppressed = {}, {}, {}, True
        return result
    result.by_city = _protected(overall, by_city)
    result.by_kind = _protected(overall, by_kind)
    return result


def _protected(
    overall: dict[str, Cell], groups: dict[str, dict[str, Cell]]
) -> dict[str, dict[str, Cell]]:
    """The group cells that may be shown beside ``overall``. Per item, a cell of fewer than
    :data:`MIN_CELL` answers is dropped; and while the dropped cells hold between one and
    :data:`MIN_CELL` - 1 answers together, the smallest shown cell is dropped too, since the
    overall cell less the shown ones would be exactly the dropped answers (five clerks of one
    agency kind shown, one of another withheld: the difference is that one clerk)."""
    kept: dict[str, dict[str, Cell]] = {code: {} for code in groups}
    for item, total in overall.items():
        cells = sorted((cells[item].n, code) for code, cells in groups.items() if item in cells)
        shown = [(n, code) for n, code in cells if n >= MIN_CELL]
        hidden = total.n - sum(n for n, _ in shown)
        while shown and 0 < hidden < MIN_CELL:
            n, _ = shown.pop(0)
            hidden += n
        for _, code in shown:
            kept[code][item] = groups[code][item]
    return {code: cells for code, cells in kept.items() if cells}


CSV_FIELDS = (
    "wave",
    "instrument",
    "group",
    "group_code",
    "item",
    "negative_pct",
    "positive_pct",
    "cannot_judge_pct",
    "n",
    "report_2011_table",
    "report_2011_negative_pct",
    "report_2011_positive_pct",
    "report_2011_cannot_judge_pct",
    "report_2011_n",
)


def results_csv_rows(res: Results) -> list[dict[str, Any]]:
    """One row per group and item: the report's columns beside the 2011 figures. Suppressed
    groups and items are left out entirely."""
    rows: list[dict[str, Any]] = []
    groups: list[tuple[str, str, dict[str, Cell]]] = [("all", "", res.overall)]
    groups += [("city", code, cells) for code, cells in sorted(res.by_city.items())]
    groups += [("agency_kind", code, cells) for code, cells in sorted(res.by_kind.items())]
    for kind, code, cells in groups:
        for item in res.instrument.items:
            cell = cells.get(item.code)
            if not res.shown(cell) or cell is None:
                continue
            report = item.report
            rows.append(
                {
                    "wave": res.wave.id,
                    "instrument": res.instrument.version,
                    "group": kind,
                    "group_code": code,
                    "item": item.code,
                    "negative_pct": cell.pct(cell.negative),
                    "positive_pct": cell.pct(cell.positive),
                    "cannot_judge_pct": cell.pct(cell.cannot),
                    "n": cell.n,
                    "report_2011_table": report.table if report else "",
                    "report_2011_negative_pct": report.negative if report else "",
                    "report_2011_positive_pct": report.positive if report else "",
                    "report_2011_cannot_judge_pct": report.cannot if report else "",
                    "report_2011_n": report.n if report else "",
                }
            )
    return rows
