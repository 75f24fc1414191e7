"""Revision 2: ``schema_version`` dropped; Alembic's ``alembic_version`` records the schema now.

Revision ID: 0002_no_schema_version
Revises: 0001_schema_3
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_no_schema_version"
down_revision = "0001_schema_3"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("schema_version")


def downgrade() -> None:
    version = op.create_table(
        "schema_version",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.bulk_insert(version, [{"id": 1, "version": 3}])
