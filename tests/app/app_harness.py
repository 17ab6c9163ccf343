"""Helpers for driving the app: settings for tests, the app running with its
lifespan (as a server runs it), and small request helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from starlette.types import Receive, Scope, Send

from app.main import create_app
from app.settings import Settings

WEB_CHAT_SECRET = "test-web-chat-secret"
IDENTITY_SECRET = "test-shop-identity-secret"


def make_settings(redis_url: str | None, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "data_dir": data_dir,
        "web_chat_secret": WEB_CHAT_SECRET,
        "web_identity_secret": IDENTITY_SECRET,
        "worker_in_process": False,
        "_env_file": None,
    }
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan entered, as a server would run it: the lifespan's
    state reaches each request's `request.state`."""
    app = create_app(settings)
    async with app.router.lifespan_context(app) as state:

        async def with_state(scope: Scope, receive: Receive, send: Send) -> None:
            scope["state"] = dict(state or {})
            await app(scope, receive, send)

        transport = httpx.ASGITransport(app=with_state)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def start_session(client: httpx.AsyncClient, body: Any = None) -> tuple[str, str]:
    response = await client.post("/api/chat/sessions", json=body)
    assert response.status_code == 201, response.text
    data = response.json()
    return data["token"], data["conversation"]


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
