"""The media store of one process, from the settings: `DATA_DIR/media` or the
S3-compatible bucket of `MEDIA_STORE_URL`, with the limits and retention set."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from app.settings import Settings
from media.blobs import Blobs, BlobsUnavailable, LocalBlobs, S3Blobs
from media.store import MediaStore
from records.db import Database, DatabaseUnavailable

log = logging.getLogger(__name__)

MEDIA_FOLDER = "media"
SWEEP_EVERY_S = 3600


def open_blobs(settings: Settings) -> Blobs:
    if settings.media_store_url:
        secret = settings.media_s3_secret_access_key
        blobs = S3Blobs(
            settings.media_store_url, endpoint=settings.media_s3_endpoint,
            region=settings.media_s3_region,
            access_key_id=settings.media_s3_access_key_id,
            secret_access_key=secret.get_secret_value() if secret else None)
        log.info("media store: s3 bucket %s", blobs.bucket)
        return blobs
    return LocalBlobs(settings.data_dir / MEDIA_FOLDER)


def media_store(settings: Settings, db: Database) -> MediaStore:
    return MediaStore(db, open_blobs(settings), max_bytes=settings.media_max_bytes,
                      retention=timedelta(days=settings.media_retention_days))


async def keep_sweeping(media: MediaStore) -> None:
    """Retention, hourly, in every web process (the sweep is idempotent: two
    processes at once delete the same files once each, harmlessly)."""
    while True:
        await asyncio.sleep(SWEEP_EVERY_S)
        with contextlib.suppress(DatabaseUnavailable, BlobsUnavailable):
            removed = await media.remove_expired()
            if removed:
                log.info("media retention: %d files removed", removed)
