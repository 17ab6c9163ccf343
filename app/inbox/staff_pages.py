"""Staff accounts for admins, replacing CLI-only management:

    GET  /inbox/staff                        the accounts, with forms
    POST /inbox/staff                        add {email, role, password, display_name}
    POST /inbox/staff/{email}/update         role, display name, team, availability, cap,
                                             disabled
    POST /inbox/staff/{email}/password       a new password (the account's sessions end)
    POST /api/inbox/staff/{email}/desk       admin: {role?, display_name?, team?,
                                             available?, max_open?, disabled?}
    POST /api/inbox/me/availability          anyone: {available} (automatic assignment)

An admin cannot disable or demote their own account (so there is always a way back).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from app.errors import error_response
from app.inbox.accounts import AccountError, Role
from app.inbox.auth import Staff
from app.inbox.http import api_route, page_route, read_json
from app.inbox.pages import _render
from app.inbox.team import MAX_TEAM_CHARS, StaffDesk
from app.resources import Resources


class DeskChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["agent", "admin"] | None = None
    display_name: str | None = Field(default=None, max_length=100)
    team: str | None = Field(default=None, max_length=MAX_TEAM_CHARS)
    available: bool | None = None
    max_open: int | None = Field(default=None, ge=1, le=500)
    disabled: bool | None = None


class Availability(BaseModel):
    model_config = ConfigDict(extra="forbid")

    available: bool


def _resources(request: Request) -> Resources:
    resources: Resources = request.state.resources
    return resources


async def _apply(request: Request, staff: Staff, email: str, change: DeskChange,
                 fields: set[str]) -> dict[str, Any]:
    resources = _resources(request)
    store = resources.staff
    member = await store.get(email)
    if member is None:
        raise ValueError("no staff account with that email")
    own = member.email == staff.email
    if own and (change.disabled or change.role == "agent"):
        raise ValueError("an admin cannot disable or demote their own account")
    if "role" in fields and change.role:
        await store.set_role(member.email, Role(change.role))
    if "display_name" in fields:
        await store.set_display_name(member.email, change.display_name)
    desk = {k: getattr(change, k) for k in ("team", "available", "max_open", "disabled")
            if k in fields and (getattr(change, k) is not None or k == "team")}
    profile = await StaffDesk(resources.db).change(member.email, **desk)
    fresh = await store.get(member.email)
    assert fresh is not None
    return {**fresh.model_dump(mode="json"), "team": profile.team,
            "available": profile.available, "max_open": profile.max_open,
            "disabled": profile.disabled}


async def desk_api(request: Request, staff: Staff) -> Response:
    change = await read_json(request, DeskChange)
    return JSONResponse(await _apply(request, staff, request.path_params["email"], change,
                                     change.model_fields_set))


async def availability_api(request: Request, staff: Staff) -> Response:
    body = await read_json(request, Availability)
    profile = await StaffDesk(_resources(request).db).change(staff.email,
                                                            available=body.available)
    return JSONResponse({"available": profile.available})


async def page(request: Request, staff: Staff, *, error: str | None = None,
               status: int = 200) -> Response:
    if not staff.is_admin:
        return error_response(403, "forbidden", "only an admin can manage staff")
    resources = _resources(request)
    desk = StaffDesk(resources.db)
    profiles, counts = await desk.all(), await desk.open_counts()
    members = [{"member": m, "profile": profiles.get(m.email), "open": counts.get(m.email, 0)}
               for m in await resources.staff.list()]
    return _render(request, "inbox/staff.html", {
        "staff": staff, "members": members, "error": error}, status)


async def add_form(request: Request, staff: Staff) -> Response:
    if not staff.is_admin:
        return error_response(403, "forbidden", "only an admin can manage staff")
    form = await request.form()
    store = _resources(request).staff
    try:
        role = Role(str(form.get("role") or "agent"))
        member = await store.add(str(form.get("email") or ""), role,
                                 str(form.get("password") or ""))
        if form.get("display_name"):
            await store.set_display_name(member.email, str(form.get("display_name")))
    except (AccountError, ValueError) as exc:
        return await page(request, staff, error=f"Not added: {exc}", status=422)
    return RedirectResponse("/inbox/staff", 303)


async def update_form(request: Request, staff: Staff) -> Response:
    if not staff.is_admin:
        return error_response(403, "forbidden", "only an admin can manage staff")
    form = await request.form()
    try:
        change = DeskChange(
            role=str(form.get("role")) if form.get("role") else None,
            display_name=str(form.get("display_name") or "") or None,
            team=str(form.get("team") or "") or None,
            available=form.get("available") == "on",
            max_open=int(str(form.get("max_open") or 10)),
            disabled=form.get("disabled") == "on")
        await _apply(request, staff, request.path_params["email"], change,
                     {"role", "display_name", "team", "available", "max_open", "disabled"})
    except (AccountError, ValueError) as exc:
        return await page(request, staff, error=f"Not changed: {str(exc).splitlines()[0]}",
                          status=422)
    return RedirectResponse("/inbox/staff", 303)


async def password_form(request: Request, staff: Staff) -> Response:
    if not staff.is_admin:
        return error_response(403, "forbidden", "only an admin can manage staff")
    form = await request.form()
    store = _resources(request).staff
    try:
        await store.set_password(request.path_params["email"], str(form.get("password") or ""))
    except AccountError as exc:
        return await page(request, staff, error=f"Password not changed: {exc}", status=422)
    return RedirectResponse("/inbox/staff", 303)


routes = [
    page_route("/inbox/staff", page, methods=["GET"]),
    page_route("/inbox/staff", add_form, methods=["POST"]),
    page_route("/inbox/staff/{email}/update", update_form, methods=["POST"]),
    page_route("/inbox/staff/{email}/password", password_form, methods=["POST"]),
    api_route("/api/inbox/staff/{email}/desk", desk_api, methods=["POST"], admin=True),
    api_route("/api/inbox/me/availability", availability_api, methods=["POST"]),
]
