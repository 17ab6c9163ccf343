"""Driving the support inbox in tests: settings with a first admin, logging in
through the API, and a web shopper who asks for a person."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from app_harness import auth, make_settings, start_session

from app.settings import Settings

ADMIN = "admin@shop.example"
ADMIN_PASSWORD = "correct horse battery"
AGENT = "agent@shop.example"
AGENT_PASSWORD = "agent password 1"


def inbox_settings(redis_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "inbox_admin_email": ADMIN,
        "inbox_admin_password": ADMIN_PASSWORD,
        "inbox_cookie_secret": "test-inbox-cookie-secret",
    }
    values.update(overrides)
    return make_settings(redis_url, data_dir, **values)


async def api_login(client: httpx.AsyncClient, email: str = ADMIN,
                    password: str = ADMIN_PASSWORD) -> dict[str, str]:
    """Log in; the client keeps the cookie. Returns the CSRF header to send."""
    response = await client.post("/api/inbox/session", json={"email": email,
                                                             "password": password})
    assert response.status_code == 200, response.text
    return {"X-CSRF-Token": response.json()["csrf"]}


async def add_agent(client: httpx.AsyncClient, csrf: dict[str, str], email: str = AGENT,
                    password: str = AGENT_PASSWORD) -> None:
    response = await client.post("/api/inbox/staff", headers=csrf,
                                 json={"email": email, "role": "agent", "password": password})
    assert response.status_code == 201, response.text


class WebShopper:
    """A shopper in the web chat, through its JSON API."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.token = ""
        self.count = 0
        self.replies: list[dict[str, Any]] = []

    async def start(self) -> None:
        self.token, self.conversation = await start_session(self.client)

    async def send(self, text: str | None = None, payload: str | None = None) -> list[Any]:
        self.count += 1
        body: dict[str, Any] = {"message_id": f"m{self.count}"}
        body.update({"text": text} if payload is None else {"payload": payload})
        response = await self.client.post("/api/chat/messages", json=body,
                                          headers=auth(self.token))
        assert response.status_code == 200, response.text
        self.replies = response.json()["replies"]
        return self.replies

    @property
    def keys(self) -> list[str]:
        return [r["key"] for r in self.replies]

    async def hand_off(self, issue: str = "My parcel 100006 arrived open") -> None:
        await self.start()
        await self.send("hi")
        await self.send("agent")
        await self.send(issue)
        assert self.keys[0] == "handoff.opened", self.replies
