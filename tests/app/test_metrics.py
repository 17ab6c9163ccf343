"""`GET /metrics` as Prometheus and an operator see it: counters that move when
shoppers chat, numbers from every process, the outbox and tickets read from
Redis, and no answer at all for a stranger."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from app_harness import auth, make_settings, start_session
from channel_harness import SECRET_HEADER, channel_settings
from inbox_harness import WebShopper
from prometheus_client import REGISTRY, CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families
from starlette.types import Receive, Scope, Send

from app.main import create_app
from app.metrics import Board, counting_deliveries
from app.settings import Settings
from conversation.outbox import Outbox, OutboxMessage, RetryPolicy, SendLater, Undeliverable
from conversation.types import Channel, Reply
from tests.channel_payloads import telegram_update

LOCAL = ("127.0.0.1", 50000)
ROOT = Path(__file__).resolve().parents[2]


@asynccontextmanager
async def app_client(
    settings: Settings, client: tuple[str, int] = LOCAL
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan, as seen from `client` (address, port)."""
    app = create_app(settings)
    async with app.router.lifespan_context(app) as state:

        async def with_state(scope: Scope, receive: Receive, send: Send) -> None:
            scope["state"] = dict(state or {})
            await app(scope, receive, send)

        transport = httpx.ASGITransport(app=with_state, client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum over every series of `name` whose labels include `labels` (all processes)."""
    wanted = set(labels.items())
    return sum(v for (n, have), v in samples.items() if n == name and wanted <= have)


async def scrape(client: httpx.AsyncClient, **headers: str) -> Samples:
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


async def chat_turn(client: httpx.AsyncClient, message_id: str = "m1") -> None:
    token, _ = await start_session(client)
    answer = await client.post("/api/chat/messages", json={"message_id": message_id,
                                                           "text": "menu"},
                               headers=auth(token))
    assert answer.status_code == 200


async def test_the_turn_counter_rises_after_a_chat_turn(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path
) -> None:
    async with app_client(make_settings(redis_url, tmp_path)) as client:
        before = await scrape(client)
        await chat_turn(client)
        after = await scrape(client)
    turns = "orderhelp_turns_total"
    assert value(after, turns, channel="web", outcome="answered") == value(
        before, turns, channel="web", outcome="answered") + 1
    latency = "orderhelp_turn_seconds_count"
    assert value(after, latency, channel="web") == value(before, latency, channel="web") + 1


async def test_a_request_without_the_token_is_refused(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path
) -> None:
    settings = make_settings(redis_url, tmp_path, metrics_token="scrape-me-0123456789")
    async with app_client(settings) as client:  # loopback is not enough once a token is set
        refused = await client.get("/metrics")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert "orderhelp" not in refused.text
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer not-it"})
        assert wrong.status_code == 401
        await chat_turn(client)
        samples = await scrape(client, Authorization="Bearer scrape-me-0123456789")
    assert value(samples, "orderhelp_turns_total", channel="web") >= 1


async def test_without_settings_only_this_machine_may_read_them(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path
) -> None:
    settings = make_settings(redis_url, tmp_path)
    async with app_client(settings, client=("203.0.113.9", 4000)) as stranger:
        assert (await stranger.get("/metrics")).status_code == 403
    async with app_client(settings) as local:
        assert (await local.get("/metrics")).status_code == 200
        # a proxy on this machine passing on a request from the internet: refused
        proxied = await local.get("/metrics", headers={"X-Forwarded-For": "198.51.100.4"})
        assert proxied.status_code == 403
    untrusting = make_settings(redis_url, tmp_path, trusted_proxies="")
    async with app_client(untrusting) as local:
        proxied = await local.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"})
        assert proxied.status_code == 403  # came through a proxy we do not know


async def test_an_allowed_network_reads_them_and_proxies_are_believed_only_when_trusted(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path
) -> None:
    settings = make_settings(redis_url, tmp_path, metrics_allow="10.20.0.0/16",
                             trusted_proxies="192.0.2.10")
    async with app_client(settings, client=("10.20.3.4", 1)) as scraper:
        assert (await scraper.get("/metrics")).status_code == 200
    async with app_client(settings, client=("192.0.2.10", 1)) as balancer:
        through = await balancer.get("/metrics", headers={"X-Forwarded-For": "10.20.9.9"})
        assert through.status_code == 200  # the trusted balancer says who asked
        outside = await balancer.get("/metrics", headers={"X-Forwarded-For": "198.51.100.4"})
        assert outside.status_code == 403
    async with app_client(settings, client=("198.51.100.4", 1)) as liar:
        forged = await liar.get("/metrics", headers={"X-Forwarded-For": "10.20.9.9"})
        assert forged.status_code == 403  # not a trusted proxy: its header means nothing


async def test_outbox_depth_and_age_per_channel_and_tickets_by_status(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path
) -> None:
    outbox = Outbox(redis)
    for n in range(3):
        await outbox.enqueue(Channel.TELEGRAM, f"telegram:{n}", [Reply("k", "hello")])
    await outbox.enqueue(Channel.WHATSAPP, "whatsapp:+919800000001", [Reply("k", "hi")])
    await asyncio.sleep(0.05)
    async with app_client(make_settings(redis_url, tmp_path)) as client:
        shopper = WebShopper(client)
        await shopper.hand_off()
        samples = await scrape(client)
    assert value(samples, "orderhelp_outbox_backlog") == 4
    assert value(samples, "orderhelp_outbox_queued", channel="telegram") == 3
    assert value(samples, "orderhelp_outbox_queued", channel="whatsapp") == 1
    assert 0.05 <= value(samples, "orderhelp_outbox_oldest_age_seconds", channel="telegram") < 60
    assert value(samples, "orderhelp_tickets", status="open") == 1
    assert value(samples, "orderhelp_tickets", status="pending") == 0
    assert value(samples, "orderhelp_tickets_opened_total", kind="handoff", channel="web") >= 1
    assert value(samples, "orderhelp_worker_up") == 0  # these tests run no worker


async def test_a_scrape_shows_every_live_process(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path
) -> None:
    """A worker in another container counts its deliveries in its own memory and
    publishes them; the web process that is scraped answers for it."""
    registry = CollectorRegistry()
    sent = Counter("orderhelp_deliveries", "deliveries", ["channel", "result"],
                   registry=registry)
    sent.labels("telegram", "sent").inc(7)
    worker = Board(redis, "ohb:", "worker-elsewhere-1", registry=registry)
    await worker.publish()
    async with app_client(make_settings(redis_url, tmp_path)) as client:
        samples = await scrape(client)
        assert value(samples, "orderhelp_deliveries_total", channel="telegram", result="sent",
                     process="worker-elsewhere-1") == 7
        await worker.withdraw()  # a clean stop: its series go at once
        samples = await scrape(client)
    assert value(samples, "orderhelp_deliveries_total", process="worker-elsewhere-1") == 0


async def test_a_refused_webhook_is_counted(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path
) -> None:
    async with app_client(channel_settings(redis_url, tmp_path)) as client:
        before = await scrape(client)
        refused = await client.post("/webhooks/telegram", json=telegram_update("text"),
                                    headers={SECRET_HEADER: "wrong"})
        assert refused.status_code == 403
        after = await scrape(client)
    name = "orderhelp_webhook_refused_total"
    assert value(after, name, webhook="telegram") == value(before, name, webhook="telegram") + 1


async def test_each_delivery_attempt_is_counted_by_result() -> None:
    def count(result: str) -> float:
        labels = {"channel": "telegram", "result": result}
        return REGISTRY.get_sample_value("orderhelp_deliveries_total", labels) or 0.0

    outcomes: list[BaseException | None] = [None, SendLater(0), RuntimeError("502"),
                                            Undeliverable("blocked")]

    async def deliver(message: OutboxMessage) -> None:
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome

    counted = counting_deliveries(deliver, RetryPolicy(max_attempts=3))
    message = OutboxMessage("1-0", Channel.TELEGRAM, "telegram:1", (), 0, datetime.now(UTC))
    before = {r: count(r) for r in ("sent", "rate_limited", "retried", "failed",
                                    "dead_lettered")}
    await counted(message)
    for _ in range(3):
        with pytest.raises((SendLater, RuntimeError, Undeliverable)):
            await counted(message)
    last_try = OutboxMessage("2-0", Channel.TELEGRAM, "telegram:1", (), 2, message.created_at)
    outcomes.append(RuntimeError("502"))
    with pytest.raises(RuntimeError):
        await counted(last_try)
    after: dict[str, Any] = {r: count(r) - before[r] for r in before}
    assert after == {"sent": 1, "rate_limited": 1, "retried": 1, "failed": 1,
                     "dead_lettered": 1}


async def test_an_empty_token_setting_is_no_token(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path
) -> None:
    """`METRICS_TOKEN=` as .env.example has it: only this machine, never `Bearer `."""
    settings = make_settings(redis_url, tmp_path, metrics_token="")
    assert settings.metrics_token is None
    async with app_client(settings, client=("203.0.113.9", 4000)) as stranger:
        assert (await stranger.get("/metrics", headers={"Authorization": "Bearer "})
                ).status_code == 403


async def test_the_grafana_dashboard_asks_only_for_metrics_the_bot_serves(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path
) -> None:
    dashboard = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    asked = {re.sub(r"_(bucket|sum|count)$", "", name)
             for e in exprs for name in re.findall(r"orderhelp_[a-z_]+", e)}
    async with app_client(make_settings(redis_url, tmp_path)) as client:
        served = (await client.get("/metrics")).text
    typed = set(re.findall(r"^# TYPE (orderhelp_[a-z_]+) ", served, flags=re.MULTILINE))
    assert asked and asked <= typed, asked - typed
