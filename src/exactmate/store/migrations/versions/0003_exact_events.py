"""Revision 3: what the flows' ``exact`` trigger keeps: the app's webhook secret on each credential
(encrypted like the client secret; none until it is given) and ``event_cursors``, the trigger's
position in each (credential, division, topic)'s ``sync/`` feed and in ``sync/Deleted``.

Revision ID: 0003_exact_events
Revises: 0002_no_schema_version
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_exact_events"
down_revision = "0002_no_schema_version"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("credentials") as batch:
        batch.add_column(sa.Column("webhook_secret", sa.LargeBinary, nullable=True))
    op.create_table(
        "event_cursors",
        sa.Column(
            "credential_id",
            sa.String(36),
            sa.ForeignKey("credentials.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("division", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("topic", sa.String(100), primary_key=True),
        sa.Column("feed_cursor", sa.BigInteger, nullable=False),
        sa.Column("deleted_cursor", sa.BigInteger, nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("event_cursors")
    with op.batch_alter_table("credentials") as batch:
        batch.drop_column("webhook_secret")
