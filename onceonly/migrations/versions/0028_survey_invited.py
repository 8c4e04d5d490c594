"""Survey: the accounts asked to answer a wave, fixed when it opens.

A tenant's administrator could make four clerk accounts after opening a wave, answer with
them, and read a fifth clerk's answers from the results by subtraction. Each wave now keeps
the list of accounts asked (``survey_waves.invited``, account ids): the active clerk
accounts of its agencies at the moment it opened. Only they may answer, and only their
answers count toward the threshold.

Waves opened before this revision get the list as well as it can be rebuilt: the clerk
accounts of the wave's agencies made no later than it opened. Whether each was active then
is not recorded; listing one that was not only asks one more account, it lowers no
threshold. Answers already given by accounts made later stay (they cannot be told apart from
the others any more), and the results then ask that many more answers of every cell shown.

Revision ID: 0028_survey_invited
Revises: 0027_audit_tree_append_only
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0028_survey_invited"
down_revision: str | None = "0027_audit_tree_append_only"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen views of the tables as they are at this revision.
waves = sa.table(
    "survey_waves",
    sa.column("id", sa.Integer()),
    sa.column("agencies", sa.JSON()),
    sa.column("opened_at", sa.DateTime(timezone=True)),
    sa.column("invited", sa.JSON()),
)
users = sa.table(
    "users",
    sa.column("id", sa.Integer()),
    sa.column("role", sa.String()),
    sa.column("agency_code", sa.String()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def _utc(moment: datetime | None) -> datetime | None:
    """Stored times are UTC; SQLite gives them back without their offset."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def upgrade() -> None:
    with op.batch_alter_table("survey_waves") as batch:
        batch.add_column(sa.Column("invited", sa.JSON(), nullable=False, server_default="[]"))
    bind = op.get_bind()
    clerks = [
        (user_id, agency, _utc(created))
        for user_id, agency, created in bind.execute(
            sa.select(users.c.id, users.c.agency_code, users.c.created_at).where(
                users.c.role == "clerk"
            )
        )
    ]
    for wave_id, agencies, opened_at in bind.execute(
        sa.select(waves.c.id, waves.c.agencies, waves.c.opened_at)
    ).all():
        opened = _utc(opened_at)
        invited = sorted(
            user_id
            for user_id, agency, created in clerks
            if agency in (agencies or ())
            and (created is None or opened is None or created <= opened)
        )
        bind.execute(waves.update().where(waves.c.id == wave_id).values(invited=invited))


def downgrade() -> None:
    with op.batch_alter_table("survey_waves") as batch:
        batch.drop_column("invited")
