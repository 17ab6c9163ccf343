"""The support desk: priority, team, SLA times and tags of tickets; staff teams and
availability; anonymous conversation-days for reports; the privacy request log.

The tables are defined here, as they were at this revision (see 0001).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)  # `records.schema.UTCTime` stores this

_metadata = sa.MetaData(naming_convention={
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})
# what the foreign keys refer to (made by 0001; not created here)
sa.Table("tickets", _metadata, sa.Column("number", sa.Integer, primary_key=True))

_TABLES = (
    sa.Table(
        "ticket_desk", _metadata,
        sa.Column("ticket", sa.Integer, sa.ForeignKey("tickets.number", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("priority", sa.String(8), nullable=False),
        sa.Column("priority_by", sa.String(320)),
        sa.Column("team", sa.String(64)),
        sa.Column("first_response_at", UTC_TIME),
        sa.Column("first_response_by", sa.String(320)),
        sa.Column("first_response_due", UTC_TIME),
        sa.Column("resolution_due", UTC_TIME),
        sa.Index("ix_ticket_desk_first_response_due", "first_response_due"),
        sa.Index("ix_ticket_desk_resolution_due", "resolution_due"),
        sa.Index("ix_ticket_desk_team", "team"),
    ),
    sa.Table(
        "ticket_tags", _metadata,
        sa.Column("ticket", sa.Integer, sa.ForeignKey("tickets.number", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("tag", sa.String(64), primary_key=True),
        sa.Column("by", sa.String(320)),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.Index("ix_ticket_tags_tag", "tag"),
    ),
    sa.Table(
        "staff_desk", _metadata,
        sa.Column("email", sa.String(320), primary_key=True),
        sa.Column("team", sa.String(64)),
        sa.Column("available", sa.Boolean, nullable=False),
        sa.Column("max_open", sa.Integer, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
    ),
    sa.Table(
        "conversation_days", _metadata,
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("conversation", sa.String(64), primary_key=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("ticketed", sa.Boolean, nullable=False),
    ),
    sa.Table(
        "privacy_requests", _metadata,
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.Column("by", sa.String(320), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("identity_kind", sa.String(16), nullable=False),
        sa.Column("identity_hash", sa.String(64), nullable=False),
        sa.Column("found", sa.JSON),
    ),
)


def upgrade() -> None:
    bind = op.get_bind()
    for table in _TABLES:
        table.create(bind)
    # tickets from before the desk: normal priority, no SLA times (they predate them)
    op.execute("INSERT INTO ticket_desk (ticket, priority) SELECT number, 'normal' FROM tickets")


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(_TABLES):
        table.drop(bind)
