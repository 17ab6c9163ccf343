"""The carrier webhooks over the real ASGI app, against the real Redis-protocol server:
signed for real, forged ones change nothing, replays change nothing, and what the
carrier said is what the shopper sees when they track the order."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from app_harness import auth, make_settings, running, start_session

from conversation.audit import AuditLog
from records.db import Database

SHIPROCKET_TOKEN = "sr-token-for-tests"
AFTERSHIP_SECRET = "aftership-secret-for-tests"
CARRIER_SECRET = "generic-carrier-secret-for-tests"
ANANYA = "ananya.iyer@example.in"  # order 100003, one package at the courier's facility
ORDER_KEY = "ohb:order:{100003}"


@pytest.fixture
async def api(redis: aioredis.Redis, redis_url: str,
              tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(redis_url, tmp_path, shiprocket_webhook_token=SHIPROCKET_TOKEN,
                             aftership_webhook_secret=AFTERSHIP_SECRET,
                             carrier_webhook_secret=CARRIER_SECRET, quiet_hours="")
    async with running(settings) as client:
        yield client


def signed(data: Any, *, secret: str = CARRIER_SECRET,
           at: int | None = None) -> tuple[bytes, dict[str, str]]:
    """The generic format's documented signing: sha256=HMAC(secret, "<ts>." + body)."""
    body = json.dumps(data).encode()
    stamp = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return body, {"X-Signature": f"sha256={mac}", "X-Timestamp": str(stamp),
                  "Content-Type": "application/json"}


def event(**changes: Any) -> dict[str, Any]:
    data = {"event_id": "evt-ofd-1", "order_number": "100003",
            "tracking_number": "DL7040055433", "carrier": "Delhivery",
            "status": "out_for_delivery", "occurred_at": OCCURRED_AT,
            "location": "Koramangala delivery hub", "description": "Out for delivery"}
    data.update(changes)
    return data


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


OCCURRED_AT = _iso(time.time())
"""One time for the event however often a test sends it: a retry, or the same event
under a new id, is the same event only when its time is the same."""


async def post_generic(api: httpx.AsyncClient, data: Any, **options: Any) -> httpx.Response:
    body, headers = signed(data, **options)
    return await api.post("/webhooks/logistics/generic", content=body, headers=headers)


async def track(api: httpx.AsyncClient, number: str = "100003", email: str = ANANYA) -> str:
    """What a shopper reads when they track the order in the web chat."""
    token, _ = await start_session(api, {"locale": "en"})
    for i, body in enumerate(({"payload": "m:track"}, {"text": number}, {"text": email})):
        response = await api.post("/api/chat/messages", json={"message_id": f"m{i}", **body},
                                  headers=auth(token))
        assert response.status_code == 200, response.text
    return "\n".join(r["text"] for r in response.json()["replies"])


async def test_an_out_for_delivery_update_is_what_the_shopper_sees(
    api: httpx.AsyncClient,
) -> None:
    assert "out for delivery" not in await track(api)
    response = await post_generic(api, event())
    assert response.status_code == 200, response.text
    assert response.json() == {"applied": 1, "duplicates": 0, "unmatched": 0, "rejected": []}
    seen = await track(api)
    assert "out for delivery" in seen
    assert "Koramangala delivery hub" in seen


async def test_an_unknown_status_is_shown_verbatim(api: httpx.AsyncClient) -> None:
    words = "Held at customs: ID proof needed"
    response = await post_generic(api, event(status=words, event_id="evt-customs"))
    assert response.json()["applied"] == 1
    assert f"Latest: {words} at Koramangala delivery hub" in await track(api)


async def test_forged_unsigned_and_stale_requests_are_refused_and_change_nothing(
    api: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    await track(api)  # the demo shop is loaded
    before = await redis.get(ORDER_KEY)
    forged_body, forged = signed(event(), secret="guessed")
    stale_body, stale = signed(event(), at=int(time.time()) - 600)
    for body, headers in ((forged_body, forged), (stale_body, stale),
                          (forged_body, {"Content-Type": "application/json"})):
        response = await api.post("/webhooks/logistics/generic", content=body, headers=headers)
        assert response.status_code == 401, response.text
        assert response.json()["error"]["code"] == "forged"
    wrong_token = await api.post("/webhooks/logistics/shiprocket", json={"awb": 1},
                                 headers={"x-api-key": "guessed"})
    assert wrong_token.status_code == 401
    unsigned = await api.post("/webhooks/logistics/aftership", json={"event": "tracking_update"})
    assert unsigned.status_code == 401
    assert await redis.get(ORDER_KEY) == before
    assert await redis.keys("ohb:carrier:seen:*") == []


async def test_a_replay_changes_nothing(api: httpx.AsyncClient, redis: aioredis.Redis) -> None:
    first = await post_generic(api, event())
    assert first.json()["applied"] == 1
    after_first = await redis.get(ORDER_KEY)
    again = await post_generic(api, event())  # signed afresh: a carrier's retry
    assert again.json() == {"applied": 0, "duplicates": 1, "unmatched": 0, "rejected": []}
    other_id = await post_generic(api, event(event_id="evt-ofd-retry"))  # same event, new id
    assert other_id.json() == {"applied": 0, "duplicates": 1, "unmatched": 0, "rejected": []}
    assert await redis.get(ORDER_KEY) == after_first
    ttl = await redis.ttl("ohb:carrier:seen:generic:evt-ofd-1")
    assert 29 * 24 * 3600 < ttl <= 30 * 24 * 3600


async def test_the_orders_audit_log_records_the_carriers_news_once(
    api: httpx.AsyncClient, db: Database
) -> None:
    await post_generic(api, event())
    await post_generic(api, event())
    await post_generic(api, event(status="Recipient Mr. X not home", event_id="evt-2"))
    log = await AuditLog(db).read("100003")
    assert [(e.who, e.what, e.detail) for e in log] == [
        ("system (generic)", "carrier_update", "out_for_delivery"),
        ("system (generic)", "carrier_update", "unknown"),  # the carrier's words stay out
    ]


async def test_unknown_orders_are_acknowledged_and_counted(
    api: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    response = await post_generic(api, [event(order_number="999999", event_id="e1"),
                                        event(order_number="100016", event_id="e2"), event()])
    assert response.json() == {"applied": 1, "duplicates": 0, "unmatched": 2, "rejected": []}
    assert "999999" not in caplog.text and "Koramangala" not in caplog.text


async def test_malformed_bodies_get_a_422_that_says_why(api: httpx.AsyncClient) -> None:
    response = await post_generic(api, event(occurred_at="yesterday"))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "malformed_body"
    assert "occurred_at" in response.json()["error"]["message"]
    body = b"{not json"
    _, headers = signed({})
    stamp = headers["X-Timestamp"]
    mac = hmac.new(CARRIER_SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
    headers["X-Signature"] = "sha256=" + mac.hexdigest()
    response = await api.post("/webhooks/logistics/generic", content=body, headers=headers)
    assert response.status_code == 422


async def test_unknown_and_unconfigured_providers_are_404(
    api: httpx.AsyncClient, redis_url: str, tmp_path: Path
) -> None:
    assert (await api.post("/webhooks/logistics/fedex", json={})).status_code == 404
    assert (await api.get("/webhooks/logistics/generic")).json() == {"ok": True}
    async with running(make_settings(redis_url, tmp_path / "b")) as bare:
        for provider in ("shiprocket", "ship-updates", "aftership", "generic"):
            response = await bare.post(f"/webhooks/logistics/{provider}", json={})
            assert response.status_code == 404
            assert (await bare.get(f"/webhooks/logistics/{provider}")).status_code == 404


async def test_shiprocket_updates_through_the_url_its_form_accepts(
    api: httpx.AsyncClient,
) -> None:
    body = {"awb": "DL7040055433", "courier_name": "Delhivery Surface",
            "current_status": "OUT FOR DELIVERY", "current_status_id": 17,
            "shipment_status": "OUT FOR DELIVERY", "shipment_status_id": 17,
            "current_timestamp": time.strftime("%d %m %Y %H:%M:%S",
                                               time.gmtime(time.time() + 5.5 * 3600)),
            "order_id": "100003", "etd": "2030-01-01 18:00:00",
            "scans": [{"date": "2024-05-19 11:59:16", "activity": "Out for delivery",
                       "location": "HSR Layout DC", "sr-status": "17",
                       "sr-status-label": "OUT FOR DELIVERY"}]}
    headers = {"x-api-key": SHIPROCKET_TOKEN}
    ping = await api.post("/webhooks/logistics/ship-updates", content=b"", headers=headers)
    assert ping.json() == {"applied": 0, "duplicates": 0, "unmatched": 0, "rejected": []}
    response = await api.post("/webhooks/logistics/ship-updates", json=body, headers=headers)
    assert response.json() == {"applied": 1, "duplicates": 0, "unmatched": 0, "rejected": []}
    again = await api.post("/webhooks/logistics/shiprocket", json=body, headers=headers)
    assert again.json() == {"applied": 0, "duplicates": 1, "unmatched": 0, "rejected": []}
    assert "out for delivery" in await track(api)


async def test_aftership_updates_are_verified_by_their_hmac(api: httpx.AsyncClient) -> None:
    data = {"event": "tracking_update", "event_id": "3f9a0d1e-aaaa-4bbb-8ccc-123456789abc",
            "ts": int(time.time()),
            "msg": {"tracking_number": "DL7040055433", "slug": "delhivery",
                    "tag": "Delivered", "subtag": "Delivered_001", "subtag_message": "Delivered",
                    "order_number": "#100003",
                    "checkpoints": [{"checkpoint_time": _iso(time.time()),
                                     "location": "Bengaluru", "message": "Delivered",
                                     "tag": "Delivered"}]}}
    body = json.dumps(data).encode()
    signature = base64.b64encode(
        hmac.new(AFTERSHIP_SECRET.encode(), body, hashlib.sha256).digest()).decode()
    response = await api.post("/webhooks/logistics/aftership", content=body,
                              headers={"aftership-hmac-sha256": signature})
    assert response.json() == {"applied": 1, "duplicates": 0, "unmatched": 0, "rejected": []}
    assert "Delivered on" in await track(api)


async def test_a_completed_refund_is_recorded_once(
    api: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    refund = {"event_id": "rf-1", "type": "refund_completed", "order_number": "100014",
              "refund_id": "RF-100014-1", "occurred_at": _iso(time.time())}
    response = await post_generic(api, refund)
    assert response.json() == {"applied": 1, "duplicates": 0, "unmatched": 0, "rejected": []}
    stored = json.loads(await redis.get("ohb:order:{100014}") or b"{}")
    [done] = stored["refunds"]
    assert done["status"] == "completed" and done["completed_at"]
    again = await post_generic(api, {**refund, "event_id": "rf-1-retry"})
    assert again.json() == {"applied": 0, "duplicates": 1, "unmatched": 0, "rejected": []}
    unknown = await post_generic(api, {**refund, "event_id": "rf-2", "refund_id": "RF-nope"})
    assert unknown.json() == {"applied": 0, "duplicates": 0, "unmatched": 1, "rejected": []}


async def test_an_unreachable_shop_is_503_so_the_carrier_retries(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = make_settings(redis_url, tmp_path, carrier_webhook_secret=CARRIER_SECRET,
                             order_backend="http", order_api_url=f"http://127.0.0.1:{port}",
                             order_api_token="shop-token", order_api_timeout=1)
    async with running(settings) as client:
        response = await post_generic(client, event())
    assert response.status_code == 503
    assert "shop is unreachable" in response.json()["error"]["message"]
    assert response.headers["retry-after"]
    assert await redis.keys("ohb:carrier:seen:*") == []
    assert await redis.keys("ohb:tracking:*") == []
