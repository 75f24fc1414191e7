"""Revision 1: the store's whole schema as exactmate's schema version 3 had it.

A database made by an exactmate before the migrations (``schema_version`` holding 1, 2 or 3, no
``alembic_version``) is upgraded from nothing like an empty one. Each table is created only where it
is missing, so version 1's database gains ``error_blocks`` and ``known_divisions``, version 2's
``known_divisions``, and every table there keeps its rows: the three versions differ by whole tables
only (their columns never changed). ``schema_version`` ends up holding 3, so at this revision the
database is exactly what version 3 made.

Revision ID: 0001_schema_3
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_schema_3"
down_revision = None
branch_labels = None
depends_on = None


def _tables() -> list[tuple[str, list[sa.schema.SchemaItem]]]:
    def owner() -> sa.ForeignKey:
        return sa.ForeignKey("credentials.id", ondelete="CASCADE")

    return [
        (
            "credentials",
            [
                sa.Column("id", sa.String(36), primary_key=True),
                sa.Column("name", sa.String(200), nullable=False),
                sa.Column("name_key", sa.String(200), nullable=False, unique=True),
                sa.Column("auth_type", sa.String(40), nullable=False),
                sa.Column("server_url", sa.String(400), nullable=False),
                sa.Column("client_id", sa.String(100), nullable=False),
                sa.Column("client_secret", sa.LargeBinary, nullable=False),
                sa.Column("redirect_uri", sa.String(400), nullable=False),
                sa.Column("status", sa.String(40), nullable=False),
                sa.Column("status_reason", sa.Text),
                sa.Column("is_default", sa.Boolean, nullable=False),
                sa.Column("last_test_at", sa.Float),
                sa.Column("last_test_ok", sa.Boolean),
                sa.Column("last_test_message", sa.Text),
                sa.Column("created_at", sa.Float, nullable=False),
                sa.Column("updated_at", sa.Float, nullable=False),
            ],
        ),
        (
            "tokens",
            [
                sa.Column("credential_id", sa.String(36), owner(), primary_key=True),
                sa.Column("access_token", sa.LargeBinary, nullable=False),
                sa.Column("refresh_token", sa.LargeBinary, nullable=False),
                sa.Column("access_expires_at", sa.Float, nullable=False),
                sa.Column("access_issued_at", sa.Float, nullable=False),
                sa.Column("refresh_issued_at", sa.Float, nullable=False),
                sa.Column("generation", sa.Integer, nullable=False),
                sa.Column("updated_at", sa.Float, nullable=False),
            ],
        ),
        (
            "rate_ledger",
            [
                sa.Column("client_id", sa.String(100), primary_key=True),
                sa.Column("division", sa.Integer, primary_key=True, autoincrement=False),
                sa.Column("minutely_limit", sa.Integer),
                sa.Column("minutely_remaining", sa.Integer),
                sa.Column("minutely_reset", sa.Float),
                sa.Column("daily_limit", sa.Integer),
                sa.Column("daily_remaining", sa.Integer),
                sa.Column("daily_reset", sa.Float),
                sa.Column("updated_at", sa.Float, nullable=False),
            ],
        ),
        (
            "error_budget",
            [
                sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                sa.Column("credential", sa.String(200), nullable=False),
                sa.Column("division", sa.Integer, nullable=False),
                sa.Column("endpoint", sa.String(200), nullable=False),
                sa.Column("status", sa.Integer, nullable=False),
                sa.Column("at", sa.Float, nullable=False),
                sa.Index("ix_error_budget_scope", "credential", "division", "endpoint", "at"),
            ],
        ),
        (
            "error_blocks",
            [
                sa.Column("client_id", sa.String(200), primary_key=True),
                sa.Column("division", sa.Integer, primary_key=True),
                sa.Column("endpoint", sa.String(200), primary_key=True),
                sa.Column("until", sa.Float, nullable=False),
            ],
        ),
        (
            "create_journal",
            [
                sa.Column("source", sa.String(200), primary_key=True),
                sa.Column("row_key", sa.String(200), primary_key=True),
                sa.Column("credential", sa.String(200), nullable=False),
                sa.Column("division", sa.Integer),
                sa.Column("endpoint", sa.String(200), nullable=False),
                sa.Column("state", sa.String(20), nullable=False),
                sa.Column("record_key", sa.String(200)),
                sa.Column("request_hash", sa.String(64), nullable=False),
                sa.Column("created_at", sa.Float, nullable=False),
                sa.Column("updated_at", sa.Float, nullable=False),
            ],
        ),
        (
            "audit_log",
            [
                sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                sa.Column("at", sa.Float, nullable=False),
                sa.Column("credential", sa.String(200), nullable=False),
                sa.Column("division", sa.Integer),
                sa.Column("endpoint", sa.String(200), nullable=False),
                sa.Column("action", sa.String(40), nullable=False),
                sa.Column("record_key", sa.String(200)),
                sa.Column("before", sa.Text),
                sa.Column("after", sa.Text),
                sa.Column("outcome", sa.Text, nullable=False),
            ],
        ),
        (
            "known_divisions",
            [
                sa.Column("credential_id", sa.String(36), owner(), primary_key=True),
                sa.Column("code", sa.Integer, primary_key=True, autoincrement=False),
                sa.Column("description", sa.Text, nullable=False),
                sa.Column("learned_at", sa.Float, nullable=False),
            ],
        ),
        (
            "locks",
            [
                sa.Column("name", sa.String(200), primary_key=True),
                sa.Column("owner", sa.String(200), nullable=False),
                sa.Column("expires_at", sa.Float, nullable=False),
            ],
        ),
        (
            "schema_version",
            [
                sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                sa.Column("version", sa.Integer, nullable=False),
            ],
        ),
    ]


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    for name, items in _tables():
        if name not in existing:
            op.create_table(name, *items)
    version = sa.table("schema_version", sa.column("id", sa.Integer), sa.column("version", sa.Integer))
    op.execute(version.delete())
    op.bulk_insert(version, [{"id": 1, "version": 3}])


def downgrade() -> None:
    for name, _items in reversed(_tables()):
        op.drop_table(name)
