"""The demo shop page at `/` (with the chat widget), and the first-run default: the
embedded Valkey keeps a conversation, its order changes and tickets across a restart."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from app_harness import auth, make_settings, running, start_session


async def test_the_page_offers_the_chat_and_only_runs_its_own_script(
    api: httpx.AsyncClient,
) -> None:
    response = await api.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text

    csp = response.headers["content-security-policy"]
    nonce = re.search(r"script-src 'nonce-([^']+)'", csp)
    assert nonce is not None
    assert page.count("<script") == 1  # the chat widget, added with the shop's one tag
    assert re.search(rf'<script src="/widget.js" nonce="{nonce.group(1)}"', page)
    assert "innerHTML" not in page and "onclick=" not in page

    again = await api.get("/")
    assert again.headers["content-security-policy"] != csp  # a fresh nonce each time


@pytest.fixture
def short_data_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="ohb-") as folder:
        yield Path(folder)


async def test_a_restart_keeps_the_conversation_and_the_orders_changes(
    short_data_dir: Path,
) -> None:
    settings = make_settings(None, short_data_dir)
    assert settings.redis_url is None

    async with running(settings) as client:
        token, _ = await start_session(client)
        headers = auth(token)
        for n, body in enumerate(
            [
                {"text": "menu"},
                {"payload": "m:cancel"},
                {"text": "100001"},
                {"text": "priya.sharma@example.in"},
            ]
        ):
            response = await client.post(
                "/api/chat/messages", json={"message_id": f"a{n}", **body}, headers=headers
            )
            assert response.status_code == 200, response.text
        confirm = [b["payload"] for r in response.json()["replies"] for b in r["buttons"]]
        assert "yes" in confirm
        done = await client.post(
            "/api/chat/messages", json={"message_id": "a9", "payload": "yes"}, headers=headers
        )
        assert done.json()["replies"][0]["key"] == "done.cancel"

    assert (short_data_dir / "appendonlydir").is_dir()

    async with running(settings) as client:  # a new process on the same DATA_DIR
        again = await client.post(
            "/api/chat/messages",
            json={"message_id": "b1", "payload": "m:cancel"},
            headers=auth(token),
        )
        assert again.status_code == 200
        # The session remembers that this shopper proved order 100001 ...
        refused = await client.post(
            "/api/chat/messages", json={"message_id": "b2", "text": "100001"}, headers=auth(token)
        )
        # ... and the shop remembers that it was cancelled.
        first = refused.json()["replies"][0]
        assert first["key"] == "refusal.header"
        assert "already been cancelled" in first["text"]
