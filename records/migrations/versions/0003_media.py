"""Attachments: one row per photo or file a shopper sent or staff sent back (the
bytes live in the media store, `media.blobs`). The table is defined here, as it
was at this revision, not imported from `records.schema` (see 0001).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)  # `records.schema.UTCTime` stores this


def upgrade() -> None:
    op.create_table(
        "attachments",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("conversation", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("who", sa.String(16), nullable=False),
        sa.Column("source", sa.String(80)),
        sa.Column("ticket", sa.Integer,
                  sa.ForeignKey("tickets.number", ondelete="SET NULL",
                                name="fk_attachments_ticket_tickets")),
        sa.Column("line", sa.String(40)),
        sa.Column("content_type", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("storage_key", sa.String(200), nullable=False),
        sa.Column("filename", sa.String(200)),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("removed_at", UTC_TIME),
        sa.PrimaryKeyConstraint("id", name="pk_attachments"),
    )
    op.create_index("ix_attachments_ticket", "attachments", ["ticket", "created_at"])
    op.create_index("ix_attachments_conversation", "attachments", ["conversation"])
    op.create_index("ix_attachments_created", "attachments", ["created_at"])


def downgrade() -> None:
    op.drop_table("attachments")
