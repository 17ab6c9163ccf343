"""`GET /widget.js`: the chat widget a shop adds to its pages with one script tag.

The file is served as written (no build step), read once and kept in memory. Its
URL carries no version, so caches keep it for an hour and then revalidate with the
ETag: a fix reaches every shop within the hour, and a revalidation costs a 304.
`Cross-Origin-Resource-Policy: cross-origin` lets shops whose pages send
`Cross-Origin-Embedder-Policy: require-corp` load it too.
"""

from __future__ import annotations

import functools
import hashlib

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from templates import WIDGET_FILE

CACHE_CONTROL = "public, max-age=3600, stale-while-revalidate=86400"
MEDIA_TYPE = "text/javascript; charset=utf-8"


@functools.cache
def _widget() -> tuple[bytes, str]:
    body = WIDGET_FILE.read_bytes()
    return body, '"' + hashlib.sha256(body).hexdigest()[:24] + '"'


async def widget_js(request: Request) -> Response:
    body, etag = await anyio.to_thread.run_sync(_widget)
    headers = {
        "Cache-Control": CACHE_CONTROL,
        "ETag": etag,
        "X-Content-Type-Options": "nosniff",
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    asked = request.headers.get("if-none-match", "")
    if etag in (tag.strip().removeprefix("W/") for tag in asked.split(",")):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=MEDIA_TYPE, headers=headers)


routes = [Route("/widget.js", widget_js, methods=["GET"])]
