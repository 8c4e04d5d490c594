"""The 親系關係圖 (kinship chart) of a case, drawn as SVG from the kinship records it holds.

The records come from several household offices (each relative's own record from the office
where they are registered, asked through the exchange); the chart shows what those signed
records say and nothing else: names, how each person is related to the case's subject, years
of birth and death, a Japanese-era register where one is recorded, and, when the subject has
died, the heirs in Civil Code order (:func:`onceonly.domain.kinship.heirs_of`). National ID
numbers are never drawn; the table beside the chart (the chart's text alternative) shows a
relative's number only if the owner's rule let it leave.

Drawn by hand rather than with a graph library: a family of a dozen people laid out by
generation needs no more, and every text goes through :func:`markupsafe.escape`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from markupsafe import Markup, escape

from onceonly.domain.kinship import (
    Family,
    Heir,
    family_from_records,
    generations,
    heirs_of,
    kinship,
)
from onceonly.i18n import t
from onceonly.i18n.punctuation import bracketed, join_words

_FAR = date.max
_BOX_W, _BOX_H, _GAP_X, _GAP_Y, _MARGIN = 168, 84, 22, 56, 16


@dataclass(frozen=True)
class ChartPerson:
    key: str
    name: str
    relation: str
    """How the person is related to the subject, in words."""
    years: str
    heir: str
    """Their place among the heirs in words, or empty."""
    heir_short: str
    register: str
    held_by: str
    national_id: str
    """Shown only when the record carried it (the rule allowed it); else empty."""
    generation: int


@dataclass(frozen=True)
class KinChart:
    title: str
    description: str
    svg: Markup
    people: list[ChartPerson]
    heirs: list[ChartPerson]
    subject_deceased: bool


def _relation(family: Family, root: str, key: str, lang: str) -> str:
    if key == root:
        return t("counter.kin.self", lang)
    parents = family.parents.get(root, set())
    person = family.person(key)
    sex = person.sex or "X"
    if key in parents:
        return t(f"counter.kin.parent.{sex}", lang)
    if root in family.parents.get(key, set()):
        return t(f"counter.kin.child.{sex}", lang)
    if key in family.spouses(root):
        return t("counter.kin.spouse", lang)
    if key in family.spouses(root, divorced=True):
        return t("counter.kin.former_spouse", lang)
    if family.parents.get(key, set()) & parents:
        return t("counter.kin.sibling", lang)
    through = [p for p in sorted(parents) if key in family.parents.get(p, set())]
    if through:
        side = family.person(through[0]).sex
        known = side in ("M", "F") and sex in ("M", "F")
        return t(f"counter.kin.grandparent.{side + sex if known else 'X'}", lang)
    found = kinship(family, root, key)
    if found is None:
        return t("counter.kin.none", lang)
    return t(
        "counter.kin.degree",
        lang,
        degree=found.degree,
        kind=t("counter.kin.lineal" if found.lineal else "counter.kin.collateral", lang),
        line=t(f"counter.kin.line.{found.line}", lang),
    )


def _years(family: Family, key: str, lang: str) -> str:
    person = family.person(key)
    born = str(person.birth.year) if person.birth else "?"
    if person.death:
        return t("counter.kin.years_dead", lang, born=born, died=person.death.isoformat())
    if person.birth:
        return t("counter.kin.years_alive", lang, born=born)
    return ""


def _heir_words(heir: Heir | None, lang: str) -> str:
    if heir is None:
        return ""
    if heir.order is None:
        return t("counter.kin.heir.spouse", lang)
    return t(
        "counter.kin.heir.order",
        lang,
        order=heir.order,
        role=t(f"counter.kin.role.{heir.role}", lang),
    )


def _heir_short(heir: Heir | None, lang: str) -> str:
    if heir is None:
        return ""
    if heir.order is None:
        return t("counter.kin.heir.short_spouse", lang)
    return t("counter.kin.heir.short_order", lang, order=heir.order)


def build_chart(
    subject: str,
    records: list[list[dict[str, Any]]],
    lang: str,
    place_name: Any = None,
) -> KinChart:
    """The chart of ``subject`` from the kinship records (each a list of ``relatives`` rows)."""
    if records:  # the subject's own record first: its person is the case's subject
        first = [dict(r) for r in records[0]]
        for row in first:
            if row.get("relation") == "self":
                row["national_id"] = subject
        records = [first, *records[1:]]
    family = family_from_records(records)
    if subject not in family.people:
        family.add(family.person(subject))
    levels = generations(family, subject)
    deceased = family.person(subject).death is not None
    heirs = {h.key: h for h in heirs_of(family, subject)} if deceased else {}
    people: list[ChartPerson] = []
    for key in sorted(
        levels,
        key=lambda k: (levels[k], family.person(k).birth or _FAR, family.person(k).name, k),
    ):
        person = family.person(key)
        people.append(
            ChartPerson(
                key=key,
                name=person.name or t("counter.kin.no_name", lang),
                relation=_relation(family, subject, key, lang),
                years=_years(family, key, lang),
                heir=_heir_words(heirs.get(key), lang),
                heir_short=_heir_short(heirs.get(key), lang),
                register=person.pre1946_register or "",
                held_by=str(place_name(person.held_by))
                if place_name and person.held_by
                else person.held_by,
                national_id="" if key == subject or key.startswith("~") else key,
                generation=levels[key],
            )
        )
    root = family.person(subject).name or subject
    title = t("counter.kin.chart_title", lang, name=root)
    heir_people = [p for p in people if p.heir]
    if deceased:
        description = t(
            "counter.kin.chart_desc_heirs",
            lang,
            name=root,
            count=len(people),
            heirs=join_words((f"{p.name}{bracketed(p.heir, lang)}" for p in heir_people), lang)
            or t("counter.kin.no_heirs", lang),
        )
    else:
        description = t("counter.kin.chart_desc", lang, name=root, count=len(people))
    svg = _svg(family, people, subject, title, description, lang)
    return KinChart(title, description, svg, people, heir_people, deceased)


def _svg(
    family: Family,
    people: list[ChartPerson],
    subject: str,
    title: str,
    description: str,
    lang: str,
) -> Markup:
    rows = _rows(family, people)
    width = max(len(r) for r in rows.values()) * (_BOX_W + _GAP_X) - _GAP_X + 2 * _MARGIN
    top = min(rows)
    where: dict[str, tuple[float, float]] = {}
    for level, members in rows.items():
        used = len(members) * (_BOX_W + _GAP_X) - _GAP_X
        x0 = (width - used) / 2
        y: float = _MARGIN + (level - top) * (_BOX_H + _GAP_Y)
        for i, person in enumerate(members):
            where[person.key] = (x0 + i * (_BOX_W + _GAP_X), y)
    height = _MARGIN * 2 + len(rows) * (_BOX_H + _GAP_Y) - _GAP_Y
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="kin-chart" role="img" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" '
        f'aria-labelledby="kin-title kin-desc" lang="{escape(lang)}">',
        f'<title id="kin-title">{escape(title)}</title>',
        f'<desc id="kin-desc">{escape(description)}</desc>',
    ]
    lines = []
    for marriage in family.marriages:
        if marriage.one in where and marriage.other in where:
            (x1, y1), (x2, y2) = where[marriage.one], where[marriage.other]
            if y1 == y2:
                left, right = sorted((x1, x2))
                dash = ' stroke-dasharray="6 4"' if marriage.divorced else ""
                lines.append(
                    f'<line x1="{left + _BOX_W:.0f}" y1="{y1 + _BOX_H / 2:.0f}" x2="{right:.0f}" '
                    f'y2="{y2 + _BOX_H / 2:.0f}" stroke="#333" stroke-width="2"{dash}/>'
                )
    for child, parents in family.parents.items():
        if child not in where:
            continue
        cx, cy = where[child]
        drawn = sorted(p for p in parents if p in where)
        pair = len(drawn) == 2 and where[drawn[0]][1] == where[drawn[1]][1]
        starts = (
            [
                (
                    (where[drawn[0]][0] + where[drawn[1]][0] + _BOX_W) / 2,
                    where[drawn[0]][1] + _BOX_H / 2,
                )
            ]
            if pair
            else [(where[p][0] + _BOX_W / 2, where[p][1] + _BOX_H) for p in drawn]
        )
        for sx, sy in starts:
            mid = where[drawn[0]][1] + _BOX_H + _GAP_Y / 2
            lines.append(
                f'<path d="M{sx:.0f} {sy:.0f} V{mid:.0f} H{cx + _BOX_W / 2:.0f} V{cy:.0f}" '
                'fill="none" stroke="#555" stroke-width="1.5"/>'
            )
    parts += lines
    for person in people:
        x, y = where[person.key]
        heir = bool(person.heir)
        stroke = "#0b5d1e" if heir else ("#1a1a1a" if person.key == subject else "#666")
        fill = "#eaf6ec" if heir else ("#fff8e1" if person.key == subject else "#ffffff")
        width_ = 3 if heir or person.key == subject else 1
        texts = [person.name, person.relation, person.years]
        texts.append(
            person.heir_short or (t("counter.kin.pre1946", lang) if person.register else "")
        )
        parts.append(
            f'<g class="kin-person{" kin-heir" if heir else ""}">'
            f'<rect x="{x:.0f}" y="{y:.0f}" width="{_BOX_W}" height="{_BOX_H}" rx="6" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="{width_}"/>'
        )
        for i, text in enumerate(texts):
            if not text:
                continue
            weight = ' font-weight="bold"' if i == 0 else ""
            size = 15 if i == 0 else 12
            parts.append(
                f'<text x="{x + 8:.0f}" y="{y + 20 + i * 18:.0f}" font-size="{size}" '
                f'fill="#1a1a1a"{weight}>{escape(_clip(text))}</text>'
            )
        parts.append("</g>")
    parts.append("</svg>")
    return Markup("".join(parts))


def _rows(family: Family, people: list[ChartPerson]) -> dict[int, list[ChartPerson]]:
    """People by generation; within one, each spouse beside their partner (a former spouse
    on the left, the present one on the right), so marriage lines cross no one."""
    by_key = {p.key: p for p in people}
    levels: dict[int, list[ChartPerson]] = {}
    for person in people:
        levels.setdefault(person.generation, []).append(person)
    rows: dict[int, list[ChartPerson]] = {}
    for level, members in levels.items():
        placed: list[str] = []
        for person in members:
            if person.key in placed:
                continue
            former = [
                k
                for k in family.spouses(person.key, divorced=True)
                if k not in family.spouses(person.key) and k in by_key and k not in placed
            ]
            present = [k for k in family.spouses(person.key) if k in by_key and k not in placed]
            placed += [*former, person.key, *present]
        rows[level] = [by_key[k] for k in placed if by_key[k].generation == level]
        rows[level] += [p for p in members if p.key not in placed]
    return rows


def _clip(text: str, room: float = _BOX_W - 16) -> str:
    """``text`` cut to fit the box (a CJK character is about a font size wide, others half)."""
    used = 0.0
    for i, char in enumerate(text):
        used += 12.5 if ord(char) > 0x2E80 else 7
        if used > room:
            return text[: max(i - 1, 0)] + "…"
    return text
