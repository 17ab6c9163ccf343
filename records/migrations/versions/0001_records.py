"""The records: tickets with their messages, history and search index; staff; the
audit log; one-time facts.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from records.schema import (
    FIRST_TICKET,
    audit_entries,
    records_meta,
    staff,
    ticket_history,
    ticket_messages,
    tickets,
)

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TABLES = (tickets, ticket_messages, ticket_history, staff, audit_entries, records_meta)


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
