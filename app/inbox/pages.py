"""The inbox's HTML pages: login, the ticket list, a ticket, and its forms.

Every page is rendered by Jinja2 with autoescape on, so whatever a shopper typed
is text on the page, never markup; and every response carries a Content Security
Policy that lets only the page's own nonce-tagged script and style run, so even a
missed escape could not run a script. Forms post back here with the session's
CSRF token (checked in `app.inbox.http`) and redirect (303) to the page they
came from, so a reload never posts twice.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from app.inbox.api import attempt_login, resolve_assignee
from app.inbox.auth import (
    CsrfFailed,
    Staff,
    check_login_token,
    current_staff,
    log_out,
    login_token,
)
from app.inbox.canned import load_canned
from app.inbox.http import desk, page_route, readable
from app.inbox.views import ListFilter, Reads, list_tickets, request_words, ticket_detail
from app.operating import worker_missing
from app.resources import Resources
from conversation.paging import BadCursor
from conversation.staff import AlreadyDecided, NotARequest, ShopDeclined, ShopDown
from conversation.tickets import Count, TicketStatus
from conversation.types import Channel
from templates import PAGES_DIR

SHOPPER_CHANNELS = [c.value for c in Channel if c is not Channel.STAFF_WEBHOOK]
# Where focus goes on the ticket page after a form posted and came back (the page's
# script focuses the element the fragment names): the box that was just sent from,
# or else the ticket's heading. Without it focus would start over on the body.
FOCUS_AFTER = {"reply": "reply-text", "note": "note-text"}
FOCUS_OTHERWISE = "ticket-title"


def _environment(timezone: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(PAGES_DIR), autoescape=True, auto_reload=False)
    zone = ZoneInfo(timezone)

    def when(value: Any) -> str:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        if not isinstance(moment, datetime):
            return ""
        local = moment.astimezone(zone) if moment.tzinfo else moment
        return f"{local.day} {local:%b}, {local:%H:%M}"

    def ago(value: Any) -> str:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        seconds = (datetime.now(UTC) - moment).total_seconds()
        if seconds < 60:
            return "just now"
        if seconds < 3600:
            return f"{int(seconds // 60)} min ago"
        if seconds < 86400:
            return f"{int(seconds // 3600)} h ago"
        return when(moment)

    env.filters["when"] = when
    env.filters["ago"] = ago
    return env


def _render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    env: jinja2.Environment | None = getattr(request.app.state, "inbox_pages", None)
    if env is None:
        resources: Resources = request.state.resources
        env = _environment(resources.settings.timezone)
        request.app.state.inbox_pages = env
    nonce = secrets.token_urlsafe(16)
    html = env.get_template(name).render(
        {**context, "nonce": nonce, "worker_missing": worker_missing(request.app)})
    response = HTMLResponse(html, status_code=status)
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def _safe_next(value: object) -> str:
    """Only a path inside the inbox: never an open redirect."""
    if isinstance(value, str) and value.startswith("/inbox") and not value.startswith("//"):
        return value
    return "/inbox"


# ---- login ------------------------------------------------------------------------


async def login_page(request: Request) -> Response:
    if await current_staff(request) is not None:
        return RedirectResponse(_safe_next(request.query_params.get("next")), 303)
    return await _login_form(request, next_page=_safe_next(request.query_params.get("next")))


async def _login_form(
    request: Request, *, next_page: str, error: str | None = None, email: str = "",
    status: int = 200,
) -> Response:
    placeholder = Response()
    token = await login_token(request, placeholder)
    response = _render(request, "inbox/login.html", {
        "staff": None, "login_token": token, "next": next_page, "error": error, "email": email,
    }, status)
    response.raw_headers.extend(h for h in placeholder.raw_headers if h[0] == b"set-cookie")
    return response


async def login_submit(request: Request) -> Response:
    form = await request.form(max_files=0, max_fields=10, max_part_size=8 * 1024)
    email, password = str(form.get("email") or ""), str(form.get("password") or "")
    next_page = _safe_next(form.get("next"))
    try:
        await check_login_token(request, str(form.get("csrf") or ""))
    except CsrfFailed:
        return await _login_form(request, next_page=next_page, email=email, status=403,
                                 error="The form expired. Please log in again.")
    response = RedirectResponse(next_page, 303)
    result = await attempt_login(request, email, password, response)
    if isinstance(result, Response):
        message = ("Too many failed attempts. Please wait a few minutes and try again."
                   if result.status_code == 429 else "Wrong email or password.")
        answer = await _login_form(request, next_page=next_page, email=email, error=message,
                                   status=result.status_code)
        if "retry-after" in result.headers:
            answer.headers["Retry-After"] = result.headers["retry-after"]
        return answer
    return response


async def logout(request: Request, staff: Staff) -> Response:
    response = RedirectResponse("/inbox/login", 303)
    await log_out(request, response, staff)
    return response


# ---- the list and a ticket ----------------------------------------------------------


async def inbox(request: Request, staff: Staff) -> Response:
    resources: Resources = request.state.resources
    try:
        wanted = ListFilter.parse(request.query_params)
    except BadCursor:  # a mangled or hand-made pager link: the list from its start
        kept = [(k, v) for k, v in request.query_params.multi_items()
                if k not in ("before", "after", "page")]
        return RedirectResponse("/inbox" + (f"?{urlencode(kept)}" if kept else ""), 303)
    reads = Reads(resources.redis, resources.settings.redis_prefix)
    listing = await list_tickets(resources.tickets, reads, staff.email, wanted)
    counts = {s.value: c for s, c in (await resources.tickets.capped_counts()).items()}
    return _render(request, "inbox/list.html", {
        "staff": staff, "tickets": listing.tickets, "listing": listing, "wanted": wanted,
        "counts": counts, "channels": SHOPPER_CHANNELS,
    })


async def ticket_page(request: Request, staff: Staff, *, error: str | None = None,
                      status: int = 200) -> Response:
    resources: Resources = request.state.resources
    ticket_id = request.path_params["ticket_id"]
    found = await resources.tickets.get(ticket_id)
    if found is None:
        return _render(request, "inbox/list.html", {
            "staff": staff, "tickets": [], "wanted": ListFilter(query=ticket_id),
            "listing": None, "counts": {s.value: Count(0) for s in TicketStatus},
            "channels": SHOPPER_CHANNELS,
        }, 404)
    await Reads(resources.redis, resources.settings.redis_prefix).mark(staff.email, found)
    detail = await ticket_detail(found, resources.tickets, desk(request).deliveries,
                                 resources.backend, readable(request), resources.media)
    canned = load_canned()
    members = await resources.staff.list()
    audit = await resources.engine.audit.read(found.order) if found.order else []
    return _render(request, "inbox/ticket.html", {
        "staff": staff, "t": detail, "o": detail["order_snapshot"], "canned": canned,
        "canned_texts": [c.text for c in canned], "members": members,
        "reply_id": secrets.token_hex(8), "error": error,
        "request_words": detail.get("request_words") or (
            request_words(found.request) if found.request else ""),
        "audit": [entry.as_dict() for entry in audit],  # the order's, newest last
    }, status)


def _ticket_form(name: str) -> Any:
    async def act(request: Request, staff: Staff) -> Response:
        ticket_id = request.path_params["ticket_id"]
        form = await request.form()
        office = desk(request)
        try:
            match name:
                case "reply":
                    await office.reply(ticket_id, staff.email, str(form.get("text") or ""),
                                       reply_id=_reply_id(form.get("reply_id")),
                                       author_name=staff.member.name)
                case "note":
                    await office.note(ticket_id, staff.email, str(form.get("text") or ""))
                case "assign":
                    assignee = await resolve_assignee(request, staff,
                                                      str(form.get("assignee") or ""))
                    await office.assign(ticket_id, assignee, staff.email)
                case "decline":
                    await office.decline(ticket_id, staff.email, str(form.get("reason") or ""))
                case _:
                    await getattr(office, name)(ticket_id, staff.email)
        except (ValueError, NotARequest, AlreadyDecided) as exc:
            return await ticket_page(request, staff, error=_words(exc), status=422)
        except ShopDeclined:
            return await ticket_page(request, staff, status=409, error=(
                "The shop's system refused this change, so nothing was changed."))
        except ShopDown:
            return await ticket_page(request, staff, status=503, error=(
                "The shop's system did not answer. Nothing was changed; please try again."))
        focus = FOCUS_AFTER.get(name, FOCUS_OTHERWISE)
        return RedirectResponse(f"/inbox/tickets/{ticket_id}#{focus}", 303)

    return act


def _reply_id(value: object) -> str:
    text = value if isinstance(value, str) else ""
    if 1 <= len(text) <= 64 and all(c.isalnum() or c in "-_" for c in text):
        return text
    return secrets.token_hex(8)


def _words(exc: Exception) -> str:
    match exc:
        case NotARequest():
            return "This ticket is not an action request."
        case AlreadyDecided():
            return "This request was already decided."
    return f"Not sent: {exc}."


routes = [
    Route("/inbox/login", login_page, methods=["GET"]),
    Route("/inbox/login", login_submit, methods=["POST"]),
    page_route("/inbox/logout", logout, methods=["POST"]),
    page_route("/inbox", inbox, methods=["GET"]),
    page_route("/inbox/tickets/{ticket_id}", ticket_page, methods=["GET"]),
    *(page_route(f"/inbox/tickets/{{ticket_id}}/{name}", _ticket_form(name), methods=["POST"])
      for name in ("reply", "note", "assign", "resolve", "reopen", "approve", "decline")),
]
