"""The records: tickets with their messages, history and search index; staff; the
audit log; one-time facts.

The tables are defined here, as they were at this revision, not imported from
`records.schema`: a later change to the live schema must not change what this
migration creates (that change gets a migration of its own).

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

FIRST_TICKET = 1001  # ticket numbers start here (T-1001)
UTC_TIME = sa.DateTime(timezone=True)  # `records.schema.UTCTime` stores this

_metadata = sa.MetaData(naming_convention={
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

_TABLES = (
    sa.Table(
        "tickets", _metadata,
        sa.Column("number", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("origin", sa.String(64), nullable=True, unique=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("conversation", sa.String(200), nullable=False),
        sa.Column("locale", sa.String(8), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.Column("resolved_at", UTC_TIME),
        sa.Column("order_number", sa.String(64)),
        sa.Column("order_verified", sa.Boolean, nullable=False),
        sa.Column("order_snapshot", sa.JSON),
        sa.Column("issue", sa.Text),
        sa.Column("refusal", sa.String(200)),
        sa.Column("request", sa.JSON),
        sa.Column("contact_phone", sa.String(32)),
        sa.Column("contact_email", sa.String(320)),
        sa.Column("shopper_name", sa.String(200)),
        sa.Column("assignee", sa.String(320)),
        sa.Column("last_shopper_at", UTC_TIME),
        sa.Column("resolutions", sa.Integer, nullable=False),
        sa.Column("resolved_by", sa.String(320)),
        sa.Column("decision", sa.String(16)),
        sa.Column("decision_reason", sa.Text),
        sa.Column("decided_by", sa.String(320)),
        sa.Column("rating", sa.Integer),
        sa.Column("rated_at", UTC_TIME),
        sa.Column("extra", sa.JSON),
        sa.Index("ix_tickets_status_updated", "status", "updated_at"),
        sa.Index("ix_tickets_updated", "updated_at"),
        sa.Index("ix_tickets_order", "order_number"),
        sa.Index("ix_tickets_conversation", "conversation"),
        sa.Index("ix_tickets_contact_phone", "contact_phone"),
        sa.Index("ix_tickets_contact_email", "contact_email"),
        sqlite_autoincrement=True,
    ),
    sa.Table(
        "ticket_messages", _metadata,
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ticket", sa.Integer, sa.ForeignKey("tickets.number", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("part", sa.String(16), nullable=False),
        sa.Column("message_id", sa.String(40)),
        sa.Column("who", sa.String(16), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("extra", sa.JSON),
        sa.Index("ix_ticket_messages_ticket", "ticket", "part", "seq"),
    ),
    sa.Table(
        "ticket_history", _metadata,
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ticket", sa.Integer, sa.ForeignKey("tickets.number", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("from_status", sa.String(16)),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("by", sa.String(320)),
        sa.Index("ix_ticket_history_ticket", "ticket", "seq"),
    ),
    sa.Table(
        "staff", _metadata,
        sa.Column("email", sa.String(320), primary_key=True),
        sa.Column("display_name", sa.String(100)),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("epoch", sa.Integer, nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
    ),
    sa.Table(
        "audit_entries", _metadata,
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("order_number", sa.String(64), nullable=False),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.Column("who", sa.String(200), nullable=False),
        sa.Column("action", sa.String(200), nullable=False),
        sa.Column("what", sa.String(200), nullable=False),
        sa.Column("detail", sa.String(200), nullable=False),
        sa.Column("once", sa.String(200)),
        sa.UniqueConstraint("order_number", "once", name="uq_audit_entries_once"),
        sa.Index("ix_audit_entries_order", "order_number", "seq"),
    ),
    sa.Table(
        "records_meta", _metadata,
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    ),
)


def upgrade() -> None:
    bind = op.get_bind()
    for table in _TABLES:
        table.create(bind)
    if bind.dialect.name == "sqlite":
        op.execute(sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES ('tickets', :n)")
                   .bindparams(n=FIRST_TICKET - 1))
        op.execute("CREATE VIRTUAL TABLE ticket_search USING fts5("
                   "body, ticket UNINDEXED, tokenize = 'unicode61 remove_diacritics 2')")
    else:
        op.execute(sa.text("SELECT setval(pg_get_serial_sequence('tickets', 'number'), :n, true)")
                   .bindparams(n=FIRST_TICKET - 1))
        op.execute("CREATE TABLE ticket_search ("
                   " seq BIGSERIAL PRIMARY KEY,"
                   " ticket INTEGER NOT NULL REFERENCES tickets(number) ON DELETE CASCADE,"
                   " body TEXT NOT NULL,"
                   " body_tsv TSVECTOR GENERATED ALWAYS AS (to_tsvector('simple', body)) STORED)")
        op.execute("CREATE INDEX ix_ticket_search_tsv ON ticket_search USING GIN (body_tsv)")
        op.execute("CREATE INDEX ix_ticket_search_ticket ON ticket_search (ticket)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS ticket_search")
    for table in reversed(_TABLES):
        table.drop(op.get_bind())
