"""Catalog: jurisdictions, agencies, legal bases, datasets and their field standard,
application items with their required evidence, and the record of each catalog load.

Revision ID: 0001_catalog
Revises:
Create Date: 2025-01-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_catalog"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "catalog_items",
        sa.Column("code", sa.String(length=120), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name_zh", sa.String(length=300), nullable=False),
        sa.Column("name_en", sa.String(length=300), nullable=False),
        sa.Column("agency_kind", sa.String(length=60), nullable=False),
        sa.Column("jurisdictions", sa.JSON(), nullable=True),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column("legal_bases", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_catalog_items")),
    )
    op.create_index(
        op.f("ix_catalog_items_agency_kind"), "catalog_items", ["agency_kind"], unique=False
    )
    op.create_table(
        "catalog_jurisdictions",
        sa.Column("code", sa.String(length=120), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name_zh", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("national_id_letter", sa.String(length=1), nullable=True),
        sa.Column("established_on", sa.Date(), nullable=True),
        sa.Column("merged_into", sa.String(length=120), nullable=True),
        sa.Column("merged_on", sa.Date(), nullable=True),
        sa.Column("districts", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["merged_into"],
            ["catalog_jurisdictions.code"],
            name=op.f("fk_catalog_jurisdictions_merged_into_catalog_jurisdictions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_catalog_jurisdictions")),
    )
    op.create_table(
        "catalog_legal_bases",
        sa.Column("code", sa.String(length=120), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name_zh", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=300), nullable=False),
        sa.Column("article", sa.String(length=200), nullable=True),
        sa.Column("summary_zh", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_catalog_legal_bases")),
    )
    op.create_table(
        "catalog_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("file_count", sa.Integer(), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_versions")),
    )
    op.create_table(
        "catalog_agencies",
        sa.Column("code", sa.String(length=120), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("jurisdiction", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("name_zh", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["jurisdiction"],
            ["catalog_jurisdictions.code"],
            name=op.f("fk_catalog_agencies_jurisdiction_catalog_jurisdictions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_catalog_agencies")),
    )
    op.create_index(
        op.f("ix_catalog_agencies_jurisdiction"), "catalog_agencies", ["jurisdiction"], unique=False
    )
    op.create_index(op.f("ix_catalog_agencies_kind"), "catalog_agencies", ["kind"], unique=False)
    op.create_table(
        "catalog_datasets",
        sa.Column("code", sa.String(length=120), nullable=False),
        sa.Column("name_zh", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=300), nullable=False),
        sa.Column("owner_agency", sa.String(length=120), nullable=True),
        sa.Column("owner_kind", sa.String(length=60), nullable=True),
        sa.Column("owner_scope", sa.String(length=40), nullable=False),
        sa.Column("digitised", sa.Boolean(), nullable=False),
        sa.Column("not_digitised_in", sa.JSON(), nullable=False),
        sa.Column("description_zh", sa.Text(), nullable=False),
        sa.Column("description_en", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_agency"],
            ["catalog_agencies.code"],
            name=op.f("fk_catalog_datasets_owner_agency_catalog_agencies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_catalog_datasets")),
    )
    op.create_table(
        "catalog_dataset_fields",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dataset", sa.String(length=120), nullable=False),
        sa.Column("jurisdiction", sa.String(length=120), nullable=True),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("label_zh", sa.String(length=200), nullable=False),
        sa.Column("label_en", sa.String(length=200), nullable=False),
        sa.Column("personal", sa.Boolean(), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("code_list", sa.JSON(), nullable=True),
        sa.Column("code_list_source", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["dataset"],
            ["catalog_datasets.code"],
            name=op.f("fk_catalog_dataset_fields_dataset_catalog_datasets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["jurisdiction"],
            ["catalog_jurisdictions.code"],
            name=op.f("fk_catalog_dataset_fields_jurisdiction_catalog_jurisdictions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["catalog_dataset_fields.id"],
            name=op.f("fk_catalog_dataset_fields_parent_id_catalog_dataset_fields"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_dataset_fields")),
    )
    op.create_index(
        op.f("ix_catalog_dataset_fields_dataset"),
        "catalog_dataset_fields",
        ["dataset"],
        unique=False,
    )
    op.create_table(
        "catalog_predicates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dataset", sa.String(length=120), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.Column("name_zh", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=300), nullable=False),
        sa.Column("description_zh", sa.Text(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset"],
            ["catalog_datasets.code"],
            name=op.f("fk_catalog_predicates_dataset_catalog_datasets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_predicates")),
    )
    op.create_index(
        op.f("ix_catalog_predicates_dataset"), "catalog_predicates", ["dataset"], unique=False
    )
    op.create_table(
        "catalog_required_evidence",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("item", sa.String(length=120), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("dataset", sa.String(length=120), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=True),
        sa.Column("predicate", sa.String(length=60), nullable=True),
        sa.Column("predicate_params", sa.JSON(), nullable=True),
        sa.Column("legal_basis", sa.String(length=120), nullable=False),
        sa.Column("paper_name_zh", sa.String(length=200), nullable=False),
        sa.Column("paper_name_en", sa.String(length=300), nullable=False),
        sa.Column("purpose_zh", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset"],
            ["catalog_datasets.code"],
            name=op.f("fk_catalog_required_evidence_dataset_catalog_datasets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["item"],
            ["catalog_items.code"],
            name=op.f("fk_catalog_required_evidence_item_catalog_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["legal_basis"],
            ["catalog_legal_bases.code"],
            name=op.f("fk_catalog_required_evidence_legal_basis_catalog_legal_bases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_required_evidence")),
    )
    op.create_index(
        op.f("ix_catalog_required_evidence_item"),
        "catalog_required_evidence",
        ["item"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_catalog_required_evidence_item"), table_name="catalog_required_evidence")
    op.drop_table("catalog_required_evidence")
    op.drop_index(op.f("ix_catalog_predicates_dataset"), table_name="catalog_predicates")
    op.drop_table("catalog_predicates")
    op.drop_index(op.f("ix_catalog_dataset_fields_dataset"), table_name="catalog_dataset_fields")
    op.drop_table("catalog_dataset_fields")
    op.drop_table("catalog_datasets")
    op.drop_index(op.f("ix_catalog_agencies_kind"), table_name="catalog_agencies")
    op.drop_index(op.f("ix_catalog_agencies_jurisdiction"), table_name="catalog_agencies")
    op.drop_table("catalog_agencies")
    op.drop_table("catalog_versions")
    op.drop_table("catalog_legal_bases")
    op.drop_table("catalog_jurisdictions")
    op.drop_index(op.f("ix_catalog_items_agency_kind"), table_name="catalog_items")
    op.drop_table("catalog_items")
