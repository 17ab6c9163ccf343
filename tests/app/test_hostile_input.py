"""What an attack-and-fault campaign sent, each answered cleanly and changing nothing:
deeply nested JSON on every JSON route, validly signed Telegram updates of shapes
Telegram never sends, a carrier batch with one bad event among good ones, lone
surrogates in any text, and web chat tokens signed with the real secret but
carrying claims we never issue."""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from app_harness import WEB_CHAT_SECRET, auth
from hostile_harness import Hostile, as_json, deep, everything_on, snapshot
from itsdangerous import URLSafeTimedSerializer

from channels.web import TOKEN_SALT
from tests.channel_payloads import next_update_id, telegram_update, twilio_form


@pytest.fixture
async def hostile(redis: aioredis.Redis, redis_url: str,
                  tmp_path: Path) -> AsyncIterator[Hostile]:
    async with everything_on(redis_url, tmp_path) as hostile:
        yield hostile


# ---- deeply nested JSON ---------------------------------------------------------------

JSON_ROUTES: dict[str, tuple[Callable[[Hostile, bytes], Any], int]] = {
    "web chat message": (Hostile.web_message, 400),
    "web chat session": (Hostile.web_session, 400),
    "telegram": (Hostile.telegram, 400),
    "generic carrier": (Hostile.generic, 422),
    "shiprocket": (Hostile.shiprocket, 422),
    "aftership": (Hostile.aftership, 422),
    "inbox login": (lambda h, body: h.inbox("/api/inbox/session", body), 422),
    "inbox note": (lambda h, body: h.inbox("/api/inbox/tickets/T-1001/note", body), 422),
}


@pytest.mark.parametrize("route", JSON_ROUTES)
async def test_deeply_nested_json_is_answered_as_malformed_and_changes_nothing(
    hostile: Hostile, redis: aioredis.Redis, route: str
) -> None:
    post, status = JSON_ROUTES[route]
    before = await snapshot(redis)
    response = await post(hostile, deep())
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] in ("malformed_body", "invalid_request")
    assert await snapshot(redis) == before


# ---- Telegram updates of shapes Telegram never sends ------------------------------------


def _odd(change: Callable[[dict[str, Any]], None], name: str = "text") -> dict[str, Any]:
    update = copy.deepcopy(telegram_update(name))
    change(update)
    return update


ODD_UPDATES: dict[str, dict[str, Any]] = {
    "message without chat": _odd(lambda u: u["message"].pop("chat")),
    "text that is a number": _odd(lambda u: u["message"].update(text=5)),
    "text that is a list": _odd(lambda u: u["message"].update(text=["/start", "100003"])),
    "text that is an object": _odd(lambda u: u["message"].update(text={"start": "100003"})),
    "start parameter that is no text": _odd(lambda u: u["message"].update(text="/start \ud800")),
    "text with a lone surrogate": _odd(lambda u: u["message"].update(text="hi \udc00 there")),
    "chat id that is a string": _odd(lambda u: u["message"]["chat"].update(id="7001")),
    "chat type that is a number": _odd(lambda u: u["message"]["chat"].update(type=5)),
    "language that is a number": _odd(lambda u: u["message"]["from"].update(language_code=5)),
    "sender that is a number": _odd(lambda u: u["message"].update({"from": 5})),
    "message that is a list": _odd(lambda u: u.update(message=[])),
    "date that is text": _odd(lambda u: u["message"].update(date="yesterday")),
    "callback data that is a number": _odd(lambda u: u["callback_query"].update(data=64),
                                           "callback_query"),
    "callback without id": _odd(lambda u: u["callback_query"].pop("id"), "callback_query"),
    "callback message without chat": _odd(lambda u: u["callback_query"]["message"].pop("chat"),
                                          "callback_query"),
    "contact without a number": _odd(lambda u: u["message"]["contact"].pop("phone_number"),
                                     "contact_own"),
    "membership without a status": _odd(
        lambda u: u["my_chat_member"]["new_chat_member"].pop("status"), "my_chat_member_kicked"),
}


@pytest.mark.parametrize("shape", ODD_UPDATES)
async def test_a_signed_update_of_an_odd_shape_is_acknowledged_logged_once_and_changes_nothing(
    hostile: Hostile, redis: aioredis.Redis, caplog: pytest.LogCaptureFixture, shape: str
) -> None:
    before = await snapshot(redis)
    caplog.set_level(logging.INFO)
    response = await hostile.telegram(as_json(ODD_UPDATES[shape]))
    assert response.status_code == 200, response.text  # so Telegram does not redeliver it
    assert await snapshot(redis) == before
    said = [r for r in caplog.records if r.name.startswith(("app", "channels", "conversation"))]
    assert len(said) == 1, [r.getMessage() for r in said]
    assert "acknowledged" in said[0].getMessage()
    for personal in ("Priya", "Sharma", "priya_s", "7001", "100003"):
        assert personal not in caplog.text


async def test_a_good_update_after_odd_ones_is_still_answered(hostile: Hostile) -> None:
    for update in ODD_UPDATES.values():
        await hostile.telegram(as_json({**update, "update_id": next_update_id()}))
    response = await hostile.telegram(as_json(telegram_update("text", text="/start")))
    assert response.status_code == 200


# ---- carrier batches ----------------------------------------------------------------------


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


NOW = time.time()


def carrier_event(**changes: Any) -> dict[str, Any]:
    data = {"event_id": "evt-ofd-1", "order_number": "100003",
            "tracking_number": "DL7040055433", "carrier": "Delhivery",
            "status": "out_for_delivery", "occurred_at": _iso(NOW),
            "location": "Koramangala delivery hub", "description": "Out for delivery"}
    data.update(changes)
    return data


async def test_a_lone_surrogate_in_the_first_event_does_not_block_the_batch(
    hostile: Hostile, redis: aioredis.Redis
) -> None:
    batch = [carrier_event(event_id="evt-bad", location="Hub \ud800"), carrier_event(),
             carrier_event(event_id="evt-delivered", status="delivered",
                           occurred_at=_iso(NOW + 60))]
    for _ in range(2):  # the first delivery, then the carrier's redelivery
        response = await hostile.generic(as_json(batch))
        assert response.status_code == 200, response.text
        assert response.json()["rejected"] == [
            {"index": 0, "reason": "event 0: `location` is not valid Unicode text"}]
    assert response.json()["duplicates"] == 2  # the good ones were applied the first time
    order = json.loads(await redis.get("ohb:order:{100003}") or b"{}")
    assert order["packages"][0]["status"] == "delivered"


async def test_one_bad_event_does_not_block_the_rest_of_a_carrier_batch(
    hostile: Hostile, redis: aioredis.Redis
) -> None:
    batch = [carrier_event(event_id="evt-bad", location="Hub \ud800"),
             carrier_event(),
             carrier_event(event_id="evt-bad-time", occurred_at="yesterday"),
             carrier_event(event_id="evt-delivered", status="delivered",
                           occurred_at=_iso(NOW + 60))]
    first = await hostile.generic(as_json(batch))
    assert first.status_code == 200, first.text
    answer = first.json()
    assert (answer["applied"], answer["duplicates"], answer["unmatched"]) == (2, 0, 0)
    assert [r["index"] for r in answer["rejected"]] == [0, 2]
    assert "location" in answer["rejected"][0]["reason"]
    assert "occurred_at" in answer["rejected"][1]["reason"]
    order = json.loads(await redis.get("ohb:order:{100003}") or b"{}")
    assert order["packages"][0]["status"] == "delivered"
    again = await hostile.generic(as_json(batch))  # the carrier's redelivery
    assert again.status_code == 200
    assert (again.json()["applied"], again.json()["duplicates"]) == (0, 2)
    assert again.json()["rejected"] == answer["rejected"]


async def test_a_request_whose_every_event_is_bad_is_a_422_that_says_why(
    hostile: Hostile, redis: aioredis.Redis
) -> None:
    before = await snapshot(redis)
    response = await hostile.generic(as_json([carrier_event(carrier="\udfff")]))
    assert response.status_code == 422
    assert "carrier" in response.json()["error"]["message"]
    shiprocket = await hostile.shiprocket(as_json({"awb": "1", "current_status": "DELIVERED",
                                                   "current_timestamp": "x\ud800"}))
    assert shiprocket.status_code == 422
    assert await snapshot(redis) == before


# ---- lone surrogates in the chats' texts ------------------------------------------------------


async def test_a_lone_surrogate_in_web_chat_text_is_refused_and_changes_nothing(
    hostile: Hostile, redis: aioredis.Redis
) -> None:
    before = await snapshot(redis)
    for body in ({"message_id": "m1", "text": "100003 \ud800"},
                 {"message_id": "m1", "payload": "m:\udc00"}):
        response = await hostile.web_message(as_json(body))
        assert response.status_code in (400, 422), response.text
    session = await hostile.web_session(as_json({"customer": {"email": "a@b.c\ud800",
                                                              "signature": "00"}}))
    assert session.status_code in (400, 422), session.text
    assert await snapshot(redis) == before


async def test_invalid_utf8_in_a_whatsapp_form_gets_a_clean_answer(hostile: Hostile) -> None:
    form = twilio_form("text", Body="\ufffd\ufffd\ufffd")  # what %ED%A0%80 decodes to
    response = await hostile.whatsapp(form)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")


# ---- web chat tokens with claims we never issue ------------------------------------------------

ODD_CLAIMS: list[Any] = [
    ["s", "abc"],
    {"s": 5},
    {"s": ""},
    {"s": "abc", "l": 5},
    {"s": "abc", "l": {"en": True}},
    {"s": "abc", "i": "someone"},
    {"s": "abc", "i": {"c": 5}},
    {"s": "abc", "i": {"e": ["priya.sharma@example.in"]}},
    {"s": "abc", "i": {"p": {"n": "+919812345678"}}},
    {"s": "abc\ud800"},
    {"s": "abc", "i": {"e": "x\udfff@example.in"}},
]


@pytest.mark.parametrize("claims", ODD_CLAIMS, ids=[json.dumps(c) for c in ODD_CLAIMS])
async def test_a_token_signed_with_the_real_secret_but_odd_claims_is_a_401(
    hostile: Hostile, redis: aioredis.Redis, claims: Any
) -> None:
    # the stdlib's json writes a lone surrogate as an escape, as a hand-made token would
    token = URLSafeTimedSerializer(WEB_CHAT_SECRET, salt=TOKEN_SALT,
                                   serializer=json).dumps(claims)
    before = await snapshot(redis)
    response = await hostile.client.post("/api/chat/messages", headers=auth(token),
                                         json={"message_id": "m1", "text": "hi"})
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "invalid_token"
    assert await snapshot(redis) == before


async def test_a_customer_signature_that_is_not_ascii_gives_an_ordinary_session(
    hostile: Hostile,
) -> None:
    """Found by the property tests: `hmac.compare_digest` refuses non-ASCII strings."""
    response = await hostile.web_session(as_json({"customer": {
        "email": "priya.sharma@example.in", "signature": "\u00e9" * 64}}))
    assert response.status_code == 201, response.text
