"""How each access rule has been used, counted from the audit log: per requesting agency and
application item. Read through the audit capability's public ``find_entries``, page by page;
plenty for demo-sized logs (an aggregate query in audit would serve a large one better)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from onceonly.audit.log import EntryFilter, find_entries
from onceonly.db import utcnow

PAGE = 500


@dataclass(frozen=True)
class Usage:
    rule_id: int
    requesting_agency: str
    application_item: str
    count: int
    last_at: datetime


def rule_usage(
    session: Session,
    owner_agency: str,
    rules: Iterable[tuple[int, str]],
    *,
    until: datetime | None = None,
) -> dict[int, list[Usage]]:
    """Released evidence per rule of ``owner_agency``: ``rules`` are (rule id, dataset) pairs.

    An entry counts when it released evidence (decision ``allowed``) under one of the rules and
    the owner was among those asked; land is asked of every land office at once, so an entry
    can name several owners and several rules.
    """
    wanted = dict(rules)
    end = until or utcnow()
    counts: dict[tuple[int, str, str], int] = {}
    latest: dict[tuple[int, str, str], datetime] = {}
    for dataset in sorted(set(wanted.values())):
        offset = 0
        while True:
            entries, total = find_entries(
                session, EntryFilter(dataset=dataset, until=end), limit=PAGE, offset=offset
            )
            for entry in entries:
                if entry.event != "evidence.request" or entry.decision != "allowed":
                    continue
                if owner_agency not in (entry.owner_agency or "").split(","):
                    continue
                for rule_id in entry.details.get("rule_ids") or ():
                    if wanted.get(rule_id) != dataset:
                        continue
                    key = (rule_id, entry.actor_agency or "", entry.application_item or "")
                    counts[key] = counts.get(key, 0) + 1
                    if key not in latest or entry.recorded_at > latest[key]:
                        latest[key] = entry.recorded_at
            offset += len(entries)
            if not entries or offset >= total:
                break
    result: dict[int, list[Usage]] = {}
    for (rule_id, agency, item), count in sorted(counts.items()):
        result.setdefault(rule_id, []).append(
            Usage(rule_id, agency, item, count, latest[(rule_id, agency, item)])
        )
    return result
