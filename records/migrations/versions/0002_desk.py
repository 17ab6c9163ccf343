"""The support desk: priority, team, SLA times and tags of tickets; staff teams and
availability; anonymous conversation-days for reports; the privacy request log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

from records.schema import DESK_TABLES

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    for table in DESK_TABLES:
        table.create(bind)
    # tickets from before the desk: normal priority, no SLA times (they predate them)
    op.execute("INSERT INTO ticket_desk (ticket, priority) SELECT number, 'normal' FROM tickets")


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(DESK_TABLES):
        table.drop(bind)
