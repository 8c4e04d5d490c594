"""The audit log's Merkle tree is append-only, as its entries are.

A stored subtree hash is derived from the entries, and every inclusion and consistency proof
a citizen or another node checks is read from these rows. Until now an UPDATE of one went
through silently: the next proof built from it would fail to verify, with nothing on the node
saying why. Now the database refuses it, as it refuses a change to an entry.

Revision ID: 0027_audit_tree_append_only
Revises: 0026_audit_predicate_asks_index
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0027_audit_tree_append_only"
down_revision: str | None = "0026_audit_predicate_asks_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of onceonly.db.make_append_only's statements for audit_tree_nodes: a
# migration keeps meaning what it meant when it was written.
SQLITE_TRIGGERS = (
    "CREATE TRIGGER audit_tree_nodes_no_update BEFORE UPDATE ON audit_tree_nodes "
    "BEGIN SELECT RAISE(ABORT, 'audit_tree_nodes is append-only'); END",
    "CREATE TRIGGER audit_tree_nodes_no_delete BEFORE DELETE ON audit_tree_nodes "
    "BEGIN SELECT RAISE(ABORT, 'audit_tree_nodes is append-only'); END",
)
POSTGRESQL_TRIGGERS = (
    "CREATE OR REPLACE FUNCTION audit_tree_nodes_append_only() RETURNS trigger "
    "LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit_tree_nodes is append-only'; END $$",
    "CREATE TRIGGER audit_tree_nodes_no_change BEFORE UPDATE OR DELETE ON audit_tree_nodes "
    "FOR EACH ROW EXECUTE FUNCTION audit_tree_nodes_append_only()",
    "CREATE TRIGGER audit_tree_nodes_no_truncate BEFORE TRUNCATE ON audit_tree_nodes "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_tree_nodes_append_only()",
)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in {"sqlite": SQLITE_TRIGGERS, "postgresql": POSTGRESQL_TRIGGERS}.get(
        dialect, ()
    ):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_tree_nodes_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_tree_nodes_no_delete")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_tree_nodes_no_change ON audit_tree_nodes")
        op.execute("DROP TRIGGER IF EXISTS audit_tree_nodes_no_truncate ON audit_tree_nodes")
        op.execute("DROP FUNCTION IF EXISTS audit_tree_nodes_append_only()")
