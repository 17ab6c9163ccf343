"""Shoppers' files for staff: `GET /inbox/files/{id}` (logged-in staff only;
`?download=1` for a save dialog). Served with the file's own safe content type,
`nosniff`, a `Content-Disposition` with a name we made, and a sandboxing CSP
(`app.routes.media_files`)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from app.errors import error_response
from app.inbox.auth import Staff
from app.inbox.http import page_route
from app.resources import Resources
from app.routes.media_files import file_response
from media.blobs import BlobMissing


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


routes = [
    page_route("/inbox/files/{attachment:str}", staff_file, methods=["GET"]),
]
