"""The web chat API as a browser (or the shop's widget) uses it: sessions, messages,
buttons, identity, and every way a request can be wrong."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from app_harness import (
    IDENTITY_SECRET,
    WEB_CHAT_SECRET,
    auth,
    make_settings,
    running,
    start_session,
)

from channels.web import MAX_BODY_BYTES, TokenSigner, WebSession, sign_customer

PRIYA = "priya.sharma@example.in"  # a demo customer with orders 100001 and 100018 to track


async def send(
    client: httpx.AsyncClient, token: str, message_id: str, **body: Any
) -> httpx.Response:
    return await client.post(
        "/api/chat/messages", json={"message_id": message_id, **body}, headers=auth(token)
    )


def keys(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [reply["key"] for reply in response.json()["replies"]]


def payloads(response: httpx.Response) -> list[str]:
    return [b["payload"] for reply in response.json()["replies"] for b in reply["buttons"]]


async def all_keys(redis: aioredis.Redis) -> dict[bytes, Any]:
    """A snapshot of the database, to show a refused request changed nothing."""
    snapshot: dict[bytes, Any] = {}
    async for key in redis.scan_iter(count=1000):
        snapshot[key] = await redis.dump(key)
    return snapshot


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]


async def test_a_session_chats_with_buttons_and_links(api: httpx.AsyncClient) -> None:
    token, conversation = await start_session(api, {"locale": "en"})
    assert conversation.startswith("web:")

    menu = await send(api, token, "m1", text="menu")
    assert keys(menu)[-1] == "menu.prompt"
    assert "m:track" in payloads(menu)
    reply = menu.json()["replies"][-1]
    assert reply["text"] == "What can I help you with?"
    assert {"label": "Track order", "payload": "m:track"} in reply["buttons"]
    assert menu.json()["duplicate"] is False

    ask = await send(api, token, "m2", payload="m:track")
    assert keys(ask) == ["order.ask"]
    await send(api, token, "m3", text="100003")
    snapshot = await send(api, token, "m4", text="ananya.iyer@example.in")
    replies = snapshot.json()["replies"]
    assert "Order #100003" in replies[0]["text"]
    links = [link for reply in replies for link in reply["links"]]
    assert links and links[0]["url"].startswith("https://")


async def test_a_repeated_message_id_is_answered_once(api: httpx.AsyncClient) -> None:
    token, _ = await start_session(api)
    first = await send(api, token, "same-id", text="menu")
    again = await send(api, token, "same-id", text="menu")
    assert again.json()["duplicate"] is True
    assert again.json()["replies"] == first.json()["replies"]


async def test_an_empty_body_or_a_foreign_locale_still_starts_a_session(
    api: httpx.AsyncClient,
) -> None:
    response = await api.post("/api/chat/sessions")
    assert response.status_code == 201
    token, _ = await start_session(api, {"locale": "fr-FR"})
    assert keys(await send(api, token, "m1", text="menu"))[-1] == "menu.prompt"


@pytest.mark.parametrize(
    "text", ["", "   ", "👋📦", "मेरा ऑर्डर कहाँ है", "订单在哪里", "¿Dónde está?", "x" * 1000]
)
async def test_any_text_gets_an_answer(api: httpx.AsyncClient, text: str) -> None:
    token, _ = await start_session(api)
    response = await send(api, token, "m1", text=text)
    assert keys(response), "every message gets at least one reply"
    assert all(reply["text"] for reply in response.json()["replies"])


async def test_an_unknown_button_payload_gets_the_choices_again(api: httpx.AsyncClient) -> None:
    token, _ = await start_session(api)
    await send(api, token, "m1", text="menu")
    response = await send(api, token, "m2", payload="o:999999-forged")
    assert "m:track" in payloads(response)


async def test_a_signed_customer_is_known_to_the_bot(api: httpx.AsyncClient) -> None:
    signature = sign_customer(PRIYA, IDENTITY_SECRET)
    token, _ = await start_session(api, {"customer": {"email": PRIYA, "signature": signature}})
    await send(api, token, "m1", text="menu")
    listed = await send(api, token, "m2", payload="m:track")
    assert keys(listed) == ["orders.pick"]
    assert {"o:100001", "o:100018"} <= set(payloads(listed))


async def test_a_forged_customer_signature_gives_an_ordinary_session(
    api: httpx.AsyncClient,
) -> None:
    forged = {"customer": {"email": PRIYA, "signature": "ab" * 32}}
    response = await api.post("/api/chat/sessions", json=forged)
    assert response.status_code == 201
    assert set(response.json()) == {"token", "conversation"}  # nothing tells it apart
    token = response.json()["token"]
    await send(api, token, "m1", text="menu")
    assert keys(await send(api, token, "m2", payload="m:track")) == ["order.ask"]


async def test_a_session_survives_in_the_token_across_app_instances(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path
) -> None:
    """Without WEB_CHAT_SECRET, the generated one is kept in Redis: a token from one
    process (or before a restart) works in another."""
    settings = make_settings(redis_url, tmp_path, web_chat_secret=None)
    async with running(settings) as first:
        token, _ = await start_session(first)
        assert keys(await send(first, token, "m1", text="menu"))[-1] == "menu.prompt"
    async with running(settings) as second:
        ask = await send(second, token, "m2", payload="m:track")
        assert keys(ask) == ["order.ask"]


# --- refused requests: a clear error, and nothing changed ------------------------


async def test_forged_expired_and_foreign_tokens_are_refused(
    api: httpx.AsyncClient, redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, conversation = await start_session(api)
    await send(api, token, "m1", text="menu")
    other_token, other_conversation = await start_session(api)
    before = await all_keys(redis)

    forged = TokenSigner("not-the-real-secret").issue(WebSession(conversation[4:]))
    expired = TokenSigner(WEB_CHAT_SECRET).issue(WebSession(conversation[4:]))
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for bad in (forged, tampered, "not-a-token"):
        assert_error(await send(api, bad, "m2", payload="m:track"), 401, "invalid_token")
    response = await send(api, other_token, "m2", payload="m:track", conversation=conversation)
    assert_error(response, 401, "invalid_token")
    assert "another conversation" in response.json()["error"]["message"]
    missing = await api.post("/api/chat/messages", json={"message_id": "m2", "text": "hi"})
    assert_error(missing, 401, "invalid_token")
    assert missing.headers["www-authenticate"].startswith("Bearer")

    later = time.time() + timedelta(days=31).total_seconds()
    monkeypatch.setattr(time, "time", lambda: later)
    response = await send(api, expired, "m2", payload="m:track")
    assert_error(response, 401, "invalid_token")
    assert "expired" in response.json()["error"]["message"]
    monkeypatch.undo()

    assert await all_keys(redis) == before
    # The real owner carries on where they were.
    assert keys(await send(api, token, "m2", payload="m:track")) == ["order.ask"]
    assert other_conversation != conversation


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "malformed_body"),
        (b"", 400, "malformed_body"),
        (b"\xff\xfe\x00", 400, "malformed_body"),
        (b'{"message_id": "m1"}', 422, "invalid_request"),
        (b'{"message_id": "m1", "text": "a", "payload": "b"}', 422, "invalid_request"),
        (b'{"message_id": "bad id!", "text": "a"}', 422, "invalid_request"),
        (json.dumps({"message_id": "m1", "text": "x" * 1001}).encode(), 422, "invalid_request"),
        (json.dumps({"message_id": "m1", "payload": "p" * 201}).encode(), 422, "invalid_request"),
        (b'["message_id", "text"]', 422, "invalid_request"),
    ],
)
async def test_bad_bodies_get_a_clear_4xx_and_change_nothing(
    api: httpx.AsyncClient, redis: aioredis.Redis, body: bytes, status: int, code: str
) -> None:
    token, _ = await start_session(api)
    before = await all_keys(redis)
    response = await api.post(
        "/api/chat/messages",
        content=body,
        headers={**auth(token), "Content-Type": "application/json"},
    )
    assert_error(response, status, code)
    if status == 422:
        assert response.json()["error"]["details"]
    assert await all_keys(redis) == before


async def test_oversized_bodies_are_refused_by_length_and_while_streaming(
    api: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    token, _ = await start_session(api)
    before = await all_keys(redis)
    big = json.dumps({"message_id": "m1", "text": "x" * (MAX_BODY_BYTES + 10)}).encode()
    declared = await api.post("/api/chat/messages", content=big, headers=auth(token))
    assert_error(declared, 413, "body_too_large")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked
        for start in range(0, len(big), 4096):
            yield big[start : start + 4096]

    streamed = await api.post("/api/chat/messages", content=chunks(), headers=auth(token))
    assert "content-length" not in streamed.request.headers
    assert_error(streamed, 413, "body_too_large")
    sessions = await api.post("/api/chat/sessions", content=big)
    assert_error(sessions, 413, "body_too_large")
    assert await all_keys(redis) == before


async def test_bad_session_requests_are_refused(api: httpx.AsyncClient) -> None:
    bad_customer = {"customer": {"email": PRIYA, "id": "C1", "signature": "ab"}}
    assert_error(await api.post("/api/chat/sessions", json=bad_customer), 422, "invalid_request")
    bad_locale = {"locale": "<script>"}
    assert_error(await api.post("/api/chat/sessions", json=bad_locale), 422, "invalid_request")
    assert_error(await api.post("/api/chat/sessions", content=b"{"), 400, "malformed_body")


async def test_unknown_routes_and_methods_answer_json(api: httpx.AsyncClient) -> None:
    assert_error(await api.get("/api/chat/nothing"), 404, "not_found")
    assert_error(await api.get("/api/chat/messages"), 405, "method_not_allowed")


async def test_logs_carry_no_texts_tokens_or_contacts(
    api: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    signature = sign_customer(PRIYA, IDENTITY_SECRET)
    token, conversation = await start_session(
        api, {"customer": {"email": PRIYA, "signature": signature}}
    )
    await send(api, token, "m1", text="call me on +919812345678 secret-words")
    await send(api, token, "m2", text="priya.sharma@example.in")
    logged = caplog.text
    assert logged  # the requests were logged, just not their contents
    for private in (token, conversation, PRIYA, "+919812345678", "secret-words"):
        assert private not in logged


# --- Redis unreachable ----------------------------------------------------------


async def test_an_unreachable_redis_gives_503s_not_tracebacks(
    closed_port_url: str, tmp_path: Path
) -> None:
    async with running(make_settings(closed_port_url, tmp_path)) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
        assert (ready.status_code, ready.json()) == (
            503, {"redis": "unreachable", "database": "starting",
                  "worker": "unknown"})

        token, _ = await start_session(client)  # the secret is set: no Redis needed
        response = await send(client, token, "m1", text="menu")
        assert_error(response, 503, "unavailable")
        assert response.headers["retry-after"]

    settings = make_settings(closed_port_url, tmp_path, web_chat_secret=None)
    async with running(settings) as client:
        assert_error(await client.post("/api/chat/sessions"), 503, "unavailable")


async def test_readyz_and_healthz_when_redis_is_up(api: httpx.AsyncClient) -> None:
    assert (await api.get("/healthz")).json() == {"status": "ok"}
    ready = await api.get("/readyz")
    # these tests run no worker (WORKER_IN_PROCESS=false): still ready, and it says so
    assert (ready.status_code, ready.json()) == (
        200, {"redis": "ok", "database": "ok", "worker": "missing"})


async def test_a_busy_conversation_asks_the_client_to_retry(
    api: httpx.AsyncClient, redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another turn holds the conversation's lock longer than the engine waits."""
    import conversation.store
    from conversation.keys import Keys

    token, conversation_key = await start_session(api)
    monkeypatch.setattr(conversation.store, "LOCK_WAIT_S", 0.05)
    await redis.set(Keys("ohb:").lock(conversation_key), "someone-else", px=5000)
    busy = await send(api, token, "m1", text="menu")
    assert_error(busy, 503, "busy")
    assert busy.headers["retry-after"] == "1"

    await redis.delete(Keys("ohb:").lock(conversation_key))
    assert keys(await send(api, token, "m1", text="menu"))[-1] == "menu.prompt"


async def test_a_turn_that_lost_its_lock_asks_the_client_to_retry(
    api: httpx.AsyncClient, redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lock is gone when the turn saves (it took longer than the lock lasts, or a
    Redis Cluster failover lost the lock's write): nothing is saved, the client is
    asked to retry, and the retry is answered."""
    from conversation.keys import Keys
    from conversation.store import SessionStore

    token, conversation_key = await start_session(api)
    finish = SessionStore.finish

    async def after_the_lock_expired(self: SessionStore, *args: Any, **kwargs: Any) -> None:
        await redis.set(Keys("ohb:").lock(conversation_key), "someone-else", px=5000)
        await finish(self, *args, **kwargs)

    monkeypatch.setattr(SessionStore, "finish", after_the_lock_expired)
    lost = await send(api, token, "m1", text="menu")
    assert_error(lost, 503, "busy")
    assert lost.headers["retry-after"] == "1"

    monkeypatch.setattr(SessionStore, "finish", finish)
    await redis.delete(Keys("ohb:").lock(conversation_key))
    assert keys(await send(api, token, "m1", text="menu"))[-1] == "menu.prompt"
