"""`python -m app media sweep|erase` as an operator runs it, on the run's records
database and a `DATA_DIR` of its own."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_cli import err, out, run_app

from conversation.tickets import Ticket, TicketStore
from media.blobs import BlobMissing, LocalBlobs
from media.store import MediaStore
from records.db import Database
from tests.media_files import PHOTO_JPEG, png


@pytest.fixture
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="ohb-media-") as folder:
        yield Path(folder)


async def test_sweep_applies_the_retention_and_erase_removes_a_conversations_files(
    db: Database, tickets: TicketStore, workdir: Path
) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=200)
    old = MediaStore(db, LocalBlobs(workdir / "data" / "media"), clock=lambda: long_ago)
    ticket = await tickets.create(Ticket(id="", kind="handoff", channel="web",
                                         conversation="web:old", created_at=long_ago,
                                         updated_at=long_ago))
    kept_long = await old.accept(PHOTO_JPEG, conversation="web:old", channel="web")
    await old.attach([kept_long.id], conversation="web:old", ticket=ticket.number, line="m-1")
    media = MediaStore(db, LocalBlobs(workdir / "data" / "media"))
    recent = await media.accept(png(), conversation="web:new", channel="web")

    swept = await run_app("media", "sweep", redis_url=None, workdir=workdir)
    assert swept.returncode == 0, err(swept)
    assert "1 files removed (retention 180 days)" in out(swept)
    with pytest.raises(BlobMissing):
        await media.read(await media.get(kept_long.id))  # type: ignore[arg-type]
    assert await media.read(recent) == png()

    erased = await run_app("media", "erase", "web:new", redis_url=None, workdir=workdir)
    assert erased.returncode == 0, err(erased)
    assert "1 files of that conversation removed" in out(erased)
    assert await media.get(recent.id) is None
