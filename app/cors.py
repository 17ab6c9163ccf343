"""Cross-origin access to the chat API for the shop's own pages (`WEB_ALLOWED_ORIGINS`).

The widget runs on the shop's pages and calls the bot's origin: `POST` with JSON and
an `Authorization` header, and the event stream (`GET`, `Authorization`,
`Last-Event-ID`). Each of those is preflighted. This middleware answers only for
`/api/chat/` and only for the listed origins:

- an allowed origin's preflight gets 204 with exactly what the widget needs;
- an allowed origin's request gets `Access-Control-Allow-Origin: <origin>` and may
  read `Retry-After` (the widget waits that long before retrying);
- any other origin gets no CORS header at all (its preflight: 403 with the API's
  error JSON), so the browser keeps the answer from the page.

No cookies are involved (the token travels in a header), so credentials are never
allowed. Starlette's `CORSMiddleware` would also do, but it adds its
`Access-Control-Allow-Methods`/`-Headers` to a refused origin's preflight and covers
every path; this is the narrower rule in a few lines.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import error_response

PATH_PREFIX = "/api/chat/"
METHODS = frozenset({"GET", "POST"})
HEADERS = frozenset({"authorization", "content-type", "last-event-id"})
EXPOSED = "Retry-After"
PREFLIGHT_MAX_AGE_S = 600


class ChatCORS:
    def __init__(self, app: ASGIApp, origins: Iterable[str]) -> None:
        self.app = app
        self.origins = frozenset(origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PATH_PREFIX):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        allowed = origin is not None and origin in self.origins
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await self._preflight(headers, origin if allowed else None)(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                out.add_vary_header("Origin")
                if allowed and origin:
                    out["Access-Control-Allow-Origin"] = origin
                    out["Access-Control-Expose-Headers"] = EXPOSED
            await send(message)

        await self.app(scope, receive, send_with_cors)

    def _preflight(self, headers: Headers, origin: str | None) -> ASGIApp:
        method = headers["access-control-request-method"]
        listed = headers.get("access-control-request-headers", "")
        asked = {h.strip().lower() for h in listed.split(",")} - {""}
        if origin is None:
            return error_response(403, "origin_not_allowed", "this origin may not use the chat API")
        if method not in METHODS or not asked <= HEADERS:
            return error_response(
                403, "preflight_refused", "the chat API takes GET and POST with its own headers"
            )
        return Response(
            status_code=204,
            headers={
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": ", ".join(sorted(METHODS)),
                "Access-Control-Allow-Headers": ", ".join(sorted(HEADERS)),
                "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_S),
                "Vary": "Origin",
            },
        )
