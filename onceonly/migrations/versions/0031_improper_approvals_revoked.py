"""Notify: subscriptions approved by their own agency or by a system account are revoked, and
nothing queued for them is sent or served.

Since 89eb459 an owner approves only another agency's subscription, and only a person does
(``own-subscription``, ``system-approver``). A subscription approved otherwise before then was
left approved and checked at run time, for every recorded event, by looking up its approver's
account; and the push worker still sent what had been queued for it. This revision fixes the
data once instead:

* every ``approved`` subscription whose ``decided_by`` is an account (``users.username``) of
  the subscribing agency, or an agency system's account (no password and not a citizen's:
  ``accounts.users.is_system_account``), becomes ``revoked``, by ``migration:0031``, now,
  with the reason in words (Traditional Chinese first): the approval was void and the agency
  must ask again. An approver that is no account (the demo's seed, trusted code) is left as
  it is, as the run-time check left it. Who approved (``decided_by``, ``decided_at``) stays.
* every delivery of such a subscription, whatever its status now (one approved so and
  revoked since included), that is still ``pending`` becomes ``dead`` with the reason in
  ``last_error`` and no claim, so the worker never sends it. No dead letter is written, so
  nobody replays it (a delivery dead without a letter counts as it stands,
  ``notify.measures``).
* every pull delivery of such a subscription leaves the feed (``feed_position`` becomes
  NULL), those already delivered or processed included: the feed serves the rows of any
  position after the cursor an agency gives, so a row left there would be served again to
  anyone of that agency. Their status still says what happened (the citizen's page keeps
  showing that the agency received it).

Revision ID: 0031_improper_approvals_revoked
Revises: 0030_carried_read_once
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0031_improper_approvals_revoked"
down_revision: str | None = "0030_carried_read_once"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen views of the tables as they are at this revision.
subscriptions = sa.table(
    "notify_subscriptions",
    sa.column("id", sa.Integer()),
    sa.column("agency_code", sa.String()),
    sa.column("status", sa.String()),
    sa.column("decided_by", sa.String()),
    sa.column("revoked_by", sa.String()),
    sa.column("revoked_at", sa.DateTime(timezone=True)),
    sa.column("revoke_reason", sa.Text()),
)
users = sa.table(
    "users",
    sa.column("username", sa.String()),
    sa.column("agency_code", sa.String()),
    sa.column("role", sa.String()),
    sa.column("password_hash", sa.String()),
)
deliveries = sa.table(
    "notify_deliveries",
    sa.column("subscription_id", sa.Integer()),
    sa.column("mode", sa.String()),
    sa.column("status", sa.String()),
    sa.column("feed_position", sa.Integer()),
    sa.column("last_error", sa.Text()),
    sa.column("claimed_by", sa.String()),
    sa.column("claim_token", sa.String()),
    sa.column("lease_until", sa.DateTime(timezone=True)),
)

REVOKED_BY = "migration:0031"
OWN_AGENCY = (
    "此訂閱由申請機關自己的帳號核准，核准無效，已撤銷：資料管理機關只審核其他機關的申請。"
    "如仍需要通報，請重新申請，由內政部戶政司的承辦人本人審核"
    " / This subscription was approved by an account of the agency that asked for it, so the"
    " approval was void and it is revoked: a data owner decides only other agencies' requests."
    " To be told of life events, ask again, for a person at the household-registration owner"
    " to decide"
)
SYSTEM_ACCOUNT = (
    "此訂閱由機關系統帳號（沒有密碼、只以 API 權杖運作）核准，不是承辦人本人的決定，核准無效，"
    "已撤銷。如仍需要通報，請重新申請，由內政部戶政司的承辦人本人審核"
    " / This subscription was approved by an agency system's account (no password, acting only"
    " by API token), not by a person, so the approval was void and it is revoked. To be told"
    " of life events, ask again, for a person at the household-registration owner to decide"
)
NOT_SENT = (
    "不再傳送：這筆通報所屬訂閱的核准無效（由申請機關自己或機關系統帳號核准），"
    "已於資料修正 0031 撤銷"
    " / Never sent: the approval of this delivery's subscription was void (by the agency that"
    " asked for it, or by an agency system's account); data fix 0031 revoked it"
)


def _approver(*conditions: sa.ColumnElement[bool]) -> sa.Exists:
    """Whether the subscription's approver is an account meeting ``conditions`` (usernames are
    stored normalised, trimmed and lower case, as ``accounts.users.get_user`` looks them up)."""
    return sa.exists().where(
        users.c.username == sa.func.lower(sa.func.trim(subscriptions.c.decided_by)), *conditions
    )


SAME_AGENCY = _approver(users.c.agency_code == subscriptions.c.agency_code)
SYSTEM = _approver(users.c.password_hash.is_(None), users.c.role != "citizen")


def upgrade() -> None:
    improper = sa.select(subscriptions.c.id).where(sa.or_(SAME_AGENCY, SYSTEM))
    # the subscription's own agency first, as approving refuses it first
    now = datetime.now(UTC)
    for approved_by, reason in ((SAME_AGENCY, OWN_AGENCY), (SYSTEM, SYSTEM_ACCOUNT)):
        op.execute(
            subscriptions.update()
            .where(subscriptions.c.status == "approved", approved_by)
            .values(status="revoked", revoked_by=REVOKED_BY, revoked_at=now, revoke_reason=reason)
        )
    of_improper = deliveries.c.subscription_id.in_(improper)
    op.execute(
        deliveries.update()
        .where(of_improper, deliveries.c.status == "pending")
        .values(
            status="dead", last_error=NOT_SENT, claimed_by=None, claim_token=None, lease_until=None
        )
    )
    op.execute(
        deliveries.update()
        .where(of_improper, deliveries.c.mode == "pull")
        .values(feed_position=None)
    )


def downgrade() -> None:
    """Changes no data: the subscriptions stay revoked, and their deliveries dead and out of
    the feed. Putting them back would give their agencies citizens' life events no person at
    the owner decided they may have, and the feed positions taken away are kept nowhere to
    restore. The code of 0030 runs on the data as left: it tells a revoked subscription
    nothing, sends no dead delivery and serves no row without a position."""
