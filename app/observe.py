"""Request ids and structured logs.

Every HTTP request gets an id: the caller's `X-Request-ID` when it is a plain
token (load balancers such as Heroku's set one), else a fresh one. It is kept in
a context variable for the request's life, answered in the `X-Request-ID`
header, sent on the calls this request makes to the shop's API (`outbound_hook`),
and put on every log line of the request by `ContextFilter`, together with the
conversation's short hash while a turn runs (`conversation.observe`).

`LOG_FORMAT=json` writes one JSON object a line: time (UTC, ISO 8601), level,
logger, message, request_id, conversation, and the traceback when there is one.
Messages are the same as in text: they never hold message texts, phone numbers,
emails or tokens (the code's log calls never pass them).

The middleware also counts webhook calls refused for a bad signature or token
(401/403 under `/webhooks/`), so no route has to.
"""

from __future__ import annotations

import json
import logging
import re
from contextvars import ContextVar
from datetime import UTC, datetime

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conversation import metrics
from conversation.observe import CONVERSATION
from conversation.tokens import UniqueTokens

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
HEADER = "X-Request-ID"
_GIVEN_ID = re.compile(r"[A-Za-z0-9._:-]{8,128}")
WEBHOOKS = "/webhooks/"


# fresh request ids: 32 hex digits, unique across processes, no random draw per request
# (`uuid4`: a draw from the OS and a UUID object, each request)
fresh_request_id = UniqueTokens(digits=16)


class RequestContext:
    """Pure ASGI middleware (it does not buffer the event streams' bodies)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v.decode("latin-1") for k, v in scope["headers"]
                      if k == b"x-request-id"), "")
        request_id = given if _GIVEN_ID.fullmatch(given) else fresh_request_id()
        path: str = scope["path"]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                _set_request_id(message, request_id)
                if message["status"] in (401, 403) and path.startswith(WEBHOOKS):
                    metrics.WEBHOOK_REFUSED.labels(path[len(WEBHOOKS):]).inc()
            await send(message)

        token = REQUEST_ID.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)


_HEADER_KEY = HEADER.lower().encode("latin-1")


def _set_request_id(message: Message, request_id: str) -> None:
    """The response's `X-Request-ID` (replacing one the app set): the raw header list,
    without building a `MutableHeaders` per response."""
    headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != _HEADER_KEY]
    headers.append((_HEADER_KEY, request_id.encode("latin-1")))
    message["headers"] = headers


async def outbound_hook(request: httpx.Request) -> None:
    """An httpx request hook: the current request id travels to the shop's API."""
    request_id = REQUEST_ID.get()
    if request_id is not None:
        request.headers[HEADER] = request_id


class ContextFilter(logging.Filter):
    """Puts `request_id` and `conversation` (a short hash) on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get() or "-"
        record.conversation = CONVERSATION.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in ("request_id", "conversation"):
            value = getattr(record, name, "-")
            if value != "-":
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(conversation)s]: %(message)s"


def formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def configure_logging(level: str, log_format: str) -> None:
    """The root logger: one stderr handler with the context filter."""
    handler = logging.StreamHandler()
    handler.addFilter(ContextFilter())
    handler.setFormatter(formatter(log_format))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
