"""Every term an owner's approval makes active, in words, and the terms that widen access
unusually, for the owner's rules page (``/owners/rules``).

Approving a rule request makes all of it active at once: the fields, the yes/no questions
(predicates) with the parameter values the requester may choose among, the validity dates,
and whether the citizen's consent or preview guards each read. The page used to show only the
item, the predicate's name, the legal basis and the purpose, so an owner approved 27 tax years
and a validity from 1990 to 2999 without seeing either. :func:`rule_terms` says each term as
people read it (catalog labels, never codes; dates as the other pages write them, ISO
``2026-05-01``) and lists what should stop an owner before approving (:class:`Terms.warnings`):

* **Parameter values beyond the statutory one.** A predicate's parameters take the catalog's
  statutory value for the application item; a rule that lists values lets the requester pick
  any of them instead (``onceonly.policy.predicates.settle``), and several values let one
  citizen be asked again and again until the yes/no answers give the value away. Every listed
  value that is not the item's statutory value is warned of; a listed value when the item sets
  none is too (nothing in the catalog vouches for it).
* **A validity period longer than** :data:`LONG_VALIDITY_YEARS` **years** from its first to
  its last day. A requester who names an end date is asking for a fixed term; five years
  covers any programme's cycle or a project's life, and an owner should look at a longer
  arrangement again rather than approve it once for decades (1990 to 2999). A rule with no
  end date is the platform's ordinary case (every request the counter files is one; it lasts
  until the owner revokes it): it is said as such in words ("no end date, until revoked"),
  not warned of, or every rule on the page would carry a warning and none would be read.
* **A backdated start:** a first day before the day the request was filed. A request asks for
  access from now on (its first day defaults to the filing day). A start in the past gives
  no read before the approval, but it is not what a genuine request asks for, and a rule
  "valid from 1990" reads as an arrangement approved long ago; the owner should ask why.
* **More than the application item needs:** fields or questions of the dataset that the item's
  required evidence does not name, or a dataset the item does not ask for at all (a
  requirement naming no field leaves the fields to the rule and is not warned of).

Nothing here blocks an approval: the owner decides, having read the warnings next to the
approve button.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from onceonly.catalog import service as catalog
from onceonly.domain.roc_date import TAIWAN
from onceonly.i18n import t
from onceonly.i18n.punctuation import join_words
from onceonly.policy.predicates import normalise_value, same_value
from onceonly.policy.service import RuleView

LONG_VALIDITY_YEARS = 5
"""A validity period longer than this many years (first to last day) is warned of."""

GROUPED_FROM = 10_000
"""Numbers from here up are written with thousands separators (19,013); smaller ones, such
as a tax year (2026) or a degree of kinship, as they are."""


@dataclass(frozen=True)
class Named:
    """A term in words, with its code for the muted secondary detail (``None``: no code)."""

    text: str
    code: str | None = None


@dataclass(frozen=True)
class ParamTerms:
    """One parameter of a yes/no question: how its value is settled and which values a
    requester may use, the statutory ones apart from the others."""

    label: str
    code: str
    how: str
    statutory: tuple[Named, ...] = ()
    other: tuple[Named, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class QuestionTerms:
    name: str
    code: str
    params: tuple[ParamTerms, ...] = ()


@dataclass(frozen=True)
class Terms:
    """What approving (or having approved) the rule makes active, in the page's language."""

    fields: tuple[Named, ...]
    questions: tuple[QuestionTerms, ...]
    validity: str
    validity_state: str
    consent: str
    preview: str
    warnings: tuple[str, ...]


def rule_terms(
    rule: RuleView,
    dataset: catalog.DatasetView | None,
    item: catalog.ApplicationItemView | None,
    lang: str,
    today: date,
    named: Callable[[str], str] = lambda code: code,
) -> Terms:
    """The rule's terms in ``lang``; ``today`` says whether it is in force yet or any more,
    ``named`` names a string parameter's value (a jurisdiction code) when the catalog can."""
    requirements = [
        e for e in (item.required_evidence if item else ()) if e.dataset == rule.dataset
    ]
    warnings: list[str] = []
    fields = tuple(_field(dataset, name, lang) for name in rule.fields)
    questions = []
    for code in rule.predicates:
        question, widened = _question(rule, dataset, requirements, code, lang, named)
        questions.append(question)
        warnings += widened
    warnings += _beyond_item(rule, item, requirements, fields, questions, lang)
    validity, state, dated = _validity(rule, lang, today)
    warnings += dated
    return Terms(
        fields=fields,
        questions=tuple(questions),
        validity=validity,
        validity_state=state,
        consent=t("owners.terms.consent_yes" if rule.consent_required else "owners.terms.no", lang),
        preview=t("owners.terms.preview_yes" if rule.preview_required else "owners.terms.no", lang),
        warnings=tuple(warnings),
    )


def _field(dataset: catalog.DatasetView | None, name: str, lang: str) -> Named:
    spec = dataset.field(name) if dataset else None
    if spec is None:
        return Named(name)
    return Named(spec.label_en if lang == "en" else spec.label_zh, name)


def _question(
    rule: RuleView,
    dataset: catalog.DatasetView | None,
    requirements: list[catalog.EvidenceView],
    code: str,
    lang: str,
    named: Callable[[str], str],
) -> tuple[QuestionTerms, list[str]]:
    """The question with each parameter's values, and the warnings its listed values raise."""
    spec = dataset.predicate(code) if dataset else None
    if spec is None:
        return QuestionTerms(code, code), []
    name = spec.name_en if lang == "en" else spec.name_zh
    statutory: Mapping[str, Any] = next(
        (dict(e.predicate_params or {}) for e in requirements if e.predicate == code), {}
    )
    listed = rule.predicate_params.get(code) or {}
    params = []
    warnings = []
    for param in spec.params:
        label = param.label_en if lang == "en" else param.label_zh
        say = _sayer(param.type, lang, named)
        if param.type == "national_id":
            params.append(ParamTerms(label, param.name, t("owners.terms.param_per_request", lang)))
            continue
        fixed = statutory.get(param.name)
        values = list(listed.get(param.name) or ())
        if not values:
            if fixed is None:
                how = t("owners.terms.param_missing", lang)
                params.append(ParamTerms(label, param.name, how))
            else:
                how = t("owners.terms.param_statutory_only", lang)
                params.append(ParamTerms(label, param.name, how, statutory=(say(fixed),)))
            continue
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            values.sort()
        same = [v for v in values if fixed is not None and _same(param.type, v, fixed)]
        other = [v for v in values if not (fixed is not None and _same(param.type, v, fixed))]
        note = ""
        if fixed is not None and not same:
            note = t("owners.terms.statutory_not_listed", lang, value=say(fixed).text)
        params.append(
            ParamTerms(
                label,
                param.name,
                t("owners.terms.param_listed", lang, count=len(values)),
                statutory=tuple(say(v) for v in same[:1]),
                other=tuple(say(v) for v in other),
                note=note,
            )
        )
        if other:
            key = "owners.warn.params" if fixed is not None else "owners.warn.params_no_statute"
            statute = say(fixed).text if fixed is not None else ""
            warnings.append(
                t(key, lang, question=name, param=label, count=len(other), statutory=statute)
            )
    return QuestionTerms(name, code, tuple(params)), warnings


def _sayer(kind: str, lang: str, named: Callable[[str], str]) -> Callable[[Any], Named]:
    """A parameter value of the catalog type ``kind`` as people read it."""

    def say(value: Any) -> Named:
        value = _normal(kind, value)
        if isinstance(value, bool):
            return Named(t("owners.terms.true" if value else "owners.terms.false", lang))
        if isinstance(value, int | float):
            return Named(f"{value:,}" if abs(value) >= GROUPED_FROM else str(value))
        text = str(value)
        name = named(text) if kind == "string" else text  # a jurisdiction, by its name
        return Named(name, text) if name != text else Named(text)

    return say


def _same(kind: str, a: Any, b: Any) -> bool:
    """Equal as values of the catalog type ``kind`` (``2026 == 2026.0``; ``True`` is no ``1``),
    as :func:`onceonly.policy.predicates.settle` compares a requester's value with the rule's."""
    return same_value(_normal(kind, a), _normal(kind, b))


def _normal(kind: str, value: Any) -> Any:
    normal, problem = normalise_value(kind, value)
    return value if problem is not None else normal


def _beyond_item(
    rule: RuleView,
    item: catalog.ApplicationItemView | None,
    requirements: list[catalog.EvidenceView],
    fields: Iterable[Named],
    questions: Iterable[QuestionTerms],
    lang: str,
) -> list[str]:
    """Warnings of what the rule releases that the application item does not ask for."""
    if item is None:
        return []
    if not requirements:
        return [t("owners.warn.not_required", lang)]
    warnings = []
    needed = {f for e in requirements for f in (e.fields or ())}
    open_fields = any(not e.fields and not e.predicate for e in requirements)
    extra = [f.text for f in fields if not _within(f.code, needed)]
    if extra and not open_fields:
        warnings.append(t("owners.warn.fields", lang, names=join_words(extra, lang)))
    asked = {e.predicate for e in requirements if e.predicate}
    more = [q.name for q in questions if q.code not in asked]
    if more:
        warnings.append(t("owners.warn.questions", lang, names=join_words(more, lang)))
    return warnings


def _within(name: str | None, needed: set[str]) -> bool:
    """``name`` is a field the item needs, or a sub-field of one (``parcels.section``)."""
    return name is not None and (name in needed or name.split(".", 1)[0] in needed)


def _validity(rule: RuleView, lang: str, today: date) -> tuple[str, str, list[str]]:
    """The validity period in words, whether it is in force on ``today``, and its warnings."""
    filed = _taipei_day(rule.requested_at)
    first = _first_day(rule, filed)
    start = first.isoformat()
    warnings = []
    if rule.valid_until is None:
        text = t("owners.terms.valid_open", lang, start=start)
    else:
        end = rule.valid_until.isoformat()
        length = _length(first, rule.valid_until, lang)
        text = t("owners.terms.valid_range", lang, start=start, end=end, length=length)
        if rule.valid_until > _years_after(rule.valid_from, LONG_VALIDITY_YEARS):
            warnings.append(
                t(
                    "owners.warn.long",
                    lang,
                    start=start,
                    end=end,
                    length=length,
                    limit=LONG_VALIDITY_YEARS,
                )
            )
    if first < filed:
        warnings.append(t("owners.warn.backdated", lang, start=start, filed=filed.isoformat()))
    state = ""
    if rule.valid_until is not None and rule.valid_until < today:
        state = t("owners.terms.expired", lang)
    elif rule.valid_from > today:
        state = t("owners.terms.not_yet", lang)
    return text, state, warnings


def _first_day(rule: RuleView, filed: date) -> date:
    """The rule's first day as people here read it. Left to its default it is the filing day
    in UTC (policy.request_rule): a rule asked for at 05:20 on 8 December in Taipei would
    read "from 7 December", before it was asked for; it is said as the Taipei filing day
    (the day it could first be used anyway). A first day the requester chose is said as
    chosen."""
    if rule.valid_from == _utc_day(rule.requested_at) and rule.valid_from < filed:
        return filed
    return rule.valid_from


def _utc_day(moment: datetime) -> date:
    if moment.tzinfo is None:  # a naive value from storage is UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).date()


def _taipei_day(moment: datetime) -> date:
    if moment.tzinfo is None:  # a naive value from storage is UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(TAIWAN).date()


def _years_after(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February, and no such day that year
        return day.replace(year=day.year + years, day=28)


def _length(start: date, end: date, lang: str) -> str:
    """How long ``start`` to ``end`` (both days included) is, in whole years or in days."""
    years = end.year - start.year - ((end.month, end.day) < (start.month, start.day))
    if years > 1:
        return t("owners.terms.years", lang, count=years)
    if years == 1:
        return t("owners.terms.one_year", lang)
    days = (end - start).days + 1
    return t("owners.terms.days", lang, count=days) if days > 1 else t("owners.terms.one_day", lang)
