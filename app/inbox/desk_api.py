"""The desk's own routes on a ticket: tags, priority, team (JSON and form posts).

    POST /api/inbox/tickets/{id}/tags      {add: [tag], remove: [tag]}
    POST /api/inbox/tickets/{id}/priority  {priority: urgent|high|normal|low|null}
                                           (null: back to the merchant's rules)
    POST /api/inbox/tickets/{id}/team      {team: name|null}
    POST /inbox/tickets/{id}/tags | priority | team   the same, from the ticket page's forms

Same gate as every inbox route (`app.inbox.http`): a session, and its CSRF token.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from app.inbox.auth import Staff
from app.inbox.http import api_route, desk, page_route, read_json, readable
from app.inbox.pages import ticket_page
from app.inbox.team import clean_team
from app.inbox.views import ticket_detail
from app.resources import Resources
from conversation.desk import MAX_TAGS, Priority
from conversation.tickets import Ticket, TicketNotFound

MAX_TEAM_CHARS = 64


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Tags(_Body):
    add: list[str] = Field(default=[], max_length=MAX_TAGS)
    remove: list[str] = Field(default=[], max_length=MAX_TAGS)


class PriorityBody(_Body):
    priority: Literal["urgent", "high", "normal", "low"] | None


class Team(_Body):
    team: str | None = Field(default=None, max_length=MAX_TEAM_CHARS)


def _resources(request: Request) -> Resources:
    resources: Resources = request.state.resources
    return resources


async def _apply(request: Request, staff: Staff, what: str, body: dict[str, Any]) -> Ticket:
    tickets = _resources(request).tickets
    ticket_id = request.path_params["ticket_id"]
    now = datetime.now(UTC)
    match what:
        case "tags":
            given = Tags.model_validate(body)
            return await tickets.tag(ticket_id, given.add, given.remove, staff.email, now)
        case "priority":
            level = PriorityBody.model_validate(body).priority
            return await tickets.set_priority(ticket_id, Priority(level) if level else None,
                                              staff.email, now)
        case _:
            team = clean_team(Team.model_validate(body).team)
            return await tickets.set_team(ticket_id, team, staff.email, now)


def _api(what: str) -> Any:
    async def endpoint(request: Request, staff: Staff) -> Response:
        models: dict[str, type[BaseModel]] = {"tags": Tags, "priority": PriorityBody}
        model = models.get(what, Team)
        body = (await read_json(request, model)).model_dump()
        ticket = await _apply(request, staff, what, body)
        resources = _resources(request)
        return JSONResponse(await ticket_detail(ticket, resources.tickets,
                                                desk(request).deliveries, resources.backend,
                                                readable(request), resources.media))

    return endpoint


def _form(what: str) -> Any:
    async def endpoint(request: Request, staff: Staff) -> Response:
        form = await request.form()
        ticket_id = request.path_params["ticket_id"]
        match what:
            case "tags":
                body: dict[str, Any] = {
                    "add": [t for t in str(form.get("add") or "").split(",") if t.strip()],
                    "remove": [str(form.get("remove"))] if form.get("remove") else []}
            case "priority":
                body = {"priority": str(form.get("priority") or "") or None}
            case _:
                body = {"team": str(form.get("team") or "") or None}
        try:
            await _apply(request, staff, what, body)
        except TicketNotFound:
            raise
        except ValueError as exc:
            first = str(exc).splitlines()[0]
            return await ticket_page(request, staff, status=422,
                                     error=f"Not changed: {first}")
        return RedirectResponse(f"/inbox/tickets/{ticket_id}", 303)

    return endpoint


T = "/api/inbox/tickets/{ticket_id}"
routes = [
    *(api_route(f"{T}/{what}", _api(what), methods=["POST"])
      for what in ("tags", "priority", "team")),
    *(page_route(f"/inbox/tickets/{{ticket_id}}/{what}", _form(what), methods=["POST"])
      for what in ("tags", "priority", "team")),
]
