"""The media store on both back-ends: a folder, and a local S3-compatible server."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from conversation.tickets import Ticket, TicketStore
from media.blobs import BlobMissing, LocalBlobs, S3Blobs
from media.store import MediaRefused, MediaStore, attachment_id
from records.db import Database
from tests.media_files import HTML_AS_JPEG, LATITUDE, PHOTO_JPEG, exif_tiff, jpeg_with, png
from tests.s3 import S3

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=["local", "s3"])
async def store(
    request: pytest.FixtureRequest, db: Database, tmp_path: Path
) -> AsyncIterator[tuple[MediaStore, Clock]]:
    clock = Clock()
    if request.param == "local":
        blobs: LocalBlobs | S3Blobs = LocalBlobs(tmp_path / "media")
    else:
        s3: S3 = request.getfixturevalue("s3_server")
        blobs = S3Blobs(f"s3://{s3.new_bucket()}/shop-a", endpoint=s3.endpoint,
                        region=s3.region, access_key_id=s3.access_key_id,
                        secret_access_key=s3.secret_access_key)
    yield MediaStore(db, blobs, max_bytes=64 * 1024, clock=clock), clock


async def _ticket(tickets: TicketStore, conversation: str = "web:abc") -> Ticket:
    return await tickets.create(Ticket(id="", kind="handoff", channel="web",
                                       conversation=conversation, created_at=NOW,
                                       updated_at=NOW))


async def test_a_photo_is_kept_cleaned_and_read_back(
    store: tuple[MediaStore, Clock], tickets: TicketStore
) -> None:
    media, _ = store
    sent = jpeg_with(exif_tiff())
    kept = await media.accept(sent, conversation="web:abc", channel="web", filename="IMG.jpg")
    assert kept.content_type == "image/jpeg" and kept.filename == "IMG.jpg"
    back = await media.read(kept)
    assert LATITUDE not in back and len(back) == len(sent)
    assert kept.sha256 == hashlib.sha256(back).hexdigest() and kept.size == len(back)

    plain = await media.accept(png(), conversation="web:abc", channel="web")
    assert await media.read(plain) == png()  # no location: byte for byte
    ticket = await _ticket(tickets)
    attached = await media.attach([kept.id, plain.id], conversation="web:abc",
                                  ticket=ticket.number, line="m-1")
    assert [a.id for a in attached] == [kept.id, plain.id]
    assert {a.id for a in await media.for_ticket(ticket.number)} == {kept.id, plain.id}


async def test_too_large_and_disguised_files_are_refused_and_nothing_kept(
    store: tuple[MediaStore, Clock], tmp_path: Path
) -> None:
    media, _ = store
    with pytest.raises(MediaRefused) as refused:
        await media.accept(PHOTO_JPEG + b"\x00" * (64 * 1024), conversation="web:a",
                           channel="web")
    assert refused.value.why == "too_large"
    with pytest.raises(MediaRefused) as refused:
        await media.accept(HTML_AS_JPEG, conversation="web:a", channel="web",
                           filename="photo.jpg")
    assert refused.value.why == "unsupported"
    assert await media.erase_conversation("web:a") == 0
    if isinstance(media.blobs, LocalBlobs):
        assert not (tmp_path / "media").exists()


async def test_the_same_provider_file_twice_is_kept_once(
    store: tuple[MediaStore, Clock],
) -> None:
    media, _ = store
    ident = attachment_id("whatsapp:+919812345678", "MM" + "a" * 32, 0)
    first = await media.accept(PHOTO_JPEG, conversation="whatsapp:+919812345678",
                               channel="whatsapp", attachment=ident)
    again = await media.accept(PHOTO_JPEG, conversation="whatsapp:+919812345678",
                               channel="whatsapp", attachment=ident)
    assert first.id == again.id == ident
    assert (await media.many([ident]))[ident].storage_key == first.storage_key


async def test_another_conversations_upload_cannot_be_attached(
    store: tuple[MediaStore, Clock], tickets: TicketStore
) -> None:
    media, _ = store
    theirs = await media.accept(PHOTO_JPEG, conversation="web:them", channel="web")
    ticket = await _ticket(tickets, "web:me")
    assert await media.owned(theirs.id, "web:me") is None
    assert await media.attach([theirs.id], conversation="web:me", ticket=ticket.number,
                              line="m-1") == []


async def test_retention_removes_bytes_keeps_a_trace_and_sweeps_strays(
    store: tuple[MediaStore, Clock], tickets: TicketStore
) -> None:
    media, clock = store
    ticket = await _ticket(tickets)
    on_ticket = await media.accept(PHOTO_JPEG, conversation="web:abc", channel="web")
    await media.attach([on_ticket.id], conversation="web:abc", ticket=ticket.number,
                       line="m-1")
    stray = await media.accept(png(), conversation="web:abc", channel="web")

    clock.now = NOW + timedelta(hours=25)
    assert await media.remove_expired() == 1  # the upload no message ever used
    assert await media.get(stray.id) is None
    with pytest.raises(BlobMissing):
        await media.blobs.get(stray.storage_key)
    assert await media.read(on_ticket) == PHOTO_JPEG

    clock.now = NOW + media.retention + timedelta(seconds=1)
    assert await media.remove_expired() == 1
    gone = await media.get(on_ticket.id)
    assert gone is not None and gone.removed_at == clock.now
    with pytest.raises(BlobMissing):
        await media.read(gone)
    with pytest.raises(BlobMissing):
        await media.blobs.get(on_ticket.storage_key)
    assert await media.remove_expired() == 0


async def test_the_privacy_erase_removes_a_conversations_files_and_rows(
    store: tuple[MediaStore, Clock], tickets: TicketStore
) -> None:
    media, _ = store
    mine = [await media.accept(data, conversation="web:abc", channel="web")
            for data in (PHOTO_JPEG, png())]
    other = await media.accept(PHOTO_JPEG, conversation="web:other", channel="web")
    assert await media.erase_conversation("web:abc") == 2
    assert await media.many([a.id for a in mine]) == {}
    for attachment in mine:
        with pytest.raises(BlobMissing):
            await media.blobs.get(attachment.storage_key)
    assert await media.read(other) == PHOTO_JPEG


async def test_s3_keys_live_under_the_urls_prefix(db: Database, s3_server: S3) -> None:
    bucket = s3_server.new_bucket()
    media = MediaStore(db, S3Blobs(f"s3://{bucket}/shop-a/media", endpoint=s3_server.endpoint,
                                   region=s3_server.region,
                                   access_key_id=s3_server.access_key_id,
                                   secret_access_key=s3_server.secret_access_key))
    kept = await media.accept(PHOTO_JPEG, conversation="web:abc", channel="web")
    assert s3_server.keys(bucket) == [f"shop-a/media/{kept.storage_key}"]
