"""The ceiling: one Starlette route that reads and parses a JSON body and answers 200.

Started by `benchmarks.serve` exactly like the bot (one uvicorn worker, uvloop,
httptools, the same log configuration, the same core), so the ratio between the
two measures what the bot's own work costs, not the server around it.
"""

from __future__ import annotations

import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def parse_and_answer(request: Request) -> Response:
    json.loads(await request.body())
    return Response(b'{"ok":true}', media_type="application/json")


def create_app() -> Starlette:
    return Starlette(routes=[Route("/bare", parse_and_answer, methods=["POST"])])
