"""Who else has a ticket open, and who is typing on it, so two agents do not answer
at once.

    POST /api/inbox/tickets/{id}/presence   {state: viewing | typing}
    GET  /api/inbox/tickets/{id}/presence   {others: [{email, name, state}]}

The ticket page says "viewing" when it opens and every `VIEWING_S / 2`, and
"typing" (at most every few seconds) while its reply box changes. Each state is
kept in Redis for a short while (`ohb:inbox:presence:{T-1001}`, a hash of staff
email -> state and time) and announced on the inbox's event stream (`presence`,
with the ticket id only), so open pages look again at once.
"""

from __future__ import annotations

import json
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.inbox.auth import Staff
from app.inbox.http import api_route, read_json
from app.resources import Resources
from conversation.keys import Keys
from conversation.tickets import EVENTS_MAXLEN, ticket_number

VIEWING_S = 40
TYPING_S = 8


class Presence(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: Literal["viewing", "typing"]


def _key(prefix: str, ticket_id: str) -> str:
    return f"{prefix}inbox:presence:{{{ticket_id}}}"


def _ticket_id(request: Request) -> str:
    raw = request.path_params["ticket_id"]
    return f"T-{ticket_number(raw)}"  # TicketNotFound (404) for anything else


async def tell(request: Request, staff: Staff) -> Response:
    resources: Resources = request.state.resources
    ticket_id = _ticket_id(request)
    body = await read_json(request, Presence)
    now = time.time()
    key = _key(resources.settings.redis_prefix, ticket_id)
    value = json.dumps({"state": body.state, "at": now, "name": staff.member.name})
    async with resources.redis.pipeline(transaction=False) as pipe:
        pipe.hget(key, staff.email)
        pipe.hset(key, staff.email, value)
        pipe.expire(key, VIEWING_S * 2)
        before, *_ = await pipe.execute()
    try:
        old = json.loads(before) if before else {}
    except ValueError:
        old = {}
    # a heartbeat of the same state is not news: only a change wakes the open pages
    if old.get("state") != body.state or now - float(old.get("at", 0)) > VIEWING_S:
        await resources.redis.xadd(
            Keys(resources.settings.redis_prefix).inbox_events(),
            {"type": "presence", "ticket": ticket_id, "state": body.state},
            maxlen=EVENTS_MAXLEN, approximate=True)
    return Response(status_code=204)


async def others(request: Request, staff: Staff) -> Response:
    resources: Resources = request.state.resources
    ticket_id = _ticket_id(request)
    raw: Any = await resources.redis.hgetall(_key(resources.settings.redis_prefix, ticket_id))
    now = time.time()
    found = []
    for email, value in raw.items():
        who = email.decode() if isinstance(email, bytes) else str(email)
        if who == staff.email:
            continue
        try:
            data = json.loads(value)
        except ValueError:
            continue
        age = now - float(data.get("at", 0))
        state = data.get("state")
        if state == "typing" and age > TYPING_S:
            state = "viewing"
        if age > VIEWING_S:
            continue
        found.append({"email": who, "name": data.get("name") or who, "state": state})
    return JSONResponse({"others": sorted(found, key=lambda o: o["email"])})


T = "/api/inbox/tickets/{ticket_id}/presence"
routes = [
    api_route(T, tell, methods=["POST"]),
    api_route(T, others, methods=["GET"]),
]
