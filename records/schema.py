"""The tables, in SQLAlchemy Core. Alembic's migrations create them; the stores
query them. Times are timezone-aware UTC.

- `tickets`: one row a ticket; `number` is the ticket's id without its `T-` (T-1001
  is 1001). `origin` is unique: a hash of the conversation and the message that
  opened it, so a redelivered message or a retried turn cannot open a second one.
  `version` is bumped by every change (compare-and-set: two agents at once both land).
- `ticket_messages`: the ticket's transcript (before it opened, `part='transcript'`)
  and its log (shopper, staff, notes, system lines; `part='log'`), in order.
- `ticket_history`: every status change, with who and when.
- `ticket_search`: the words staff search (issue, transcript, log, shopper's name,
  email, phone, order number): an FTS5 table on SQLite, one row per piece of text
  (migration 0001); on PostgreSQL one row per ticket, its texts one a line, with a
  generated `tsvector` and a GIN index (migration 0004), so all a search's words are
  looked up on the same row.
- `staff`: staff accounts and roles (the password is an Argon2id hash).
- `audit_entries`: the per-order audit log; `(order_number, once)` unique, so a
  change the shop made once is logged once however often it is retried.
- `records_meta`: one-time facts (the first admin was made; the Redis import ran).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

metadata = MetaData(naming_convention={
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})



class UTCTime(TypeDecorator[datetime]):
    """A moment in UTC, read back timezone-aware on both engines (SQLite keeps no
    zone: it stores the UTC wall time, which also sorts correctly as text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("a naive datetime cannot be stored as a moment")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UTC_TIME = UTCTime()
FIRST_TICKET = 1001  # ticket numbers start here (T-1001), as they always have

tickets = Table(
    "tickets", metadata,
    Column("number", Integer, primary_key=True, autoincrement=True),
    Column("origin", String(64), nullable=True, unique=True),
    Column("version", Integer, nullable=False, default=1),
    Column("kind", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("conversation", String(200), nullable=False),
    Column("locale", String(8), nullable=False),
    Column("created_at", UTC_TIME, nullable=False),
    Column("updated_at", UTC_TIME, nullable=False),
    Column("resolved_at", UTC_TIME),
    Column("order_number", String(64)),
    Column("order_verified", Boolean, nullable=False, default=False),
    Column("order_snapshot", JSON),
    Column("issue", Text),
    Column("refusal", String(200)),
    Column("request", JSON),
    Column("contact_phone", String(32)),
    Column("contact_email", String(320)),
    Column("shopper_name", String(200)),
    Column("assignee", String(320)),
    Column("last_shopper_at", UTC_TIME),
    Column("resolutions", Integer, nullable=False, default=0),
    Column("resolved_by", String(320)),
    Column("decision", String(16)),
    Column("decision_reason", Text),
    Column("decided_by", String(320)),
    Column("rating", Integer),
    Column("rated_at", UTC_TIME),
    Column("extra", JSON),  # fields added by later versions of the Ticket model
    Index("ix_tickets_status_updated", "status", "updated_at"),
    Index("ix_tickets_updated", "updated_at"),
    Index("ix_tickets_order", "order_number"),
    Index("ix_tickets_conversation", "conversation"),
    Index("ix_tickets_contact_phone", "contact_phone"),
    Index("ix_tickets_contact_email", "contact_email"),
    sqlite_autoincrement=True,  # a number once given is never given again
)

ticket_messages = Table(
    "ticket_messages", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("ticket", Integer, ForeignKey("tickets.number", ondelete="CASCADE"),
           nullable=False),
    Column("part", String(16), nullable=False),  # transcript | log
    Column("message_id", String(40)),
    Column("who", String(16), nullable=False),
    Column("text", Text, nullable=False),
    Column("at", String(40), nullable=False),  # as written (ISO 8601), shown as is
    Column("extra", JSON),  # author, outbox id, the reply's catalogue key
    Index("ix_ticket_messages_ticket", "ticket", "part", "seq"),
)

ticket_history = Table(
    "ticket_history", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("ticket", Integer, ForeignKey("tickets.number", ondelete="CASCADE"),
           nullable=False),
    Column("at", UTC_TIME, nullable=False),
    Column("event", String(32), nullable=False),
    Column("from_status", String(16)),
    Column("to_status", String(16), nullable=False),
    Column("by", String(320)),
    Index("ix_ticket_history_ticket", "ticket", "seq"),
)

staff = Table(
    "staff", metadata,
    Column("email", String(320), primary_key=True),
    Column("display_name", String(100)),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("epoch", Integer, nullable=False, default=1),
    Column("created_at", UTC_TIME, nullable=False),
)

audit_entries = Table(
    "audit_entries", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("order_number", String(64), nullable=False),
    Column("at", UTC_TIME, nullable=False),
    Column("who", String(200), nullable=False),
    Column("action", String(200), nullable=False),
    Column("what", String(200), nullable=False),
    Column("detail", String(200), nullable=False, default=""),
    Column("once", String(200)),
    UniqueConstraint("order_number", "once", name="uq_audit_entries_once"),
    Index("ix_audit_entries_order", "order_number", "seq"),
)

records_meta = Table(
    "records_meta", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# ---- the support desk (migration 0002) ----------------------------------------------
# New tables rather than new columns on `tickets`. Each migration defines the tables
# it creates as they were at its revision (it does not import this module), so a
# change here needs a migration of its own; tests/records/test_migrations.py checks
# that the migrated database and this module agree.

ticket_desk = Table(
    "ticket_desk", metadata,
    Column("ticket", Integer, ForeignKey("tickets.number", ondelete="CASCADE"),
           primary_key=True),
    Column("priority", String(8), nullable=False, default="normal"),
    Column("priority_by", String(320)),  # None: set by the merchant's rules
    Column("team", String(64)),
    Column("first_response_at", UTC_TIME),
    Column("first_response_by", String(320)),
    Column("first_response_due", UTC_TIME),
    Column("resolution_due", UTC_TIME),
    Index("ix_ticket_desk_first_response_due", "first_response_due"),
    Index("ix_ticket_desk_resolution_due", "resolution_due"),
    Index("ix_ticket_desk_team", "team"),
)

ticket_tags = Table(
    "ticket_tags", metadata,
    Column("ticket", Integer, ForeignKey("tickets.number", ondelete="CASCADE"),
           primary_key=True),
    Column("tag", String(64), primary_key=True),
    Column("by", String(320)),  # None: the bot
    Column("at", UTC_TIME, nullable=False),
    Index("ix_ticket_tags_tag", "tag"),
)

staff_desk = Table(
    "staff_desk", metadata,
    Column("email", String(320), primary_key=True),
    Column("team", String(64)),
    Column("available", Boolean, nullable=False, default=False),
    Column("max_open", Integer, nullable=False, default=10),
    Column("disabled", Boolean, nullable=False, default=False),
)

conversation_days = Table(
    "conversation_days", metadata,
    Column("day", String(10), primary_key=True),  # the shop's local date, YYYY-MM-DD
    Column("conversation", String(64), primary_key=True),  # a keyed hash, never the id
    Column("channel", String(32), nullable=False),
    Column("ticketed", Boolean, nullable=False, default=False),
)

privacy_requests = Table(
    "privacy_requests", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("at", UTC_TIME, nullable=False),
    Column("by", String(320), nullable=False),  # a staff email, or "cli"
    Column("action", String(16), nullable=False),  # export | erase
    Column("identity_kind", String(16), nullable=False),  # email | phone | conversation
    Column("identity_hash", String(64), nullable=False),
    Column("found", JSON),  # counts of what was found / erased, never the data
)

DESK_TABLES = (ticket_desk, ticket_tags, staff_desk, conversation_days, privacy_requests)
attachments = Table(  # migration 0003: shoppers' and staff's files (bytes in `media.blobs`)
    "attachments", metadata,
    Column("id", String(40), primary_key=True),
    Column("conversation", String(200), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("who", String(16), nullable=False),  # shopper | staff
    Column("source", String(80)),  # the provider's message id it came with
    Column("ticket", Integer, ForeignKey("tickets.number", ondelete="SET NULL")),
    Column("line", String(40)),  # the ticket's log line (or transcript line) it belongs to
    Column("content_type", String(64), nullable=False),
    Column("size", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("storage_key", String(200), nullable=False),
    Column("filename", String(200)),
    Column("created_at", UTC_TIME, nullable=False),
    Column("removed_at", UTC_TIME),  # bytes deleted (retention); the row says so
    Index("ix_attachments_ticket", "ticket", "created_at"),
    Index("ix_attachments_conversation", "conversation"),
    Index("ix_attachments_created", "created_at"),
)
