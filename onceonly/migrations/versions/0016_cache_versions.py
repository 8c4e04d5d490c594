"""Cache version counters, bumped by triggers on the tables the evidence path caches.

``cache_versions`` holds one counter per kind of cached data (``rules``, ``tokens``,
``keys``); triggers on ``access_rules``, ``api_tokens``, ``users`` and ``signing_keys`` bump
them in the transaction of every change, so each worker process drops its copies on the
next request (see ``onceonly/cache_versions.py``). The statements are frozen here.

Revision ID: 0016_cache_versions
Revises: 0015_notify_intake
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_cache_versions"
down_revision: str | None = "0015_notify_intake"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, counter, watched columns of UPDATE (empty: all), bumps on INSERT)
WATCHES = (
    ("access_rules", "rules", (), True),
    (
        "api_tokens",
        "tokens",
        ("user_id", "token_hash", "expires_at", "revoked_at", "created_by_id"),
        True,
    ),
    (
        "users",
        "tokens",
        ("username", "display_name", "role", "agency_code", "badge", "active"),
        False,
    ),
    ("signing_keys", "keys", (), True),
)

PG_FUNCTION = (
    "CREATE OR REPLACE FUNCTION cache_versions_bump() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN UPDATE cache_versions SET version = version + 1 WHERE name = TG_ARGV[0]; "
    "RETURN NULL; END $$"
)


def _statements(dialect: str) -> list[str]:
    statements = [] if dialect == "sqlite" else [PG_FUNCTION]
    for table, counter, columns, on_insert in WATCHES:
        of = f" OF {', '.join(columns)}" if columns else ""
        verbs = (["INSERT"] if on_insert else []) + [f"UPDATE{of}", "DELETE"]
        name = f"{table}_bump_{counter}"
        bump = f"UPDATE cache_versions SET version = version + 1 WHERE name = '{counter}'"
        if dialect == "sqlite":
            statements += [
                f"CREATE TRIGGER {name}_{verb.split()[0].lower()} AFTER {verb} ON {table} "
                f"BEGIN {bump}; END"
                for verb in verbs
            ]
        else:
            statements.append(
                f"CREATE TRIGGER {name} AFTER {' OR '.join([*verbs, 'TRUNCATE'])} ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION cache_versions_bump('{counter}')"
            )
    return statements


def upgrade() -> None:
    op.create_table(
        "cache_versions",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_cache_versions")),
    )
    op.execute(
        "INSERT INTO cache_versions (name, version) VALUES ('rules', 0), ('tokens', 0), ('keys', 0)"
    )
    for statement in _statements(op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table, counter, _columns, on_insert in WATCHES:
        name = f"{table}_bump_{counter}"
        if dialect == "sqlite":
            for verb in (["insert"] if on_insert else []) + ["update", "delete"]:
                op.execute(f"DROP TRIGGER IF EXISTS {name}_{verb}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS cache_versions_bump()")
    op.drop_table("cache_versions")
