"""The records of files: a row per file in SQL (`attachments`), the bytes in
`Blobs`, the two kept in step.

    accept(data, ...)          -> Attachment  (or MediaRefused: too large, not a kind
                                  we take); location metadata removed first
    attach(ids, ticket, line)  put files on a ticket's log line
    for_ticket / many / get    what staff see; read(attachment) -> the bytes
    remove_expired(now)        retention: `MEDIA_RETENTION_DAYS` after it arrived a
                               file's bytes go and its row says when; a file that
                               never reached a ticket goes after a day
    erase(conversations, tickets)
                               the privacy erase: every file of a shopper's
                               conversations and tickets, its bytes and its rows

Exactly once: a file that came with a provider's message has an id made from the
conversation, the message id and its position (`attachment_id`), so a redelivered
webhook stores nothing twice; a web upload gets a random id, which only its own
conversation may use. The bytes are written before the row, so a row never points
at nothing; a crash between the two leaves a blob no row names, under a key no one
else will use, overwritten by the retry.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Row, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from records.db import Database
from records.schema import attachments

from .blobs import BlobMissing, Blobs
from .kinds import KINDS, Kind, sniff
from .location import without_location

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_RETENTION = timedelta(days=180)
UNATTACHED_FOR = timedelta(days=1)
MAX_FILENAME_CHARS = 200
SWEEP_BATCH = 200

Why = Literal["too_large", "unsupported", "unavailable"]


class MediaRefused(Exception):
    """The file is not taken; `why` picks what the shopper is told."""

    def __init__(self, why: Why) -> None:
        super().__init__(why)
        self.why: Why = why


@dataclass(frozen=True, slots=True)
class Attachment:
    id: str
    conversation: str
    channel: str
    who: str
    content_type: str
    size: int
    sha256: str
    storage_key: str
    created_at: datetime
    filename: str | None = None
    ticket: int | None = None
    line: str | None = None
    removed_at: datetime | None = None

    @property
    def kind(self) -> Kind:
        return KINDS[self.content_type]

    @property
    def download_name(self) -> str:
        """A name made by us (never the sender's): safe in any header."""
        stem = "photo" if self.kind.is_image else "file"
        return f"{stem}-{self.id[:8]}.{self.kind.extension}"

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "content_type": self.content_type, "size": self.size,
                "sha256": self.sha256, "filename": self.filename, "who": self.who,
                "image": self.kind.is_image, "inline": self.kind.shown_inline,
                "created_at": self.created_at.isoformat(),
                "removed": self.removed_at is not None}


def attachment_id(conversation: str, source: str, index: int) -> str:
    """The id of the `index`-th file of a provider's message (the same on a retry)."""
    return hashlib.sha256(f"{conversation}\x1f{source}\x1f{index}".encode()).hexdigest()[:32]


def new_attachment_id() -> str:
    return secrets.token_urlsafe(24)


def _attachment(row: Row[Any]) -> Attachment:
    m = row._mapping
    return Attachment(
        id=m["id"], conversation=m["conversation"], channel=m["channel"], who=m["who"],
        content_type=m["content_type"], size=m["size"], sha256=m["sha256"],
        storage_key=m["storage_key"], created_at=m["created_at"], filename=m["filename"],
        ticket=m["ticket"], line=m["line"], removed_at=m["removed_at"])


class MediaStore:
    def __init__(
        self, db: Database, blobs: Blobs, *, max_bytes: int = DEFAULT_MAX_BYTES,
        retention: timedelta = DEFAULT_RETENTION,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._db = db
        self.blobs = blobs
        self.max_bytes = max_bytes
        self.retention = retention
        self._clock = clock

    def check(self, data: bytes) -> Kind:
        """The file's kind, or MediaRefused: over the limit, or not a kind we take."""
        if len(data) > self.max_bytes:
            raise MediaRefused("too_large")
        kind = sniff(data)
        if kind is None:
            raise MediaRefused("unsupported")
        return kind

    async def accept(
        self, data: bytes, *, conversation: str, channel: str, who: str = "shopper",
        source: str | None = None, filename: str | None = None,
        attachment: str | None = None,
    ) -> Attachment:
        """Check, clean and keep one file; the same `attachment` id twice keeps it once."""
        kind = self.check(data)
        if attachment is not None and (found := await self.get(attachment)) is not None:
            return found
        clean = without_location(data, kind)
        now = self._clock()
        ident = attachment or new_attachment_id()
        key = f"{now:%Y/%m}/{ident}.{kind.extension}"
        await self.blobs.put(key, clean)
        values = {
            "id": ident, "conversation": conversation, "channel": channel, "who": who,
            "source": source, "content_type": kind.content_type, "size": len(clean),
            "sha256": hashlib.sha256(clean).hexdigest(), "storage_key": key,
            "filename": _filename(filename), "created_at": now,
        }
        try:
            async with self._db.begin() as conn:
                await conn.execute(insert(attachments).values(values))
        except IntegrityError:  # the same file, stored a moment ago by a retry
            found = await self.get(ident)
            if found is None:
                raise
            return found
        return _attachment_from(values)

    async def attach(
        self, ids: Iterable[str], *, conversation: str, ticket: int, line: str
    ) -> list[Attachment]:
        """Put the conversation's files `ids` on a ticket's line; ids of another
        conversation (or unknown ones) are left out. Returns those attached."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        async with self._db.begin() as conn:
            await conn.execute(
                update(attachments)
                .where(attachments.c.id.in_(wanted),
                       attachments.c.conversation == conversation,
                       attachments.c.removed_at.is_(None))
                .values(ticket=ticket, line=line))
            rows = (await conn.execute(select(attachments).where(
                attachments.c.id.in_(wanted), attachments.c.ticket == ticket))).all()
        found = {row.id: _attachment(row) for row in rows}
        return [found[i] for i in wanted if i in found]

    async def get(self, ident: str) -> Attachment | None:
        async with self._db.connect() as conn:
            row = (await conn.execute(
                select(attachments).where(attachments.c.id == ident))).first()
        return _attachment(row) if row else None

    async def owned(self, ident: str, conversation: str) -> Attachment | None:
        """The file if this conversation sent it and it is still there."""
        found = await self.get(ident)
        if found is None or found.conversation != conversation or found.removed_at:
            return None
        return found

    async def many(self, ids: Iterable[str]) -> dict[str, Attachment]:
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return {}
        async with self._db.connect() as conn:
            rows = (await conn.execute(
                select(attachments).where(attachments.c.id.in_(wanted)))).all()
        return {row.id: _attachment(row) for row in rows}

    async def for_ticket(self, ticket: int) -> list[Attachment]:
        async with self._db.connect() as conn:
            rows = (await conn.execute(
                select(attachments).where(attachments.c.ticket == ticket)
                .order_by(attachments.c.created_at, attachments.c.id))).all()
        return [_attachment(row) for row in rows]

    async def read(self, attachment: Attachment) -> bytes:
        """The bytes as staff get them; BlobMissing once retention removed them."""
        if attachment.removed_at is not None:
            raise BlobMissing(attachment.id)
        return await self.blobs.get(attachment.storage_key)

    # ---- forgetting ------------------------------------------------------------

    async def remove_expired(self, now: datetime | None = None) -> int:
        """Retention: delete the bytes of files older than `retention` (their rows
        stay, marked removed, so the ticket says a file was there), and files that
        never reached a ticket within a day (bytes and rows). Returns how many."""
        now = now or self._clock()
        removed = 0
        while True:
            async with self._db.connect() as conn:
                old = (await conn.execute(
                    select(attachments.c.id, attachments.c.storage_key, attachments.c.ticket)
                    .where(attachments.c.removed_at.is_(None),
                           (attachments.c.created_at < now - self.retention)
                           | (attachments.c.ticket.is_(None)
                              & (attachments.c.created_at < now - UNATTACHED_FOR)))
                    .limit(SWEEP_BATCH))).all()
            if not old:
                return removed
            for row in old:
                await self.blobs.delete(row.storage_key)
            kept = [row.id for row in old if row.ticket is not None]
            gone = [row.id for row in old if row.ticket is None]
            async with self._db.begin() as conn:
                if kept:
                    await conn.execute(update(attachments).where(attachments.c.id.in_(kept))
                                       .values(removed_at=now))
                if gone:
                    await conn.execute(delete(attachments).where(attachments.c.id.in_(gone)))
            removed += len(old)

    async def erase_conversation(self, conversation: str) -> int:
        """Every file of the conversation, bytes and rows. Returns how many."""
        return await self.erase(conversations=[conversation])

    async def erase(self, *, conversations: Iterable[str] = (),
                    tickets: Iterable[int] = ()) -> int:
        """The privacy erase: every file of these conversations or on these tickets,
        bytes first, then rows (a failure half-way leaves rows to find again, never
        bytes no row names). Returns how many files there were."""
        names, numbers = sorted(set(conversations)), sorted(set(tickets))
        if not names and not numbers:
            return 0
        whose = (attachments.c.conversation.in_(names) | attachments.c.ticket.in_(numbers))
        async with self._db.connect() as conn:
            rows = (await conn.execute(
                select(attachments.c.id, attachments.c.storage_key).where(whose))).all()
        for row in rows:
            await self.blobs.delete(row.storage_key)
        if rows:
            async with self._db.begin() as conn:
                await conn.execute(
                    delete(attachments).where(attachments.c.id.in_([r.id for r in rows])))
        return len(rows)

    async def of(self, *, conversations: Iterable[str] = (),
                 tickets: Iterable[int] = ()) -> list[Attachment]:
        """The files of these conversations or on these tickets (a privacy export)."""
        names, numbers = sorted(set(conversations)), sorted(set(tickets))
        if not names and not numbers:
            return []
        async with self._db.connect() as conn:
            rows = (await conn.execute(select(attachments).where(
                attachments.c.conversation.in_(names) | attachments.c.ticket.in_(numbers))
                .order_by(attachments.c.created_at, attachments.c.id))).all()
        return [_attachment(row) for row in rows]


def _filename(name: str | None) -> str | None:
    """The sender's file name, for staff to read (escaped on pages, never used as a
    path or in a header): its last part, without control characters."""
    if not name:
        return None
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:MAX_FILENAME_CHARS] or None


def _attachment_from(values: dict[str, Any]) -> Attachment:
    return Attachment(**{k: v for k, v in values.items() if k != "source"})
