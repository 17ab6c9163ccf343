"""Privacy requests from the inbox, for admins (`conversation.privacy` does the work):

    POST /api/inbox/privacy/export   {email | phone | conversation} -> everything held
    POST /api/inbox/privacy/erase    {email | phone | conversation} -> what was erased
    GET  /api/inbox/privacy/requests the request log (who, when, kind, identity hash)
    GET  /inbox/privacy              the page; its forms post to /inbox/privacy/export|erase
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.errors import error_response
from app.inbox.auth import Staff
from app.inbox.http import api_route, page_route, read_json
from app.inbox.pages import _render
from app.resources import Resources
from conversation.privacy import Identity, Privacy


class Who(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    conversation: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _one(self) -> Who:
        if sum(v is not None and v.strip() != "" for v in
               (self.email, self.phone, self.conversation)) != 1:
            raise ValueError("name the shopper by exactly one of email, phone, conversation")
        return self

    def identity(self) -> Identity:
        for kind in ("email", "phone", "conversation"):
            value = getattr(self, kind)
            if value:
                return Identity.of(kind, value)
        raise ValueError("no identity")


def _privacy(request: Request) -> Privacy:
    resources: Resources = request.state.resources
    return Privacy(resources.db, resources.redis, resources.backend,
                   prefix=resources.settings.redis_prefix,
                   media=resources.media)


async def export_api(request: Request, staff: Staff) -> Response:
    who = (await read_json(request, Who)).identity()
    return JSONResponse(await _privacy(request).export(who, staff.email))


async def erase_api(request: Request, staff: Staff) -> Response:
    who = (await read_json(request, Who)).identity()
    return JSONResponse({"erased": await _privacy(request).erase(who, staff.email)})


async def requests_api(request: Request, staff: Staff) -> Response:
    return JSONResponse({"requests": await _privacy(request).requests()})


def _forbidden() -> Response:
    return error_response(403, "forbidden", "only an admin can do this")


async def page(request: Request, staff: Staff, *, result: dict[str, Any] | None = None,
               error: str | None = None, status: int = 200) -> Response:
    if not staff.is_admin:
        return _forbidden()
    return _render(request, "inbox/privacy.html", {
        "staff": staff, "requests": await _privacy(request).requests(), "result": result,
        "error": error}, status)


def _form_identity(form: Any) -> Identity:
    kind = str(form.get("kind") or "")
    return Identity.of(kind, str(form.get("value") or ""))


async def export_form(request: Request, staff: Staff) -> Response:
    if not staff.is_admin:
        return _forbidden()
    form = await request.form()
    try:
        who = _form_identity(form)
    except ValueError as exc:
        return await page(request, staff, error=str(exc), status=422)
    data = await _privacy(request).export(who, staff.email)
    return Response(json.dumps(data, indent=2, ensure_ascii=False),
                    media_type="application/json", headers={
                        "Content-Disposition": 'attachment; filename="privacy-export.json"',
                        "Cache-Control": "no-store"})


async def erase_form(request: Request, staff: Staff) -> Response:
    if not staff.is_admin:
        return _forbidden()
    form = await request.form()
    if form.get("confirm") != "yes":
        return await page(request, staff, status=422,
                          error="Tick the box to confirm: erasing cannot be undone.")
    try:
        who = _form_identity(form)
    except ValueError as exc:
        return await page(request, staff, error=str(exc), status=422)
    counts = await _privacy(request).erase(who, staff.email)
    return await page(request, staff, result=counts)


routes = [
    api_route("/api/inbox/privacy/export", export_api, methods=["POST"], admin=True),
    api_route("/api/inbox/privacy/erase", erase_api, methods=["POST"], admin=True),
    api_route("/api/inbox/privacy/requests", requests_api, methods=["GET"], admin=True),
    page_route("/inbox/privacy", page, methods=["GET"]),
    page_route("/inbox/privacy/export", export_form, methods=["POST"]),
    page_route("/inbox/privacy/erase", erase_form, methods=["POST"]),
]
