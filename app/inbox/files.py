"""Files on tickets, for staff.

    GET  /inbox/files/{id}                     a file on a ticket (logged-in staff only;
                                               `?download=1` for a save dialog)
    POST /inbox/tickets/{ticket_id}/file       the ticket page's form: multipart `file`,
                                               `text` (its caption), `csrf`, `reply_id`
    POST /api/inbox/tickets/{ticket_id}/files  the same for the API (X-CSRF-Token)
                                               -> 201 the ticket

Files are served with their own safe content type, `nosniff`, a
`Content-Disposition` with a name we made, and a sandboxing CSP
(`app.routes.media_files`). A file staff send is checked like a shopper's (kinds,
size), kept on the ticket, and sent by a signed link that the shopper's channel
fetches (`app.routes.uploads.shared_url`): Telegram and Twilio fetch by URL, the
widget shows it.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from app.errors import BodyTooLarge, error_response
from app.inbox.auth import CSRF_FIELD, CSRF_HEADER, CsrfFailed, Staff, check_csrf, current_staff
from app.inbox.http import desk, page_route, readable
from app.inbox.pages import ticket_page
from app.inbox.views import ticket_detail
from app.resources import Resources
from app.routes.media_files import file_response
from app.routes.uploads import FileForm, read_file_form, shared_url
from conversation.attachments import megabytes
from conversation.tickets import Ticket, TicketNotFound
from conversation.types import SharedFile
from media.blobs import BlobMissing
from media.store import MediaRefused

WHY = {"too_large": "The file is larger than {limit}: not sent.",
       "unsupported": "Only photos (JPEG, PNG, WebP, HEIC) and PDF files can be sent: not sent."}


async def staff_file(request: Request, staff: Staff) -> Response:
    resources: Resources = request.state.resources
    resources.require_ready(records=True)
    attachment = await resources.media.get(request.path_params["attachment"])
    if attachment is None:
        return error_response(404, "not_found", "no such file")
    try:
        data = await resources.media.read(attachment)
    except BlobMissing:
        return error_response(410, "gone", "the file was removed (retention)")
    return file_response(attachment, data,
                         download=request.query_params.get("download") == "1")


class _NotSent(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def _send(request: Request, staff: Staff, form: FileForm) -> Ticket:
    resources: Resources = request.state.resources
    ticket_id = request.path_params["ticket_id"]
    ticket = await resources.tickets.get(ticket_id)
    if ticket is None:
        raise TicketNotFound(ticket_id)
    try:
        kept = await resources.media.accept(
            form.data, conversation=ticket.conversation, channel=ticket.channel, who="staff",
            source=f"staff:{staff.email}", filename=form.filename)
    except MediaRefused as exc:
        limit = megabytes(resources.media.max_bytes)
        raise _NotSent(413 if exc.why == "too_large" else 415,
                       WHY.get(exc.why, "Not sent.").format(limit=limit)) from exc
    await resources.media.attach([kept.id], conversation=ticket.conversation,
                                 ticket=ticket.number, line="staff")
    url = shared_url(resources.settings.public_url, await resources.web_chat_secret(), kept.id)
    shared = SharedFile(kept.id, url, kept.content_type, kept.size, kept.download_name)
    reply_id = form.fields.get("reply_id") or kept.id
    return await desk(request).send_file(ticket_id, staff.email, form.fields.get("text", ""),
                                         shared, reply_id=reply_id[:64],
                                         author_name=staff.member.name)


async def send_from_page(request: Request) -> Response:
    staff = await current_staff(request)
    if staff is None:
        return error_response(401, "unauthenticated", "log in to the inbox first")
    resources: Resources = request.state.resources
    resources.require_ready(records=True)
    ticket_id = request.path_params["ticket_id"]
    try:
        form = await read_file_form(request, resources.media.max_bytes)
        check_csrf(staff, form.fields.get(CSRF_FIELD))
        await _send(request, staff, form)
    except CsrfFailed:
        return error_response(403, "csrf_failed",
                              "the form has expired; reload the page and try again")
    except (BodyTooLarge, _NotSent) as exc:
        message = str(exc) if isinstance(exc, _NotSent) else WHY["too_large"].format(
            limit=megabytes(resources.media.max_bytes))
        return await ticket_page(request, staff, error=message,
                                 status=exc.status if isinstance(exc, _NotSent) else 413)
    return RedirectResponse(f"/inbox/tickets/{ticket_id}", 303)


async def send_from_api(request: Request) -> Response:
    staff = await current_staff(request)
    if staff is None:
        return error_response(401, "unauthenticated", "log in to the inbox first")
    try:
        check_csrf(staff, request.headers.get(CSRF_HEADER))
    except CsrfFailed:
        return error_response(403, "csrf_failed", "send the session's token in X-CSRF-Token")
    resources: Resources = request.state.resources
    resources.require_ready(records=True)
    try:
        ticket = await _send(request, staff,
                             await read_file_form(request, resources.media.max_bytes))
    except _NotSent as exc:
        return error_response(exc.status, "file_refused", str(exc))
    except TicketNotFound:
        return error_response(404, "not_found", "no such ticket")
    detail = await ticket_detail(ticket, resources.tickets, desk(request).deliveries,
                                 resources.backend, readable(request), resources.media)
    return JSONResponse(detail, status_code=201)


routes = [
    page_route("/inbox/files/{attachment:str}", staff_file, methods=["GET"]),
    Route("/inbox/tickets/{ticket_id}/file", send_from_page, methods=["POST"]),
    Route("/api/inbox/tickets/{ticket_id}/files", send_from_api, methods=["POST"]),
]
