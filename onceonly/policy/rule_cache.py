"""Access rules kept per worker process for the evidence path, never older than the request.

:func:`onceonly.policy.service.decide` reads every rule of an (owner, dataset, item) on each
decision; the same few combinations come up on every request. A :class:`RuleCache` keeps them
under the ``rules`` counter of :mod:`onceonly.cache_versions`, which a trigger bumps in the
transaction of any change to ``access_rules``: a rule approved or revoked through any worker
is seen by the very next request everywhere. Validity dates, consent and the choice of rule
are still decided per request from these rows (``decide`` filters them with today's date).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from onceonly.cache_versions import VersionedMemo, Versions
from onceonly.policy.service import RuleSource, RuleView, candidate_rules, guarded_rules


class RuleCache:
    """One per app (``Exchange.rules``); shared by every request's threads."""

    def __init__(self) -> None:
        self._memo = VersionedMemo("rules")

    def source(self, session: Session, versions: Versions) -> RuleSource:
        """The rules as of ``versions`` (read at the start of this request)."""
        return _Source(self._memo, session, versions)


class _Source:
    def __init__(self, memo: VersionedMemo, session: Session, versions: Versions) -> None:
        self._memo, self._session, self._versions = memo, session, versions

    def candidates(self, owner: str, dataset: str, item: str) -> tuple[RuleView, ...]:
        return self._memo.get(
            self._versions,
            ("candidates", owner, dataset, item),
            lambda: tuple(candidate_rules(self._session, owner, dataset, item)),
        )

    def guarded(self, owner: str, dataset: str) -> tuple[RuleView, ...]:
        return self._memo.get(
            self._versions,
            ("guarded", owner, dataset),
            lambda: tuple(guarded_rules(self._session, owner, dataset)),
        )
