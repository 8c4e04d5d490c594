"""Survey: waves, participation (who answered), the pool of answers not yet released and
anonymous responses (what was answered); WITHOUT ROWID tables on SQLite so storage order is
key order.

Revision ID: 0014_survey
Revises: 0013_predicate_params
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_survey"
down_revision: str | None = "0013_predicate_params"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "survey_waves",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instrument", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("tenant", sa.String(length=60), nullable=False),
        sa.Column("agencies", sa.JSON(), nullable=False),
        sa.Column("opened_by", sa.String(length=64), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_waves")),
    )
    op.create_index(op.f("ix_survey_waves_tenant"), "survey_waves", ["tenant"])
    op.create_table(
        "survey_pools",
        sa.Column("wave_id", sa.Integer(), nullable=False),
        sa.Column("entries", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["wave_id"],
            ["survey_waves.id"],
            name=op.f("fk_survey_pools_wave_id_survey_waves"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("wave_id", name=op.f("pk_survey_pools")),
    )
    op.create_table(
        "survey_participation",
        sa.Column("wave_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.ForeignKeyConstraint(
            ["wave_id"],
            ["survey_waves.id"],
            name=op.f("fk_survey_participation_wave_id_survey_waves"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("wave_id", "user_id", name=op.f("pk_survey_participation")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "survey_responses",
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("wave_id", sa.Integer(), nullable=False),
        sa.Column("city", sa.String(length=60), nullable=False),
        sa.Column("agency_kind", sa.String(length=60), nullable=False),
        sa.ForeignKeyConstraint(
            ["wave_id"],
            ["survey_waves.id"],
            name=op.f("fk_survey_responses_wave_id_survey_waves"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_survey_responses")),
        sqlite_with_rowid=False,
    )
    op.create_index(op.f("ix_survey_responses_wave_id"), "survey_responses", ["wave_id"])
    op.create_table(
        "survey_answers",
        sa.Column("response_token", sa.String(length=32), nullable=False),
        sa.Column("item", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.CheckConstraint("value BETWEEN 0 AND 6", name=op.f("ck_survey_answers_value")),
        sa.ForeignKeyConstraint(
            ["response_token"],
            ["survey_responses.token"],
            name=op.f("fk_survey_answers_response_token_survey_responses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("response_token", "item", name=op.f("pk_survey_answers")),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("survey_answers")
    op.drop_index(op.f("ix_survey_responses_wave_id"), table_name="survey_responses")
    op.drop_table("survey_responses")
    op.drop_table("survey_participation")
    op.drop_table("survey_pools")
    op.drop_index(op.f("ix_survey_waves_tenant"), table_name="survey_waves")
    op.drop_table("survey_waves")
