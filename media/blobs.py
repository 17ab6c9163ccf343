"""Where the bytes of shoppers' files live: a folder (`DATA_DIR/media`, the default)
or S3-compatible object storage (`MEDIA_STORE_URL=s3://bucket/prefix`: AWS S3,
MinIO, Cloudflare R2...).

    Blobs.put(key, data) / get(key) -> bytes / delete(key)

Keys are made by `MediaStore` (`YYYY/MM/<attachment id>.<ext>`), never from
anything a shopper sent. A missing blob raises `BlobMissing`; a store that cannot be
reached raises `BlobsUnavailable` (answered 503, like Redis and the database).

S3 goes through `obstore` (Rust's `object_store` crate, the client Apache Arrow
and Delta Lake use): one small wheel with no dependencies, native asyncio calls,
its own connection pool, timeouts and retries, and the credential chain of the AWS
SDKs when no key is set. aiobotocore would pull botocore (tens of MB of service
models) for three calls.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path, PurePosixPath
from typing import Any, Protocol
from urllib.parse import urlsplit

import anyio.to_thread

CONNECT_TIMEOUT = timedelta(seconds=5)
REQUEST_TIMEOUT = timedelta(seconds=60)


class BlobMissing(KeyError):
    """No blob under that key (removed, or never written)."""


class BlobsUnavailable(Exception):
    """The object store did not answer or refused the request."""


class Blobs(Protocol):
    async def put(self, key: str, data: bytes) -> None: ...

    async def get(self, key: str) -> bytes: ...

    async def delete(self, key: str) -> None: ...

    async def close(self) -> None: ...


def _checked(key: str) -> str:
    path = PurePosixPath(key)
    if path.is_absolute() or ".." in path.parts or not key or key != str(path):
        raise ValueError(f"not a blob key: {key!r}")
    return key


class LocalBlobs:
    """Files under one folder, written to a temporary name and renamed, so a reader
    never sees half a file and a crash leaves no torn one."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / _checked(key)

    async def put(self, key: str, data: bytes) -> None:
        path = self._path(key)

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
            with temporary.open("wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            temporary.replace(path)

        await anyio.to_thread.run_sync(write)

    async def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await anyio.to_thread.run_sync(path.read_bytes)
        except FileNotFoundError as exc:
            raise BlobMissing(key) from exc

    async def delete(self, key: str) -> None:
        await anyio.to_thread.run_sync(lambda: self._path(key).unlink(missing_ok=True))

    async def close(self) -> None:
        return None


class S3Blobs:
    """An S3-compatible bucket, under the URL's prefix."""

    def __init__(
        self, url: str, *, endpoint: str | None = None, region: str | None = None,
        access_key_id: str | None = None, secret_access_key: str | None = None,
    ) -> None:
        from obstore.store import S3Store

        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError("MEDIA_STORE_URL must look like s3://bucket/prefix")
        config: dict[str, Any] = {}
        if endpoint:
            config["endpoint"] = endpoint
        if region:
            config["region"] = region
        if access_key_id and secret_access_key:
            config["access_key_id"] = access_key_id
            config["secret_access_key"] = secret_access_key
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/") or None
        self._store = S3Store(
            self.bucket, prefix=self.prefix, config=config,  # type: ignore[arg-type]
            client_options={
                "allow_http": bool(endpoint and endpoint.startswith("http://")),
                "connect_timeout": CONNECT_TIMEOUT, "timeout": REQUEST_TIMEOUT},
        )

    async def put(self, key: str, data: bytes) -> None:
        import obstore

        try:
            await obstore.put_async(self._store, _checked(key), data)
        except (OSError, RuntimeError, obstore.exceptions.BaseError) as exc:
            raise BlobsUnavailable("the media store refused or did not answer") from exc

    async def get(self, key: str) -> bytes:
        import obstore

        try:
            result = await obstore.get_async(self._store, _checked(key))
            return bytes(await result.bytes_async())
        except FileNotFoundError as exc:
            raise BlobMissing(key) from exc
        except (OSError, RuntimeError, obstore.exceptions.BaseError) as exc:
            raise BlobsUnavailable("the media store refused or did not answer") from exc

    async def delete(self, key: str) -> None:
        import obstore

        try:
            await obstore.delete_async(self._store, _checked(key))
        except FileNotFoundError:
            return
        except (OSError, RuntimeError, obstore.exceptions.BaseError) as exc:
            raise BlobsUnavailable("the media store refused or did not answer") from exc

    async def close(self) -> None:
        return None
