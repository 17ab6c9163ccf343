"""Files from the web chat, and files for the shopper to see.

    POST /api/chat/uploads        Authorization: Bearer <chat token>; multipart `file`
                                  -> 201 {"upload": "<id>", "content_type", "size"}
                                  413 / 415 {"error": {"code", "message"}}: the message
                                  is the bot's own words in the shopper's language
    GET  /media/{id}/{signature}  a file sent to the shopper (staff's reply), by a link
                                  that names it and is signed (web chat, WhatsApp)

The upload is checked, cleaned and kept like any channel's file, then sent as a
message (`{"message_id", "upload", "text"?}` to `/api/chat/messages`); an upload no
message uses is swept after a day. The token is checked before the body is read,
and the body is read to the limit and no further.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Message

from app.errors import BodyTooLarge, error_response
from app.resources import Resources
from app.routes.body import read_limited
from app.routes.media_files import file_response
from channels import web
from conversation.attachments import refusal
from media.blobs import BlobMissing
from media.store import MediaRefused, Why

MULTIPART_OVERHEAD = 16 * 1024  # the form's boundaries and headers around the file
STATUS = {"too_large": 413, "unsupported": 415, "unavailable": 422}


def _refused(resources: Resources, locale: str | None, why: Why) -> Response:
    catalogue = resources.catalogue
    text = resources.engine.render(catalogue.language_for(locale),
                                   refusal(why, resources.media.max_bytes)).text
    return error_response(STATUS[why], why, text)


async def upload(request: Request) -> Response:
    resources: Resources = request.state.resources
    token = web.bearer_token(request.headers.get("authorization"))
    session = (await resources.token_signer()).verify(token)
    resources.require_ready(records=True)
    try:
        form = await read_file_form(request, resources.media.max_bytes)
    except BodyTooLarge:
        return _refused(resources, session.locale, "too_large")
    try:
        kept = await resources.media.accept(
            form.data, conversation=session.conversation, channel="web", source="upload",
            filename=form.filename)
    except MediaRefused as exc:
        return _refused(resources, session.locale, exc.why)
    return JSONResponse({"upload": kept.id, "content_type": kept.content_type,
                         "size": kept.size}, status_code=201)


@dataclass(frozen=True, slots=True)
class FileForm:
    data: bytes
    filename: str | None
    fields: dict[str, str]


async def read_file_form(request: Request, max_bytes: int) -> FileForm:
    """A multipart form with one file (field `file`) and a few short fields, read
    to `max_bytes` (plus the form's own overhead) and no further: BodyTooLarge."""
    body = await read_limited(request, max_bytes + MULTIPART_OVERHEAD)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async with Request(request.scope, replay).form(max_files=1, max_fields=8,
                                                   max_part_size=64 * 1024) as form:
        file = form.get("file")
        if file is None or isinstance(file, str):
            raise web.InvalidMessage("send the file as the multipart field 'file'",
                                     [{"field": "file", "problem": "missing"}])
        data = await file.read()
        fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        return FileForm(data, file.filename, fields)


# --- links to files for the shopper ---------------------------------------------------


def sign(secret: str, attachment: str) -> str:
    return hmac.new(secret.encode(), f"media:{attachment}".encode(),
                    hashlib.sha256).hexdigest()[:32]


async def shared_file(request: Request) -> Response:
    """A file staff sent to the shopper: the link is the permission (the shopper's
    channel shows it as an image; Twilio fetches it to send on WhatsApp)."""
    resources: Resources = request.state.resources
    ident = request.path_params["attachment"]
    signature = request.path_params["signature"]
    expected = sign(await resources.web_chat_secret(), ident)
    if not hmac.compare_digest(expected, signature):
        return error_response(404, "not_found", "no such file")
    attachment = await resources.media.get(ident)
    if attachment is None or attachment.who != "staff":
        return error_response(404, "not_found", "no such file")
    try:
        data = await resources.media.read(attachment)
    except BlobMissing:
        return error_response(410, "gone", "the file was removed")
    return file_response(attachment, data, private=False)


def shared_url(public_url: str, secret: str, attachment: str) -> str:
    return f"{public_url}/media/{attachment}/{sign(secret, attachment)}"


routes = [
    Route("/api/chat/uploads", upload, methods=["POST"]),
    Route("/media/{attachment:str}/{signature:str}", shared_file, methods=["GET"]),
]
