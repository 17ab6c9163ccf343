"""The one gate every inbox route goes through, and the answers to what can go wrong.

`api_route` and `page_route` wrap a handler `(request, staff) -> response`: nobody
reaches a handler without a live staff session (the API answers 401, a page sends
the browser to the login page), no POST reaches one without the session's CSRF
token (403), and admin-only routes refuse agents (403). Errors of the staff desk
and the accounts are mapped here, to the app's usual `{"error": ...}` body.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app.errors import error_response
from app.inbox.accounts import AccountError, AccountExists, NoSuchAccount, WeakPassword
from app.inbox.auth import CSRF_FIELD, CSRF_HEADER, CsrfFailed, Staff, check_csrf, current_staff
from app.inbox.readable import Readable
from app.resources import Resources
from app.routes.body import read_limited
from channels import json_body
from conversation.paging import BadCursor
from conversation.staff import AlreadyDecided, Desk, NotARequest, ShopDeclined, ShopDown
from conversation.tickets import TicketNotFound

Handler = Callable[[Request, Staff], Awaitable[Response]]
SAFE_METHODS = frozenset({"GET", "HEAD"})
MAX_BODY_BYTES = 32 * 1024


def readable(request: Request) -> Readable:
    resources: Resources = request.state.resources
    return Readable(resources.catalogue, resources.settings.policy())


def desk(request: Request) -> Desk:
    resources: Resources = request.state.resources
    return Desk(resources.engine, resources.redis, prefix=resources.settings.redis_prefix)


def _failure(exc: Exception) -> Response | None:
    match exc:
        case TicketNotFound():
            return error_response(404, "not_found", "no such ticket")
        case NotARequest():
            return error_response(409, "not_a_request", "this ticket is not an action request")
        case AlreadyDecided():
            return error_response(409, "already_decided", "this request was already decided")
        case ShopDeclined():
            return error_response(409, "shop_refused",
                                  "the shop's system refused the change; nothing was changed")
        case ShopDown():
            return error_response(503, "shop_unavailable",
                                  "the shop's system did not answer; try again",
                                  headers={"Retry-After": "5"})
        case AccountExists():
            return error_response(409, "account_exists", "that account exists already")
        case NoSuchAccount():
            return error_response(404, "not_found", "no such account")
        case WeakPassword() | AccountError():
            return error_response(422, "invalid_request", str(exc))
        case ValidationError():
            details = [{"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]}
                       for e in exc.errors()]
            return error_response(422, "invalid_request", "the body does not fit",
                                  details=details)
        case BadCursor():
            return error_response(400, "bad_cursor", str(exc))
        case ValueError():
            return error_response(422, "invalid_request", str(exc))
    return None


def api_route(path: str, handler: Handler, *, methods: list[str], admin: bool = False) -> Route:
    async def endpoint(request: Request) -> Response:
        staff = await current_staff(request)
        if staff is None:
            return error_response(401, "unauthenticated", "log in to the inbox first",
                                  headers={"WWW-Authenticate": 'Cookie realm="inbox"'})
        if request.method not in SAFE_METHODS:
            try:
                check_csrf(staff, request.headers.get(CSRF_HEADER))
            except CsrfFailed:
                return error_response(403, "csrf_failed",
                                      "send the session's token in X-CSRF-Token")
        if admin and not staff.is_admin:
            return error_response(403, "forbidden", "only an admin can do this")
        try:
            return await handler(request, staff)
        except (TicketNotFound, ValueError, AccountError, NotARequest, AlreadyDecided,
                ShopDeclined, ShopDown) as exc:
            answer = _failure(exc)
            assert answer is not None
            return answer

    return Route(path, endpoint, methods=methods)


def page_route(path: str, handler: Handler, *, methods: list[str]) -> Route:
    async def endpoint(request: Request) -> Response:
        staff = await current_staff(request)
        if staff is None:
            if request.method in SAFE_METHODS:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/inbox/login?next={quote(target, safe='')}", 303)
            return error_response(401, "unauthenticated", "log in to the inbox first")
        if request.method not in SAFE_METHODS:
            form = await request.form(max_files=0, max_fields=20, max_part_size=64 * 1024)
            given = form.get(CSRF_FIELD)
            try:
                check_csrf(staff, given if isinstance(given, str) else None)
            except CsrfFailed:
                return error_response(403, "csrf_failed",
                                      "the form has expired; reload the page and try again")
        return await handler(request, staff)

    return Route(path, endpoint, methods=methods)


async def read_json(request: Request, model: type[BaseModel]) -> Any:
    """The body as `model`; ValueError (answered 422) for a body that is not JSON,
    nested too deeply, holds a lone surrogate, or does not fit."""
    body = await read_limited(request, MAX_BODY_BYTES)
    data = json_body.loads(body or b"{}")  # NotJson is a ValueError
    return model.model_validate(data)
