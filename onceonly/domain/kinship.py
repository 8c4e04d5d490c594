"""Degrees of kinship and the order of heirs, as the Civil Code counts them (pure functions).

A :class:`Family` is assembled from kinship records (each household office's record of one
person names that person's parents, children and marriages); no single office holds the
whole family, so the questions below are answered over the records gathered for a case.

* 血親 (art. 967/968): lineal degrees count the generations between the two; collateral
  degrees count up from one to the nearest common ancestor and down to the other.
* 姻親 (art. 969/970): the spouse of a blood relative, a blood relative of the spouse, and the
  spouse of a blood relative of the spouse, each at the degree of the blood relationship it
  rests on. A divorce ends it (art. 971); a spouse's death does not.
* Heirs (art. 1138-1140, 1144): lineal descendants (nearest degree first; a child who died
  before the deceased is represented by their descendants), else parents, else siblings,
  else grandparents; a surviving spouse inherits alongside whichever order inherits.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

Line = Literal["blood", "affinity", "spouse"]


@dataclass(frozen=True)
class Kin:
    """One person as the records name them; ``key`` is whatever identifies them (a national ID)."""

    key: str
    name: str = ""
    sex: str = ""
    birth: date | None = None
    death: date | None = None
    pre1946_register: str | None = None
    """The Japanese-era household register (日據時期戶口調查簿) the person is recorded in."""
    held_by: str = ""
    """The jurisdiction whose household office holds the person's record."""

    def alive_on(self, day: date) -> bool:
        return (self.birth is None or self.birth <= day) and (
            self.death is None or self.death > day
        )


@dataclass(frozen=True)
class Marriage:
    one: str
    other: str
    since: date | None = None
    until: date | None = None
    divorced: bool = False
    """Ended by divorce (not by death): the affinity it made has ended too (art. 971)."""

    def partner(self, key: str) -> str | None:
        if key == self.one:
            return self.other
        if key == self.other:
            return self.one
        return None

    def married_on(self, day: date) -> bool:
        """Still married on ``day`` (a marriage ended by death counts as ended at the death)."""
        started = self.since is None or self.since <= day
        return started and (self.until is None or self.until > day)


@dataclass
class Family:
    people: dict[str, Kin] = field(default_factory=dict)
    parents: dict[str, set[str]] = field(default_factory=dict)
    marriages: list[Marriage] = field(default_factory=list)

    own: set[str] = field(default_factory=set)
    """People whose own record (not only a relative's mention of them) was read."""

    def add(self, person: Kin, *, own: bool = False) -> None:
        """Add or complete a person: their own record wins over a relative's mention of
        them, and among mentions the fuller one."""
        known = self.people.get(person.key)
        if own:
            self.own.add(person.key)
        elif known is not None and (person.key in self.own or _richness(person) < _richness(known)):
            return
        self.people[person.key] = person

    def add_parent(self, child: str, parent: str) -> None:
        if child != parent:
            self.parents.setdefault(child, set()).add(parent)

    def marry(self, marriage: Marriage) -> None:
        if marriage.one == marriage.other:
            return
        pair = {marriage.one, marriage.other}
        for i, known in enumerate(self.marriages):
            if {known.one, known.other} == pair and known.since == marriage.since:
                if marriage.until is not None or marriage.divorced:
                    self.marriages[i] = marriage
                return
        self.marriages.append(marriage)

    def children(self, key: str) -> list[str]:
        return sorted(c for c, ps in self.parents.items() if key in ps)

    def spouses(self, key: str, *, divorced: bool = False) -> list[str]:
        """Spouses, present or widowed (with ``divorced``, former spouses too)."""
        found = []
        for marriage in self.marriages:
            partner = marriage.partner(key)
            if partner is not None and (divorced or not marriage.divorced):
                found.append(partner)
        return sorted(set(found))

    def person(self, key: str) -> Kin:
        return self.people.get(key) or Kin(key)


def _richness(person: Kin) -> int:
    return sum(
        value not in (None, "")
        for value in (person.name, person.sex, person.birth, person.death, person.held_by)
    )


@dataclass(frozen=True)
class Kinship:
    """How B is related to A: the line, lineal or collateral, and the degree."""

    line: Line
    degree: int
    lineal: bool


def _ancestors(family: Family, key: str) -> dict[str, int]:
    """Every ancestor of ``key`` (and ``key`` itself at 0) with the generations between."""
    found = {key: 0}
    queue = deque([key])
    while queue:
        current = queue.popleft()
        for parent in family.parents.get(current, ()):
            if parent not in found:
                found[parent] = found[current] + 1
                queue.append(parent)
    return found


def blood_degree(family: Family, a: str, b: str) -> tuple[int, bool] | None:
    """(degree, lineal) of the blood relationship of ``a`` and ``b``, or ``None``."""
    if a == b:
        return None
    up_a, up_b = _ancestors(family, a), _ancestors(family, b)
    best: tuple[int, bool] | None = None
    for common in up_a.keys() & up_b.keys():
        degree = up_a[common] + up_b[common]
        lineal = up_a[common] == 0 or up_b[common] == 0
        if best is None or (degree, not lineal) < (best[0], not best[1]):
            best = (degree, lineal)
    return best


def kinship(family: Family, a: str, b: str) -> Kinship | None:
    """The closest relationship of ``b`` to ``a``: spouse, blood, or by marriage (art. 969/970).

    Former spouses and their relatives are nothing once divorced (art. 971).
    """
    if a == b:
        return None
    if b in family.spouses(a):
        return Kinship("spouse", 0, False)
    candidates: list[Kinship] = []
    blood = blood_degree(family, a, b)
    if blood is not None:
        candidates.append(Kinship("blood", *blood))
    # 血親之配偶: b is the spouse of a's blood relative r.
    for r in family.spouses(b):
        found = blood_degree(family, a, r)
        if found is not None:
            candidates.append(Kinship("affinity", *found))
    # 配偶之血親 and 配偶之血親之配偶: through a's spouse s.
    for s in family.spouses(a):
        found = blood_degree(family, s, b)
        if found is not None:
            candidates.append(Kinship("affinity", *found))
        for r in family.spouses(b):
            if r == s:
                continue
            found = blood_degree(family, s, r)
            if found is not None:
                candidates.append(Kinship("affinity", *found))
    if not candidates:
        return None
    rank = {"blood": 0, "affinity": 1, "spouse": 2}
    return min(candidates, key=lambda k: (k.degree, rank[k.line], not k.lineal))


def within_kinship_degree(family: Family, a: str, b: str, degree: int) -> Kinship | None:
    """``b``'s relationship to ``a`` if it is a spouse or within ``degree`` degrees, else None."""
    if degree < 1:
        raise ValueError("degree must be at least 1")
    found = kinship(family, a, b)
    if found is None or (found.line != "spouse" and found.degree > degree):
        return None
    return found


HeirRole = Literal["spouse", "descendant", "parent", "sibling", "grandparent"]


@dataclass(frozen=True)
class Heir:
    key: str
    role: HeirRole
    order: int | None
    """1-4 per art. 1138; ``None`` for the spouse, who inherits alongside any order."""


def _descendant_heirs(family: Family, key: str, died: date) -> list[str]:
    """Children alive at the death; a child who died first is represented by their own
    descendants (代位繼承, art. 1140)."""
    heirs: list[str] = []
    for child in family.children(key):
        person = family.person(child)
        if person.alive_on(died):
            heirs.append(child)
        elif person.death is not None and person.death <= died:
            heirs += _descendant_heirs(family, child, died)
    return heirs


def heirs_of(family: Family, deceased: str) -> list[Heir]:
    """The heirs of ``deceased`` by the Civil Code order; empty when the death is unknown."""
    died = family.person(deceased).death
    if died is None:
        return []
    alive = [k for k in family.people if k != deceased and family.person(k).alive_on(died)]
    heirs: list[Heir] = []
    for marriage in family.marriages:
        partner = marriage.partner(deceased)
        if (
            partner is not None
            and not marriage.divorced
            and (marriage.since is None or marriage.since <= died)
            and partner in alive
        ):
            heirs.append(Heir(partner, "spouse", None))
    orders: list[tuple[HeirRole, Iterable[str]]] = [
        ("descendant", _descendant_heirs(family, deceased, died)),
        ("parent", family.parents.get(deceased, ())),
        ("sibling", _siblings(family, deceased)),
        ("grandparent", _grandparents(family, deceased)),
    ]
    for order, (role, keys) in enumerate(orders, 1):
        found = sorted({k for k in keys if k in alive})
        if found:
            heirs += [Heir(k, role, order) for k in found]
            break
    return heirs


def _siblings(family: Family, key: str) -> set[str]:
    """Brothers and sisters, full or half (sharing at least one parent)."""
    mine = family.parents.get(key, set())
    return {c for c, ps in family.parents.items() if c != key and ps & mine}


def _grandparents(family: Family, key: str) -> set[str]:
    return {g for p in family.parents.get(key, ()) for g in family.parents.get(p, ())}


def generations(family: Family, root: str) -> dict[str, int]:
    """Each person's generation relative to ``root`` (parents -1, children +1, spouses equal),
    for laying out a chart; people not connected to ``root`` are left out."""
    found = {root: 0}
    queue = deque([root])
    while queue:
        current = queue.popleft()
        level = found[current]
        steps = [(p, level - 1) for p in family.parents.get(current, ())]
        steps += [(c, level + 1) for c in family.children(current)]
        steps += [(s, level) for s in family.spouses(current, divorced=True)]
        for key, value in steps:
            if key not in found:
                found[key] = value
                queue.append(key)
    return found


def _day(value: object) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None


def family_from_records(records: Iterable[Iterable[dict[str, object]]]) -> Family:
    """A family from kinship records in the common standard (each a list of ``relatives``
    rows: one ``self`` row and one per parent, marriage and child), keyed by national ID.

    A record need not carry every field (the access rule may withhold some); a row without a
    ``national_id`` gets a key of its own (``~...``) and joins no other record.
    """
    family = Family()
    for number, rows in enumerate(records):
        rows = list(rows)
        own = next((r for r in rows if r.get("relation") == "self"), None)
        if own is None:
            continue
        me = str(own.get("national_id") or f"~{number}")
        for index, row in enumerate(rows):
            # A relative whose number was withheld can still be drawn, known only here.
            key = me if row is own else str(row.get("national_id") or f"~{me}/{index}")
            family.add(
                Kin(
                    key=key,
                    name=str(row.get("name") or ""),
                    sex=str(row.get("sex") or ""),
                    birth=_day(row.get("birth_date")),
                    death=_day(row.get("death_date")),
                    pre1946_register=(
                        str(row["pre1946_register"]) if row.get("pre1946_register") else None
                    ),
                    held_by=str(row.get("held_by") or ""),
                ),
                own=key == me,
            )
            relation = row.get("relation")
            if relation in ("father", "mother"):
                family.add_parent(me, key)
            elif relation == "child":
                family.add_parent(key, me)
            elif relation in ("spouse", "former_spouse"):
                family.marry(
                    Marriage(
                        me,
                        key,
                        since=_day(row.get("married_on")),
                        until=_day(row.get("marriage_ended_on")),
                        divorced=relation == "former_spouse",
                    )
                )
    return family
