"""The inbox's JSON API, behind the same login as the pages.

    POST   /api/inbox/session                {email, password} -> {staff, csrf} + cookie
    DELETE /api/inbox/session                log out
    GET    /api/inbox/me                     {staff, csrf}
    GET    /api/inbox/tickets                ?status=open|pending|resolved, channel=,
                                             who=mine|unassigned, q=<words, order, id...>,
                                             before=<next> | after=<previous> | page=N
                                             -> {tickets, total, more, next, previous, ...}

Paging: `next` is the token of the page of older activity (`before=next`), `previous`
of the newer one (`after=previous`); each is read from where the last page ended, so
page 200 costs what page 1 does, and a ticket that moves to the top between two
calls is neither shown twice nor makes another skip. `page=N` still works (the
order by due time pages only that way). A token the list did not give out: 400
`bad_cursor`.
    GET    /api/inbox/tickets/{id}           the ticket, its order now, transcript, delivery states
    POST   /api/inbox/tickets/{id}/reply     {text, reply_id?}
    POST   /api/inbox/tickets/{id}/note      {text}
    POST   /api/inbox/tickets/{id}/assign    {assignee: email | "me" | null}
    POST   /api/inbox/tickets/{id}/resolve | reopen | approve
    POST   /api/inbox/tickets/{id}/decline   {reason}
    GET    /api/inbox/canned                 the canned replies
    GET    /api/inbox/staff                  accounts (email, role; never a password hash)
    POST   /api/inbox/staff                  admin: {email, role, password}
    POST   /api/inbox/staff/{email}/password {password}: your own, or anyone's as admin
    DELETE /api/inbox/staff/{email}          admin

Every call but logging in needs the session cookie (else 401); every change needs
the session's CSRF token in `X-CSRF-Token` (else 403). Errors are the app's usual
`{"error": {"code", "message"}}`.
"""

from __future__ import annotations

import secrets
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.errors import error_response
from app.inbox.accounts import Role
from app.inbox.auth import (
    CSRF_HEADER,
    CsrfFailed,
    LoginLimiter,
    Staff,
    check_csrf,
    client_address,
    current_staff,
    log_in,
    log_out,
)
from app.inbox.canned import load_canned
from app.inbox.http import api_route, desk, read_json, readable
from app.inbox.team import StaffDesk
from app.inbox.views import ListFilter, Reads, list_tickets, ticket_detail
from app.resources import Resources
from conversation.staff import MAX_REASON_CHARS, MAX_REPLY_CHARS
from conversation.tickets import TicketNotFound


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Login(_Body):
    email: str = Field(max_length=320)
    password: str = Field(max_length=256)


class Text(_Body):
    text: str = Field(min_length=1, max_length=MAX_REPLY_CHARS)
    reply_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")


class Assign(_Body):
    assignee: str | None


class Decline(_Body):
    reason: str = Field(min_length=1, max_length=MAX_REASON_CHARS)


class NewStaff(_Body):
    email: str = Field(max_length=320)
    role: Literal["agent", "admin"] = "agent"
    password: str = Field(max_length=256)


class Password(_Body):
    password: str = Field(max_length=256)


def _staff_json(staff: Staff) -> dict[str, Any]:
    return {"staff": staff.member.model_dump(mode="json"), "csrf": staff.csrf}


def _resources(request: Request) -> Resources:
    resources: Resources = request.state.resources
    return resources


async def attempt_login(
    request: Request, email: str, password: str, response: Response
) -> Staff | Response:
    """Shared by the login form and the API: limits first, then the password. On
    success the session cookie is set on `response`."""
    resources = _resources(request)
    resources.require_ready(records=True)
    limiter = LoginLimiter(resources.redis, resources.settings.redis_prefix)
    address = client_address(request)
    wait = await limiter.attempt(email, address)  # counted before the password is checked
    if wait is not None:
        return error_response(429, "too_many_attempts",
                              "too many failed logins; wait and try again",
                              headers={"Retry-After": str(wait)})
    store = resources.staff
    member = await store.authenticate(email, password)
    if member is not None and await StaffDesk(resources.db).is_disabled(member.email):
        member = None  # a disabled account: the same answer as a wrong password
    if member is None:
        return error_response(401, "bad_credentials", "wrong email or password")
    await limiter.succeeded(email, address)
    return await log_in(request, response, member)


async def login(request: Request) -> Response:
    try:
        body = await read_json(request, Login)
    except ValueError as exc:
        return error_response(422, "invalid_request", str(exc).splitlines()[0])
    response = JSONResponse({})
    result = await attempt_login(request, body.email, body.password, response)
    if isinstance(result, Response):
        return result
    answer = JSONResponse(_staff_json(result))
    answer.raw_headers.extend(h for h in response.raw_headers if h[0] == b"set-cookie")
    return answer


async def logout(request: Request, staff: Staff) -> Response:
    response = Response(status_code=204)
    await log_out(request, response, staff)
    return response


async def me(request: Request, staff: Staff) -> Response:
    return JSONResponse(_staff_json(staff))


async def tickets(request: Request, staff: Staff) -> Response:
    resources = _resources(request)
    wanted = ListFilter.parse(request.query_params)
    listing = await list_tickets(resources.tickets,
                                 Reads(resources.redis, resources.settings.redis_prefix),
                                 staff.email, wanted)
    counts = await resources.tickets.capped_counts()
    return JSONResponse({**listing.as_json(),
                         "counts": {s.value: c.n for s, c in counts.items()},
                         "counts_capped": {s.value: c.capped for s, c in counts.items()}})


async def ticket(request: Request, staff: Staff) -> Response:
    resources = _resources(request)
    found = await resources.tickets.get(request.path_params["ticket_id"])
    if found is None:
        raise TicketNotFound(request.path_params["ticket_id"])
    await Reads(resources.redis, resources.settings.redis_prefix).mark(staff.email, found)
    data = await ticket_detail(found, resources.tickets, desk(request).deliveries,
                               resources.backend, readable(request), resources.media)
    audit = await resources.engine.audit.read(found.order) if found.order else []
    data["audit"] = [entry.as_dict() for entry in audit]  # the order's, newest last
    return JSONResponse(data)


async def _answer(request: Request, ticket_id: str) -> Response:
    resources = _resources(request)
    found = await resources.tickets.get(ticket_id)
    if found is None:
        raise TicketNotFound(ticket_id)
    return JSONResponse(await ticket_detail(found, resources.tickets, desk(request).deliveries,
                                            resources.backend, readable(request),
                                            resources.media))


async def reply(request: Request, staff: Staff) -> Response:
    body = await read_json(request, Text)
    ticket_id = request.path_params["ticket_id"]
    await desk(request).reply(ticket_id, staff.email, body.text,
                              reply_id=body.reply_id or secrets.token_hex(8),
                              author_name=staff.member.name)
    return await _answer(request, ticket_id)


async def note(request: Request, staff: Staff) -> Response:
    body = await read_json(request, Text)
    ticket_id = request.path_params["ticket_id"]
    await desk(request).note(ticket_id, staff.email, body.text)
    return await _answer(request, ticket_id)


async def assign(request: Request, staff: Staff) -> Response:
    body = await read_json(request, Assign)
    ticket_id = request.path_params["ticket_id"]
    assignee = await resolve_assignee(request, staff, body.assignee)
    await desk(request).assign(ticket_id, assignee, staff.email)
    return await _answer(request, ticket_id)


async def resolve_assignee(request: Request, staff: Staff, given: str | None) -> str | None:
    if given is None or given == "":
        return None
    if given == "me":
        return staff.email
    resources = _resources(request)
    member = await resources.staff.get(given)
    if member is None:
        raise ValueError("no staff account with that email")
    return member.email


def _action(name: str) -> Any:
    async def act(request: Request, staff: Staff) -> Response:
        ticket_id = request.path_params["ticket_id"]
        office = desk(request)
        if name == "decline":
            body = await read_json(request, Decline)
            await office.decline(ticket_id, staff.email, body.reason)
        else:
            await getattr(office, name)(ticket_id, staff.email)
        return await _answer(request, ticket_id)

    return act


async def canned(request: Request, staff: Staff) -> Response:
    return JSONResponse({"canned": [c.__dict__ for c in load_canned()]})


async def staff_list(request: Request, staff: Staff) -> Response:
    resources = _resources(request)
    members = await resources.staff.list()
    return JSONResponse({"staff": [m.model_dump(mode="json") for m in members]})


async def staff_add(request: Request, staff: Staff) -> Response:
    body = await read_json(request, NewStaff)
    resources = _resources(request)
    member = await resources.staff.add(
        body.email, Role(body.role), body.password)
    return JSONResponse(member.model_dump(mode="json"), status_code=201)


async def staff_password(request: Request, staff: Staff) -> Response:
    body = await read_json(request, Password)
    resources = _resources(request)
    store = resources.staff
    target = await store.get(request.path_params["email"])
    if target is None or (target.email != staff.email and not staff.is_admin):
        # an agent learns nothing about other accounts
        return error_response(403, "forbidden", "you can only change your own password")
    await store.set_password(target.email, body.password)
    return Response(status_code=204)


async def staff_remove(request: Request, staff: Staff) -> Response:
    resources = _resources(request)
    store = resources.staff
    email = request.path_params["email"]
    if email.strip().casefold() == staff.email:
        return error_response(409, "own_account", "an admin cannot remove their own account")
    await store.remove(email)
    return Response(status_code=204)


async def session(request: Request) -> Response:
    if request.method == "POST":
        return await login(request)
    staff = await current_staff(request)
    if staff is None:
        return error_response(401, "unauthenticated", "log in to the inbox first")
    return await _logout_checked(request, staff)


async def _logout_checked(request: Request, staff: Staff) -> Response:
    try:
        check_csrf(staff, request.headers.get(CSRF_HEADER))
    except CsrfFailed:
        return error_response(403, "csrf_failed", "send the session's token in X-CSRF-Token")
    return await logout(request, staff)


T = "/api/inbox/tickets/{ticket_id}"
routes = [
    Route("/api/inbox/session", session, methods=["POST", "DELETE"]),
    api_route("/api/inbox/me", me, methods=["GET"]),
    api_route("/api/inbox/tickets", tickets, methods=["GET"]),
    api_route(T, ticket, methods=["GET"]),
    api_route(f"{T}/reply", reply, methods=["POST"]),
    api_route(f"{T}/note", note, methods=["POST"]),
    api_route(f"{T}/assign", assign, methods=["POST"]),
    *(api_route(f"{T}/{name}", _action(name), methods=["POST"])
      for name in ("resolve", "reopen", "approve", "decline")),
    api_route("/api/inbox/canned", canned, methods=["GET"]),
    api_route("/api/inbox/staff", staff_list, methods=["GET"]),
    api_route("/api/inbox/staff", staff_add, methods=["POST"], admin=True),
    api_route("/api/inbox/staff/{email}/password", staff_password, methods=["POST"]),
    api_route("/api/inbox/staff/{email}", staff_remove, methods=["DELETE"], admin=True),
]
