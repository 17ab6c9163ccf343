"""Every error a client can get, mapped to an HTTP answer in this one place.

The body is always `{"error": {"code": ..., "message": ...}}` (plus `details` for
validation), never a traceback. Messages say what to do; they never echo what the
client sent.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ExceptionHandler

from app.resources import REDIS_DOWN
from channels.web import InvalidMessage, InvalidToken, MalformedBody
from conversation.store import ConversationBusy, LockLost

log = logging.getLogger(__name__)


class BodyTooLarge(Exception):
    """The request body is over the route's limit."""


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    headers: Mapping[str, str] | None = None,
    details: list[dict[str, Any]] | None = None,
) -> JSONResponse:
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return JSONResponse({"error": error}, status_code=status, headers=headers)


async def _invalid_token(request: Request, exc: Exception) -> Response:
    return error_response(
        401, "invalid_token", str(exc), headers={"WWW-Authenticate": 'Bearer realm="chat"'}
    )


async def _malformed(request: Request, exc: Exception) -> Response:
    return error_response(400, "malformed_body", str(exc))


async def _invalid(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, InvalidMessage)
    return error_response(422, "invalid_request", str(exc), details=exc.details)


async def _too_large(request: Request, exc: Exception) -> Response:
    return error_response(413, "body_too_large", str(exc))


async def _busy(request: Request, exc: Exception) -> Response:
    """Another turn holds the conversation, or ours lost its lock before it saved
    (it outlasted the lock, or a Redis Cluster failover lost or repeated the lock's
    write): a retry of the same message is answered once, by the dedup."""
    return error_response(
        503,
        "busy",
        "the previous message of this conversation is still being answered; retry",
        headers={"Retry-After": "1"},
    )


async def _store_down(request: Request, exc: Exception) -> Response:
    log.warning("a store (Redis or the records database) was unreachable while answering %s: %s",
                request.url.path, type(exc).__name__)
    return error_response(
        503,
        "unavailable",
        "the chat is unavailable for a moment; please try again shortly",
        headers={"Retry-After": "5"},
    )


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, exc.detail, headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> Response:
    """Starlette re-raises after this answer, so the server logs the traceback once."""
    return error_response(500, "internal_error", "something went wrong on our side")


def exception_handlers() -> dict[Any, ExceptionHandler]:
    handlers: dict[Any, ExceptionHandler] = {
        InvalidToken: _invalid_token,
        MalformedBody: _malformed,
        InvalidMessage: _invalid,
        BodyTooLarge: _too_large,
        ConversationBusy: _busy,
        LockLost: _busy,
        HTTPException: _http,
        Exception: _unexpected,
    }
    for exc_type in REDIS_DOWN:
        handlers[exc_type] = _store_down
    return handlers
