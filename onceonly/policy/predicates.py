"""Predicate parameters come from the owner's rule or the catalog, never from the caller.

A yes/no answer leaks the value behind it when the asker picks the question: 24 asks of
``household_income_below`` with thresholds chosen by bisection give a monthly income to the
dollar. So the parameters of every predicate are settled here before the owner is asked:

* each parameter the catalog declares takes the statutory value the catalog gives for that
  application item (``required_evidence[].predicate.params``);
* where the owner's rule lists values for a parameter (``AccessRule.predicate_params``), the
  caller may pick one of those, and only those;
* where several current rules of the owner cover the predicate, the caller may use values
  any one of them allows (:func:`settle_among`), and that rule is the one the request rests on;
* a caller may still send a parameter, if it equals the value that applies (old clients do);
  anything else is refused with a 422 naming the field (retrying cannot help).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Annotated, Any

from pydantic import PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from onceonly.domain.national_id import is_valid_national_id, is_valid_resident_id
from onceonly.errors import FieldError
from onceonly.i18n import t

MAX_STRING = 200
"""Longest string a predicate parameter may be (a jurisdiction code, an ISO date)."""
MAX_PARAMS = 8
"""Most parameters one predicate is asked with (the catalog's have one or two)."""


def _scalar(value: Any) -> Any:
    """One flat value: a finite number, a short string or true/false. Nested objects (500
    levels deep broke the audit writer), ``NaN``, ``Infinity`` and ``1e400`` are refused here,
    at the door, with the field named."""
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, str) and len(value) <= MAX_STRING:
        return value
    raise PydanticCustomError(
        "predicate_param",
        "a predicate parameter is a finite number, a string of at most {limit} characters "
        "or true/false",
        {"limit": MAX_STRING},
    )


PredicateValue = Annotated[
    Any,
    PlainValidator(_scalar),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number"},
                {"type": "string", "maxLength": MAX_STRING},
                {"type": "boolean"},
            ]
        }
    ),
]
"""A predicate parameter as a request may carry it."""

Choices = Mapping[str, Sequence[Any]]
"""Parameter name -> the values an owner's rule lets a caller choose among."""


def normalise_value(kind: str, value: Any) -> tuple[Any, str | None]:
    """``value`` as the catalog type ``kind`` wants it, or the message key of why not.
    Numbers must be finite (``NaN``, ``Infinity`` and ``1e400`` are not numbers to a law)."""
    if kind in ("integer", "number"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None, "policy.params.not_number"
        if isinstance(value, float) and not math.isfinite(value):
            return None, "policy.params.not_finite"
        if kind == "integer":
            if isinstance(value, float) and not value.is_integer():
                return None, "policy.params.not_integer"
            return int(value), None
        return value, None
    if kind == "boolean":
        return (value, None) if isinstance(value, bool) else (None, "policy.params.not_boolean")
    if not isinstance(value, str) or len(value) > MAX_STRING:
        return None, "policy.params.not_string"
    if kind == "national_id":
        normal = value.strip().upper()
        if not (is_valid_national_id(normal) or is_valid_resident_id(normal)):
            return None, "policy.params.not_national_id"
        return normal, None
    if kind == "date":
        try:
            date.fromisoformat(value)
        except ValueError:
            return None, "policy.params.not_date"
    return value, None


def check_asked(
    declared: Mapping[str, str], asked: Mapping[str, Any], where: str, lang: str | None = None
) -> tuple[dict[str, Any], list[FieldError]]:
    """The caller's parameters, each declared by the catalog and of its type; ``declared``
    maps a parameter name to its catalog type. Errors name ``<where>.params.<name>``."""
    values: dict[str, Any] = {}
    errors: list[FieldError] = []
    for name, value in asked.items():
        field = f"{where}.params.{name}"
        kind = declared.get(name)
        if kind is None:
            reason = (
                t("policy.params.unknown", lang, known=", ".join(sorted(declared)))
                if declared
                else t("policy.params.none_taken", lang)
            )
            errors.append(FieldError(field, reason, "unknown"))
            continue
        normal, problem = normalise_value(kind, value)
        if problem is not None:
            errors.append(FieldError(field, t(problem, lang, type=kind), "invalid"))
        else:
            values[name] = normal
    return values, errors


def settle(
    declared: Mapping[str, str],
    statutory: Mapping[str, Any],
    choices: Choices,
    asked: Mapping[str, Any],
    where: str,
    lang: str | None = None,
    *,
    listed_key: str = "policy.params.not_listed",
) -> tuple[dict[str, Any], list[FieldError]]:
    """The parameters the owner is asked with: for each declared one, the caller's value if
    the rule lists it (or it equals the statutory value), else the statutory value (or the
    rule's first listed value when the catalog sets none). ``asked`` has passed
    :func:`check_asked`. ``listed_key``: the words refusing a value the list does not hold."""
    settled: dict[str, Any] = {}
    errors: list[FieldError] = []
    for name, kind in declared.items():
        if kind == "national_id":
            # Who else the question is about (the other person of a kinship), named by the
            # caller like the subject itself: no value behind it to bisect out.
            if name in asked:
                settled[name] = asked[name]
            else:
                field = f"{where}.params.{name}"
                errors.append(FieldError(field, t("policy.params.missing", lang), "missing"))
            continue
        allowed = list(choices.get(name) or ())
        fixed = statutory.get(name)
        if not allowed and fixed is not None:
            allowed = [fixed]
        field = f"{where}.params.{name}"
        if name in asked:
            if any(same_value(asked[name], value) for value in allowed):
                settled[name] = asked[name]
                continue
            if not allowed:
                reason = t("policy.params.none_allowed", lang)
            else:
                key = listed_key if name in choices else "policy.params.fixed"
                reason = t(key, lang, allowed=", ".join(str(v) for v in allowed))
            errors.append(FieldError(field, reason, "not_allowed"))
        elif fixed is not None and (
            not choices.get(name) or any(same_value(fixed, v) for v in allowed)
        ):
            settled[name] = fixed
        elif allowed:
            settled[name] = allowed[0]
        else:
            errors.append(FieldError(field, t("policy.params.missing", lang), "missing"))
    return settled, errors


def settle_among(
    declared: Mapping[str, str],
    statutory: Mapping[str, Any],
    each: Sequence[Choices],
    asked: Mapping[str, Any],
    where: str,
    lang: str | None = None,
) -> tuple[int | None, dict[str, Any], list[FieldError]]:
    """:func:`settle` under whichever one of an owner's rules allows what is asked. ``each``
    holds the choices of every current rule of the owner covering the predicate, newest
    first. The values settled are all allowed by one rule, never some by one and some by
    another; returns that rule's index in ``each`` (``None`` when refused), the values and
    the refusals.

    Where the caller leaves a parameter to the rules, a rule settling on the statutory value
    goes before a newer one that would take the first of its own list: a rule listing other
    values lets the caller choose them, it does not change what the item asks by default.
    Among rules alike the newest is taken. With one rule this is :func:`settle`."""
    each = list(each) or [{}]
    settled_by: list[tuple[int, dict[str, Any]]] = []
    refusals: list[list[FieldError]] = []
    for index, choices in enumerate(each):
        settled, refused = settle(declared, statutory, choices, asked, where, lang)
        if refused:
            refusals.append(refused)
        else:
            settled_by.append((index, settled))
    if settled_by:
        by_statute = (
            (index, settled)
            for index, settled in settled_by
            if _as_the_statute(declared, statutory, asked, settled)
        )
        index, settled = next(by_statute, settled_by[0])
        return index, settled, []
    if len(each) == 1:
        return None, {}, refusals[0]
    # The refusal names what the rules allow between them.
    merged = _merged(declared, statutory, each)
    together, refused = settle(
        declared,
        statutory,
        merged,
        asked,
        where,
        lang,
        listed_key="policy.params.not_listed_any",
    )
    if refused:
        return None, {}, refused
    # Every value is one rule's, but no one rule allows them all.
    names = [n for n in declared if declared[n] != "national_id"]
    name = next((n for n in names if n in asked), names[0] if names else "")
    shown = ", ".join(f"{n}={together[n]}" for n in names if n in together)
    reason = t("policy.params.not_together", lang, values=shown)
    return None, {}, [FieldError(f"{where}.params.{name}", reason, "not_allowed")]


def _as_the_statute(
    declared: Mapping[str, str],
    statutory: Mapping[str, Any],
    asked: Mapping[str, Any],
    settled: Mapping[str, Any],
) -> bool:
    """Every parameter the caller left to the rules took the statutory value, where the
    catalog sets one."""
    return all(
        same_value(settled.get(name), statutory[name])
        for name in declared
        if name not in asked and statutory.get(name) is not None
    )


def _merged(
    declared: Mapping[str, str], statutory: Mapping[str, Any], each: Sequence[Choices]
) -> dict[str, list[Any]]:
    """For each parameter some rule lists values for: every value any rule allows (its list,
    or the statutory value where it lists none)."""
    merged: dict[str, list[Any]] = {}
    for name in declared:
        if not any(choices.get(name) for choices in each):
            continue
        fixed = statutory.get(name)
        values: list[Any] = []
        for choices in each:
            listed = list(choices.get(name) or ())
            if not listed and fixed is not None:
                listed = [fixed]
            values += [v for v in listed if not any(same_value(v, w) for w in values)]
        merged[name] = values
    return merged


def same_value(a: Any, b: Any) -> bool:
    """Equal as values of one catalog type: ``19013 == 19013.0``, but ``True`` is no ``1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return bool(a == b)
