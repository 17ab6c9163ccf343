"""Staff management from the inbox (add, role, name, team, disable, password),
round-robin assignment over available agents with a cap, and presence."""

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

OTHER = "other@shop.example"


@pytest.fixture
async def client(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    async with running(inbox_settings(redis_url, tmp_path, desk_auto_assign=True)) as client:
        yield client


async def test_an_admin_manages_accounts_and_a_disabled_one_cannot_log_in(
    client: httpx.AsyncClient
) -> None:
    csrf = await api_login(client)
    await add_agent(client, csrf)
    changed = await client.post(f"/api/inbox/staff/{AGENT}/desk", headers=csrf, json={
        "display_name": "Asha", "team": "returns", "max_open": 3, "role": "admin"})
    assert changed.status_code == 200, changed.text
    assert changed.json() | {"created_at": None} == {
        "email": AGENT, "role": "admin", "display_name": "Asha", "team": "returns",
        "available": False, "max_open": 3, "disabled": False, "created_at": None}
    own = await client.post(f"/api/inbox/staff/{ADMIN}/desk", headers=csrf,
                            json={"disabled": True})
    assert own.status_code == 422
    page = await client.get("/inbox/staff")
    assert page.status_code == 200 and f'data-email="{AGENT}"' in page.text

    agent = httpx.AsyncClient(transport=client._transport, base_url=client.base_url)
    await api_login(agent, AGENT, AGENT_PASSWORD)
    assert (await agent.get("/api/inbox/me")).status_code == 200
    disabled = await client.post(f"/api/inbox/staff/{AGENT}/desk", headers=csrf,
                                 json={"disabled": True})
    assert disabled.json()["disabled"] is True
    assert (await agent.get("/api/inbox/me")).status_code == 401  # its session ended
    refused = await agent.post("/api/inbox/session",
                               json={"email": AGENT, "password": AGENT_PASSWORD})
    assert refused.status_code == 401
    form = await client.post(f"/inbox/staff/{AGENT}/password",
                             data={"csrf": csrf["X-CSRF-Token"], "password": "short"})
    assert form.status_code == 422 and 'role="alert"' in form.text
    await agent.aclose()


async def test_new_tickets_go_round_robin_to_available_agents_within_their_cap(
    client: httpx.AsyncClient
) -> None:
    csrf = await api_login(client)
    for email in (AGENT, OTHER):
        await add_agent(client, csrf, email)
        await client.post(f"/api/inbox/staff/{email}/desk", headers=csrf,
                          json={"available": True, "max_open": 2})
    for n in range(5):
        await WebShopper(client).hand_off(f"Problem number {n}")
    listed = (await client.get("/api/inbox/tickets")).json()["tickets"]
    assignees = {t["id"]: t["assignee"] for t in listed}
    assert assignees == {"T-1001": AGENT, "T-1002": OTHER, "T-1003": AGENT,
                         "T-1004": OTHER, "T-1005": None}  # both at their cap
    moved = await client.post("/api/inbox/tickets/T-1005/assign", headers=csrf,
                              json={"assignee": AGENT})
    assert moved.json()["assignee"] == AGENT  # reassignment by hand ignores the cap


async def test_others_viewing_and_typing_are_shown_but_not_oneself(
    client: httpx.AsyncClient
) -> None:
    csrf = await api_login(client)
    await add_agent(client, csrf)
    await WebShopper(client).hand_off()
    agent = httpx.AsyncClient(transport=client._transport, base_url=client.base_url)
    agent_csrf = await api_login(agent, AGENT, AGENT_PASSWORD)
    url = "/api/inbox/tickets/T-1001/presence"
    assert (await agent.post(url, headers=agent_csrf, json={"state": "typing"})).status_code \
        == 204
    assert (await agent.post(url, json={"state": "typing"})).status_code == 403  # no CSRF
    seen = (await client.get(url)).json()["others"]
    assert seen == [{"email": AGENT, "name": "Agent", "state": "typing"}]
    assert (await agent.get(url)).json()["others"] == []
    assert (await client.post(url, headers=csrf, json={"state": "dancing"})).status_code == 422
    assert (await client.get("/api/inbox/tickets/nope/presence")).status_code == 404
    await agent.aclose()


async def test_an_agent_sees_their_teams_queue(client: httpx.AsyncClient) -> None:
    csrf = await api_login(client)
    await add_agent(client, csrf)
    await client.post(f"/api/inbox/staff/{AGENT}/desk", headers=csrf, json={"team": "returns"})
    await WebShopper(client).hand_off("First")
    await WebShopper(client).hand_off("Second")
    moved = await client.post("/api/inbox/tickets/T-1002/team", headers=csrf,
                              json={"team": "returns"})
    assert moved.json()["team"] == "returns"
    agent = httpx.AsyncClient(transport=client._transport, base_url=client.base_url)
    await api_login(agent, AGENT, AGENT_PASSWORD)
    queue = (await agent.get("/api/inbox/tickets?who=team")).json()["tickets"]
    assert [t["id"] for t in queue] == ["T-1002"]
    mine = (await client.get("/api/inbox/tickets?who=team")).json()["tickets"]
    assert mine == []  # the admin has no team
    await agent.aclose()


async def test_control_characters_in_filters_and_names_are_refused_or_dropped(
    client: httpx.AsyncClient
) -> None:
    csrf = await api_login(client)
    await WebShopper(client).hand_off()
    listed = await client.get("/api/inbox/tickets", params={"team": "a\x00b", "tag": "x\x00"})
    assert listed.status_code == 200 and listed.json()["tickets"] == []
    bad = await client.post("/api/inbox/tickets/T-1001/team", headers=csrf,
                            json={"team": "re\x00turns"})
    assert bad.status_code == 422
