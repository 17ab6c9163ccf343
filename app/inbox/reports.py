"""Reports: `GET /api/inbox/reports?from=YYYY-MM-DD&to=YYYY-MM-DD` (JSON) and the
`/inbox/reports` page with its charts (SVG drawn here). Any member of staff may
read them: they hold counts and times, nothing about a shopper. Malformed dates,
`from` after `to`, a span over a year or dates out of range answer 422.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.inbox.auth import Staff
from app.inbox.charts import horizontal_bars, stacked_bars
from app.inbox.http import api_route, page_route
from app.inbox.pages import _render
from app.resources import REDIS_DOWN, Resources
from conversation import reports
from conversation.hours import BusinessHours


async def _report(request: Request) -> dict[str, Any]:
    resources: Resources = request.state.resources
    days = resources.engine.days
    period = reports.Period.parse(request.query_params.get("from"),
                                  request.query_params.get("to"),
                                  datetime.now(days.zone).date())
    hours = BusinessHours.parse(resources.settings.business_hours, resources.settings.timezone)
    with contextlib.suppress(*REDIS_DOWN):  # the latest turns' audit entries count too
        await resources.engine.audit.flush_pending()
    return await reports.build(resources.db, days, hours, period)


async def report_json(request: Request, staff: Staff) -> Response:
    return JSONResponse(await _report(request))


def _hours(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 3600:
        return f"{seconds // 60} min"
    return f"{seconds / 3600:.1f} h"


async def report_page(request: Request, staff: Staff) -> Response:
    try:
        report = await _report(request)
    except reports.BadPeriod as exc:
        return _render(request, "inbox/reports.html", {
            "staff": staff, "error": str(exc), "report": None,
            "wanted": {"from": request.query_params.get("from", ""),
                       "to": request.query_params.get("to", "")}}, 422)
    days = report["per_day"]
    charts = {
        "conversations": stacked_bars(
            "Conversations per day", [d["date"] for d in days],
            [("settled by the bot", [d["settled_by_bot"] for d in days]),
             ("with a ticket", [d["conversations"] - d["settled_by_bot"] for d in days])]),
        "csat": horizontal_bars("Satisfaction", [
            (f"{'★' * int(score)}", n) for score, n in report["csat"]["distribution"].items()]),
        "reasons": horizontal_bars("Hand-off reasons", list(
            report["handoffs"]["reasons"].items())),
        "refusals": horizontal_bars("Refusals by reason", list(
            report["refusals"]["by_reason"].items())),
        "channels": horizontal_bars("Conversations per channel", [
            (channel, data["conversations"]) for channel, data in report["per_channel"].items()]),
    }
    return _render(request, "inbox/reports.html", {
        "staff": staff, "report": report, "charts": charts, "error": None, "hours": _hours,
        "wanted": {"from": report["from"], "to": report["to"]}})


routes = [
    api_route("/api/inbox/reports", report_json, methods=["GET"]),
    page_route("/inbox/reports", report_page, methods=["GET"]),
]
