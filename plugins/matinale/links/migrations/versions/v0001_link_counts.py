"""The link counts table: one row per (Paris hour, edition, segment, theme, channel, angle,
event) with a number. Nothing else is stored.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Spelled out, not taken from counts.COUNTS: a migration is a frozen snapshot of its day.
    op.create_table(
        "link_counts",
        sa.Column("hour", sa.String(25), nullable=False),
        sa.Column("edition", sa.String(10), nullable=False),
        sa.Column("segment", sa.String(64), nullable=False),
        sa.Column("theme", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("angle", sa.String(64), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("hour", "edition", "segment", "theme", "channel", "angle", "event"),
    )
    op.create_index("link_counts_edition", "link_counts", ["edition", "segment"])


def downgrade() -> None:
    op.drop_index("link_counts_edition", table_name="link_counts")
    op.drop_table("link_counts")
