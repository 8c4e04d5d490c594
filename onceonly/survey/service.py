"""The staff survey: instruments, waves, anonymous answers once per wave, and results as the
2011 report tabulated them (negative 1-3 / positive 4-6 / cannot judge / n per item).

How anonymity and "nobody answers twice" hold together (see :mod:`onceonly.survey.models`):
answering writes, in one transaction, a participation row (wave, account) and a response
(random token, wave, city, agency kind, values). The two share nothing that joins them; the
response carries no time and its key is random, so neither storage order nor a timestamp
pairs them. What a database reader can still learn is what any tabulation shows: how many of
one city's agency kind answered. Result cells smaller than :data:`MIN_CELL` are therefore
suppressed, in the pages, the CSV and the API alike.

Who answers is fixed and proved, or a threshold protects nobody: the tenant's administrator
makes clerk accounts, so five answers of which four came from accounts the administrator
made (or from a token the administrator issued for a real clerk) would be one clerk's
answers by subtraction. So:

* the wave keeps the list of accounts asked (``invited``): the active clerk accounts of its
  agencies at the moment it opened. An account made later can neither answer nor count;
* an answer comes only from the account's own browser session (:func:`answer`), never from
  an API token or any credential someone else issued for the account;
* results are shown only when at least :data:`MIN_CELL` of the listed accounts answered.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from onceonly.accounts.principal import Principal
from onceonly.accounts.tenancy import Scope, tenant_of_agency
from onceonly.accounts.users import UserView, get_user_by_id, list_users
from onceonly.catalog import service as catalog
from onceonly.db import as_utc, utcnow
from onceonly.errors import FieldError, Problem, not_found, validation_problem
from onceonly.i18n import t, taipei_time
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
RECENT_DAYS = 30
"""A listed account made this many days or fewer before its wave opened is counted apart on
the wave's page: an administrator preparing puppet accounts would make them shortly before."""
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
    invited: frozenset[int] = frozenset()
    """The accounts asked to answer, fixed when the wave opened (:func:`open_wave`)."""

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
        frozenset(row.invited or ()),
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
    """Open a wave for the clerks of ``agencies``, all of the caller's tenant. The accounts
    asked are fixed now: the active clerk accounts of those agencies at this moment, kept
    with the wave; an account made or enabled later is not asked and does not count."""
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
    chosen = sorted(set(agencies))
    row = SurveyWave(
        instrument=instrument,
        title=title.strip(),
        tenant=scope.tenant or "",
        agencies=chosen,
        opened_by=opened_by,
        opened_at=now,
        closes_at=closes_at,
        invited=sorted(
            user.id
            for code in chosen
            for user in list_users(session, role=RESPONDENT_ROLE, agency_code=code)
            if user.active
        ),
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


def eligible(wave: WaveView, user_id: int, role: str, agency_code: str) -> bool:
    """Whether the account is on the wave's list: a clerk of one of its agencies who had an
    active account when it opened."""
    return role == RESPONDENT_ROLE and agency_code in wave.agencies and user_id in wave.invited


def check_eligible(
    wave: WaveView, user_id: int, role: str, agency_code: str, lang: str | None = None
) -> None:
    """403 in words unless :func:`eligible`: not a clerk of the wave's agencies at all, or
    one whose account is not on the list fixed when the wave opened."""
    if eligible(wave, user_id, role, agency_code):
        return
    if role == RESPONDENT_ROLE and agency_code in wave.agencies:
        raise Problem(
            403,
            "not-on-list",
            t("survey.error.not_listed_title", lang),
            t("survey.error.not_listed", lang, opened=taipei_time(wave.opened_at, lang)),
        )
    raise Problem(
        403,
        "not-invited",
        t("survey.error.not_invited_title", lang),
        t("survey.error.not_invited", lang),
    )


def own_session(principal: Principal) -> bool:
    """Whether the request comes from the account's own browser session (it signed in
    itself), not from an API token nor from any credential someone else issued for it."""
    credential = principal.credential
    return (
        principal.auth_method == "session"
        and credential["kind"] == "session"
        and credential["issued_by"] == "self"
    )


def check_own_session(principal: Principal, lang: str | None = None) -> None:
    """403 in words unless :func:`own_session`."""
    if not own_session(principal):
        raise Problem(
            403,
            "own-session-only",
            t("survey.error.own_session_title", lang),
            t("survey.error.own_session", lang),
        )


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
        if wave.is_open(now) and eligible(wave, user_id, role, agency_code)
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
    """Record that the account answered and, unlinked, what it answered; only an account on
    the wave's list (:func:`eligible`) may. This trusts its caller that the account itself
    is answering: a request goes through :func:`answer`, which checks the credential."""
    now = now or utcnow()
    check_eligible(wave, user_id, role, agency_code, lang)
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


def answer(
    session: Session,
    wave: WaveView,
    principal: Principal,
    answers: dict[str, int],
    *,
    now: datetime | None = None,
    lang: str | None = None,
) -> None:
    """:func:`submit` for the caller of a request, who must be the account itself in its own
    browser session (:func:`own_session`): a token, or a credential another account issued,
    is refused and nothing is written."""
    check_own_session(principal, lang)
    check_eligible(wave, principal.user_id, principal.role, principal.agency_code, lang)
    check_not_handed_over(session, wave, principal.user_id, lang)
    submit(
        session,
        wave,
        user_id=principal.user_id,
        role=principal.role,
        agency_code=principal.agency_code,
        answers=answers,
        now=now,
        lang=lang,
    )


def handed_over(account: UserView, wave: WaveView) -> bool:
    """Whether someone other than the holder set the account's password, or enabled it
    again, within :data:`RECENT_DAYS` before the wave opened or since: whoever signed in as
    it then may not be its holder (an administrator resetting four listed clerks' passwords,
    or waking dormant accounts just before opening, would otherwise answer as them and read
    the fifth clerk's answers by subtraction)."""
    since = wave.opened_at - timedelta(days=RECENT_DAYS)
    return account.handed_over_at is not None and account.handed_over_at >= since


def check_not_handed_over(
    session: Session, wave: WaveView, user_id: int, lang: str | None = None
) -> None:
    """403 in words when the account was :func:`handed_over`; nothing is written."""
    account = get_user_by_id(session, user_id)
    if account is None or not handed_over(account, wave):
        return
    assert account.handed_over_at is not None
    raise Problem(
        403,
        "handed-over",
        t("survey.error.handed_over_title", lang),
        t(
            "survey.error.handed_over",
            lang,
            when=taipei_time(account.handed_over_at, lang),
            days=RECENT_DAYS,
        ),
    )


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


def nonrespondents(session: Session, wave: WaveView) -> list[UserView]:
    """Listed accounts, still active, that have not answered: who a reminder goes to."""
    answered = _answered(session, wave.id)
    return [user for user in _listed(session, wave) if user.active and user.id not in answered]


def _answered(session: Session, wave_id: int) -> set[int]:
    return set(
        session.scalars(
            select(SurveyParticipation.user_id).where(SurveyParticipation.wave_id == wave_id)
        )
    )


def _listed(session: Session, wave: WaveView) -> list[UserView]:
    """The accounts on the wave's list, as they are now."""
    return [
        user
        for code in wave.agencies
        for user in list_users(session, role=RESPONDENT_ROLE, agency_code=code)
        if user.id in wave.invited
    ]


@dataclass(frozen=True)
class Roster:
    """What the wave's page tells a respondent about who else is asked."""

    invited: int
    """Accounts on the list fixed when the wave opened."""
    recent: int
    """Of those, accounts made :data:`RECENT_DAYS` days or fewer before the wave opened."""
    handed: int = 0
    """Of those, accounts :func:`handed_over` (they cannot answer this wave)."""


def roster(session: Session, wave: WaveView) -> Roster:
    since = wave.opened_at - timedelta(days=RECENT_DAYS)
    listed = _listed(session, wave)
    return Roster(
        len(wave.invited),
        sum(1 for user in listed if user.created_at >= since),
        sum(1 for user in listed if handed_over(user, wave)),
    )


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
    """Nothing is shown: fewer than :data:`MIN_CELL` listed accounts answered, or the wave
    is still open."""
    still_open: bool = False
    """The wave takes answers until ``wave.closes_at``; its results are shown after."""
    invited: int = 0
    """Accounts on the wave's list (fixed when it opened)."""
    listed_respondents: int = 0
    """Accounts on the list that answered: what the threshold is held to."""
    unlisted: int = 0
    """Answers on record from accounts not on the list. None since lists are kept; a wave
    answered before (its list rebuilt by migration ``0028``) may hold some, and any of them
    could be an answer whoever reads the results knows, so each cell shown must hold
    :data:`MIN_CELL` more than these."""
    min_cell: int = MIN_CELL
    """Smallest cell shown: :data:`MIN_CELL`, plus :attr:`unlisted`."""

    def shown(self, cell: Cell | None) -> bool:
        return cell is not None and cell.n >= self.min_cell


def results(session: Session, wave: WaveView, now: datetime | None = None) -> Results:
    """The report's table for the wave: overall, by city and by agency kind. Nothing is shown
    unless at least :data:`MIN_CELL` accounts of the wave's list answered: answers of
    accounts made afterwards (an administrator's puppets, whose answers the administrator
    knows) are refused, and would not count. Groups and items with fewer than
    :data:`MIN_CELL` answers are dropped, never shown as small numbers, and so is any group
    whose cell, taken from the overall one, would give a dropped group's answers away
    (:func:`_protected`).

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
    who = _answered(session, wave.id)
    listed = len(who & wave.invited)
    unlisted = len(who) - listed
    result = Results(
        wave,
        instrument,
        len(groups),
        overall,
        by_city,
        by_kind,
        sizes,
        invited=len(wave.invited),
        listed_respondents=listed,
        unlisted=unlisted,
        min_cell=MIN_CELL + unlisted,
    )
    result.still_open = wave.is_open(now)
    if listed < MIN_CELL or len(groups) < result.min_cell or result.still_open:
        result.overall, result.by_city, result.by_kind, result.suppressed = {}, {}, {}, True
        return result
    result.by_city = _protected(overall, by_city, result.min_cell)
    result.by_kind = _protected(overall, by_kind, result.min_cell)
    return result


def _protected(
    overall: dict[str, Cell], groups: dict[str, dict[str, Cell]], floor: int = MIN_CELL
) -> dict[str, dict[str, Cell]]:
    """The group cells that may be shown beside ``overall``. Per item, a cell of fewer than
    ``floor`` (:data:`MIN_CELL`) answers is dropped; and while the dropped cells hold between
    one and ``floor`` - 1 answers together, the smallest shown cell is dropped too, since the
    overall cell less the shown ones would be exactly the dropped answers (five clerks of one
    agency kind shown, one of another withheld: the difference is that one clerk)."""
    kept: dict[str, dict[str, Cell]] = {code: {} for code in groups}
    for item, total in overall.items():
        cells = sorted((cells[item].n, code) for code, cells in groups.items() if item in cells)
        shown = [(n, code) for n, code in cells if n >= floor]
        hidden = total.n - sum(n for n, _ in shown)
        while shown and 0 < hidden < floor:
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
