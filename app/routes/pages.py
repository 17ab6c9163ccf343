"""The plain page at `/` for trying the bot in a browser."""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from app.resources import Resources
from channels.web import MAX_TEXT_CHARS


async def index(request: Request) -> Response:
    """The page's script and style carry a per-response nonce, so the CSP can forbid
    every other script: text from the chat can never run as code."""
    resources: Resources = request.state.resources
    pages: Jinja2Templates = request.app.state.pages
    nonce = secrets.token_urlsafe(16)
    response = pages.TemplateResponse(
        request,
        "index.html",
        {
            "nonce": nonce,
            "languages": sorted(resources.catalogue.languages),
            "max_text": MAX_TEXT_CHARS,
        },
    )
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


routes = [Route("/", index, methods=["GET"])]
