"""Reading a request body with a size limit, before anything parses it."""

from __future__ import annotations

from starlette.requests import Request

from app.errors import BodyTooLarge


async def read_limited(request: Request, limit: int) -> bytes:
    """The body, refused early by its declared length and again while streaming,
    since a client may send no `Content-Length` (chunked) or a false one."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"the body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
