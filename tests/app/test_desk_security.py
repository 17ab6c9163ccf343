"""Every route the desk adds, enumerated from the app: anonymous requests are
refused (API 401, pages to the login page), changes without the CSRF token are
refused (403), and the admin-only ones refuse an agent (403)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from app_harness import running
from inbox_harness import (
    ADMIN,
    AGENT,
    AGENT_PASSWORD,
    WebShopper,
    add_agent,
    api_login,
    inbox_settings,
)
from starlette.routing import Route

from app.inbox import desk_routes

ADMIN_ONLY = {
    "/api/inbox/export/tickets.csv", "/api/inbox/export/tickets.jsonl",
    "/api/inbox/privacy/export", "/api/inbox/privacy/erase", "/api/inbox/privacy/requests",
    "/inbox/privacy", "/inbox/privacy/export", "/inbox/privacy/erase",
    "/api/inbox/staff/{email}/desk", "/inbox/staff", "/inbox/staff/{email}/update",
    "/inbox/staff/{email}/password",
}


def desk_paths() -> list[tuple[str, str, str]]:
    found = []
    for route in desk_routes.routes:
        assert isinstance(route, Route)
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                found.append((method, route.path, route.path.replace(
                    "{ticket_id}", "T-1001").replace("{email}", ADMIN)))
    return found


@pytest.fixture
async def client(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    async with running(inbox_settings(redis_url, tmp_path)) as client:
        yield client


def test_the_admin_list_names_real_routes() -> None:
    assert {template for _method, template, _path in desk_paths()} >= ADMIN_ONLY


async def test_anonymous_requests_are_refused_everywhere(client: httpx.AsyncClient) -> None:
    paths = desk_paths()
    assert len(paths) == 24  # every desk route: a new one gets checked here too
    for method, _template, path in paths:
        response = await client.request(method, path)
        if path.startswith("/api/") or method != "GET":
            assert response.status_code == 401, (method, path, response.status_code)
        else:
            assert response.status_code == 303, (method, path)
            assert response.headers["location"].startswith("/inbox/login?next=")


async def test_changes_need_the_csrf_token(client: httpx.AsyncClient) -> None:
    await WebShopper(client).hand_off()
    await api_login(client)
    for method, _template, path in desk_paths():
        if method == "GET":
            continue
        response = await client.request(method, path, json={})
        assert response.status_code == 403, (method, path, response.status_code)


async def test_agents_are_refused_what_only_admins_do(client: httpx.AsyncClient) -> None:
    await WebShopper(client).hand_off()
    csrf = await api_login(client)
    await add_agent(client, csrf)
    await client.delete("/api/inbox/session", headers=csrf)
    agent = await api_login(client, AGENT, AGENT_PASSWORD)
    for method, template, path in desk_paths():
        if template not in ADMIN_ONLY:
            continue
        if path.startswith("/api/"):
            response = await client.request(method, path, headers=agent, json={})
        elif method == "GET":
            response = await client.get(path)
        else:
            response = await client.post(path, data={"csrf": agent["X-CSRF-Token"]})
        assert response.status_code == 403, (method, path, response.status_code)
