"""The web chat JSON API: start a session, send a message, get the replies.

    POST /api/chat/sessions   {"locale"?, "customer"?: {"id"|"email"|"phone", "signature"}}
                              -> 201 {"token", "conversation"}
    POST /api/chat/messages   Authorization: Bearer <token>
                              {"message_id", "text" | "payload" | "upload" (+ "text")}
                              -> 200 {"replies", "duplicate"}
    POST /api/chat/uploads    a photo or PDF first (app.routes.uploads)

Verification comes first: the token is checked before the body is read. Errors
are mapped in `app.errors`. The line per session and per turn is at DEBUG: at
INFO it cost a few per cent of a turn's CPU and said nothing an operator acts on
(errors and refusals are still logged at WARNING and above).
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.resources import Resources
from app.routes.body import read_limited
from channels import web

log = logging.getLogger(__name__)

# What JSONResponse renders, with the encoder built once (it builds one per response).
_json = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def conversation_tag(conversation: str) -> str:
    """A short hash that lets logs follow one conversation without naming it."""
    return hashlib.sha256(conversation.encode()).hexdigest()[:10]


async def create_session(request: Request) -> JSONResponse:
    resources: Resources = request.state.resources
    body = await read_limited(request, web.MAX_BODY_BYTES)
    identity_secret = resources.settings.web_identity_secret
    session = web.new_session(
        body,
        languages=frozenset(resources.catalogue.languages),
        identity_secret=identity_secret.get_secret_value() if identity_secret else None,
    )
    signer = await resources.token_signer()
    if log.isEnabledFor(logging.DEBUG):
        log.debug("web chat session %s started (%s)", conversation_tag(session.conversation),
                  "verified" if session.identity else "anonymous")
    return JSONResponse(
        {"token": signer.issue(session), "conversation": session.conversation}, status_code=201
    )


async def post_message(request: Request) -> Response:
    resources: Resources = request.state.resources
    token = web.bearer_token(request.headers.get("authorization"))
    session = (await resources.token_signer()).verify(token)
    body = await read_limited(request, web.MAX_BODY_BYTES)
    inbound = web.parse(session, body, datetime.now(UTC))
    resources.require_ready()
    for upload in inbound.attachments:  # only this chat's own uploads
        if await resources.media.owned(upload, inbound.conversation) is None:
            raise web.InvalidMessage("the upload is unknown, removed, or another chat's",
                                     [{"field": "upload", "problem": "unknown upload"}])
    result = await resources.engine.handle(inbound)
    if log.isEnabledFor(logging.DEBUG):  # the tag is a hash: not worth it unless logged
        log.debug(
            "web chat %s: %d replies%s",
            conversation_tag(session.conversation),
            len(result.replies),
            " (duplicate)" if result.duplicate else "",
        )
    return Response(_json(web.render(result)).encode(), media_type="application/json")


routes = [
    Route("/api/chat/sessions", create_session, methods=["POST"]),
    Route("/api/chat/messages", post_message, methods=["POST"]),
]
