"""Property tests for every parser of outside input, over the real app: the web chat
API's bodies, the Telegram update, the Twilio form, each carrier format and the inbox
JSON API, each request signed (or logged in) for real so it reaches the parser.

Whatever arrives: never a 5xx, an error is the app's `{"error": {"code", ...}}` with a
code we document, and input the parser refused (400, 413, 422; a Telegram update it
acknowledged and dropped) changed nothing in Redis, compared key by key.

Generated inputs lean towards what breaks parsers: any JSON value where an object is
expected, fields of the wrong type, lone surrogates in any text, deep nesting, and
real captured payloads with one part changed. Few examples each, so the whole module
runs in seconds; a failure prints the example and its seed.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from hostile_harness import Hostile, as_json, everything_on
from hypothesis import HealthCheck, example, find, given, settings
from hypothesis import strategies as st

from tests.channel_payloads import next_sid, next_update_id, telegram_update, twilio_form
from tests.conftest import MARKER

FAST = settings(max_examples=25, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
REFUSED = (400, 413, 422)
CODES = {"malformed_body", "invalid_request", "invalid_token", "body_too_large", "forged",
         "bad_credentials", "too_many_attempts", "not_found", "forbidden", "unavailable",
         "busy", "csrf_failed", "account_exists", "shop_unavailable", "unauthenticated"}

# ---- what is sent ---------------------------------------------------------------------------

CHARS = st.one_of(st.characters(), st.characters(categories=["Cs"]),
                  st.sampled_from("0123456789@.#/+ :-_"))
TEXT = st.lists(CHARS, max_size=30).map("".join)  # st.text() all but drops surrogates
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                   TEXT)
JSON = st.recursive(SCALAR, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                     st.dictionaries(TEXT, inner, max_size=4)),
                    max_leaves=12)


@st.composite
def deep(draw: st.DrawFn) -> bytes:
    levels = draw(st.integers(min_value=1500, max_value=3000))  # past the ~1,000 limit
    opening, closing = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}")]))
    return opening * levels + b"1" + closing * levels


DEEP = b"[" * 3000 + b"]" * 3000
"""Explicit examples every run tries first (`@example`), besides what is generated."""


def body_of(value: Any) -> bytes:
    return as_json(value)  # lone surrogates travel as `\ud800` escapes, as a client sends them


def bodies(shaped: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    """Mostly near-valid shapes, some any JSON, some not JSON or too deep."""
    return st.one_of(shaped.map(body_of), shaped.map(body_of), JSON.map(body_of), deep(),
                     st.binary(max_size=40))


def changed(base: dict[str, Any], fields: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """`base` with some of `fields` given any JSON value, dropped, or some text."""
    def apply(changes: dict[str, Any]) -> dict[str, Any]:
        data = copy.deepcopy(base)
        for name, value in changes.items():
            if value == "<drop>":
                data.pop(name, None)
            else:
                data[name] = value
        return data

    value = st.one_of(JSON, TEXT, st.just("<drop>"))
    return st.dictionaries(st.sampled_from(fields), value, max_size=3).map(apply)


# ---- the checks -----------------------------------------------------------------------------


async def snapshot(redis: aioredis.Redis) -> dict[bytes, bytes | None]:
    keys = await redis.keys("*")
    async with redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.dump(key)
        return dict(zip(keys, await pipe.execute(), strict=True))


async def check(redis: aioredis.Redis, before: dict[bytes, bytes | None],
                response: httpx.Response, *, refused: bool = False) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400 and response.headers.get("content-type", "").startswith(
            "application/json"):
        assert response.json()["error"]["code"] in CODES, response.text
    if refused or response.status_code in REFUSED:
        assert await snapshot(redis) == before, response.text


@pytest.fixture(scope="module")
async def app(redis_url: str, tmp_path_factory: pytest.TempPathFactory
              ) -> AsyncIterator[tuple[Hostile, aioredis.Redis]]:
    """One app for the module (its start-up and a login cost more than the examples):
    every example compares Redis before and after itself, so they need no fresh one."""
    client = aioredis.Redis.from_url(redis_url)
    async with client.pipeline(transaction=True) as pipe:
        await pipe.flushdb().set(MARKER, 1).execute()
    try:
        async with everything_on(redis_url, tmp_path_factory.mktemp("properties")) as hostile:
            yield hostile, client
    finally:
        await client.aclose()


@pytest.fixture
def hostile(app: tuple[Hostile, aioredis.Redis]) -> Hostile:
    return app[0]


@pytest.fixture
def redis(app: tuple[Hostile, aioredis.Redis]) -> aioredis.Redis:
    """The module's client (not the suite's, which empties the database per test)."""
    return app[1]


# ---- web chat -------------------------------------------------------------------------------

MESSAGE = {"message_id": "m1", "text": "hello"}


@FAST
@example(body=DEEP)
@example(body=body_of({"message_id": "m1", "text": "\ud800"}))
@given(body=bodies(changed(MESSAGE, ["message_id", "text", "payload", "conversation",
                                     "extra"])))
async def test_web_chat_messages(hostile: Hostile, redis: aioredis.Redis, body: bytes) -> None:
    before = await snapshot(redis)
    await check(redis, before, await hostile.web_message(body))


SESSION = {"locale": "en", "customer": {"email": "priya.sharma@example.in", "signature": "00"}}


@FAST
@example(body=DEEP)
@example(body=body_of({"customer": {"id": "\udfff", "signature": "00"}}))
@example(body=body_of({"customer": {"email": "priya.sharma@example.in", "signature": "\x80"}}))
@given(body=bodies(st.one_of(changed(SESSION, ["locale", "customer", "extra"]),
                             changed(SESSION["customer"], ["id", "email", "phone",
                                                           "signature"]).map(
                                 lambda c: {"customer": c}))))
async def test_web_chat_sessions(hostile: Hostile, redis: aioredis.Redis, body: bytes) -> None:
    before = await snapshot(redis)
    await check(redis, before, await hostile.web_session(body))


# ---- Telegram -------------------------------------------------------------------------------

UPDATES = ["text", "callback_query", "contact_own", "photo", "location", "my_chat_member_kicked",
           "group_command", "edited_message"]


@st.composite
def telegram_bodies(draw: st.DrawFn) -> bytes:
    update = telegram_update(draw(st.sampled_from(UPDATES)))
    kind = next(key for key in update if key != "update_id")
    part = update[kind]
    for name, value in draw(st.dictionaries(st.sampled_from(sorted(part)),
                                            st.one_of(JSON, TEXT), max_size=2)).items():
        part[name] = value
    if isinstance(part.get("chat"), dict) and draw(st.booleans()):
        part["chat"][draw(st.sampled_from(["id", "type"]))] = draw(JSON)
    if isinstance(part.get("from"), dict) and draw(st.booleans()):
        part["from"][draw(st.sampled_from(["id", "language_code"]))] = draw(JSON)
    update["update_id"] = next_update_id()
    return draw(st.one_of(st.just(body_of(update)), st.just(body_of(update)), bodies(JSON)))


@FAST
@example(body=DEEP)
@example(body=body_of({**telegram_update("text"), "update_id": 1,
                       "message": {**telegram_update("text")["message"], "text": 5}}))
@given(body=telegram_bodies())
async def test_telegram_updates(hostile: Hostile, redis: aioredis.Redis,
                                caplog: pytest.LogCaptureFixture, body: bytes) -> None:
    before = await snapshot(redis)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="app.routes.webhooks"):
        response = await hostile.telegram(body)
    dropped = "acknowledged and dropped" in caplog.text
    await check(redis, before, response, refused=dropped)
    assert response.status_code in (200, 400), response.text


# ---- WhatsApp (Twilio's form) ---------------------------------------------------------------


@FAST
@given(fields=st.dictionaries(st.sampled_from(["Body", "From", "WaId", "ButtonPayload",
                                               "NumMedia", "Latitude", "Longitude",
                                               "ProfileName", "MessageSid", "Surprise"]),
                              # a form's bytes are UTF-8: no lone surrogates (the
                              # signing itself could not encode one)
                              st.text(st.characters(exclude_categories=("Cs",)),
                                      max_size=30), max_size=4),
       status=st.booleans())
async def test_whatsapp_forms(hostile: Hostile, redis: aioredis.Redis, fields: dict[str, str],
                              status: bool) -> None:
    """A form cannot carry a lone surrogate: its bytes decode as UTF-8 with replacement."""
    if status:
        form = {**twilio_form("status_delivered", MessageSid=next_sid()), **fields}
        path = "/webhooks/whatsapp/status"
    else:
        form = {**twilio_form("text"), **fields}
        path = "/webhooks/whatsapp"
    before = await snapshot(redis)
    await check(redis, before, await hostile.whatsapp(form, path))


# ---- carriers -------------------------------------------------------------------------------

GENERIC = {"event_id": "evt-1", "order_number": "100003", "tracking_number": "DL7040055433",
           "carrier": "Delhivery", "status": "out_for_delivery",
           "occurred_at": "2026-11-20T09:10:00Z", "location": "Koramangala",
           "description": "Out for delivery", "tracking_url": "https://t.example/1",
           "estimated_delivery": "2026-11-21"}
SHIPROCKET = {"awb": "DL7040055433", "courier_name": "Delhivery", "current_status": "DELIVERED",
              "shipment_status_id": 7, "current_timestamp": "20 11 2026 11:43:52",
              "order_id": "100003", "etd": "2026-11-21 15:40:19",
              "scans": [{"date": "2026-11-20 11:59:16", "activity": "Delivered",
                         "location": "HSR"}]}
AFTERSHIP = {"event": "tracking_update", "event_id": "3f9a0d1e", "ts": 1763600000,
             "msg": {"tracking_number": "DL7040055433", "slug": "delhivery", "tag": "Delivered",
                     "subtag": "Delivered_001", "subtag_message": "Delivered",
                     "order_number": "#100003", "expected_delivery": "2026-11-21",
                     "checkpoints": [{"checkpoint_time": "2026-11-20T09:10:00+05:30",
                                      "location": "Bengaluru", "message": "Delivered"}]}}


@FAST
@example(body=DEEP)
@example(body=body_of([{**GENERIC, "location": "\ud800"}, GENERIC]))
@given(body=bodies(st.one_of(
    changed(GENERIC, [*GENERIC, "type", "refund_id", "surprise"]),
    st.lists(changed(GENERIC, [*GENERIC, "type", "surprise"]), min_size=1, max_size=4))))
async def test_generic_carrier_updates(hostile: Hostile, redis: aioredis.Redis,
                                       body: bytes) -> None:
    before = await snapshot(redis)
    response = await hostile.generic(body)
    await check(redis, before, response)
    if response.status_code == 200:
        assert set(response.json()) == {"applied", "duplicates", "unmatched", "rejected"}


@FAST
@example(body=DEEP)
@example(body=body_of({**SHIPROCKET, "courier_name": "\ud800"}))
@given(body=bodies(st.one_of(changed(SHIPROCKET, list(SHIPROCKET)),
                             changed(SHIPROCKET["scans"][0], ["date", "activity",
                                                              "location"]).map(
                                 lambda scan: {**SHIPROCKET, "scans": [scan]}))))
async def test_shiprocket_updates(hostile: Hostile, redis: aioredis.Redis, body: bytes) -> None:
    before = await snapshot(redis)
    await check(redis, before, await hostile.shiprocket(body))


@FAST
@example(body=DEEP)
@example(body=body_of({**AFTERSHIP, "ts": 10**20, "msg": {**AFTERSHIP["msg"], "checkpoints": []}}))
@given(body=bodies(st.one_of(changed(AFTERSHIP, list(AFTERSHIP)),
                             changed(AFTERSHIP["msg"], list(AFTERSHIP["msg"])).map(
                                 lambda msg: {**AFTERSHIP, "msg": msg}))))
async def test_aftership_updates(hostile: Hostile, redis: aioredis.Redis, body: bytes) -> None:
    before = await snapshot(redis)
    await check(redis, before, await hostile.aftership(body))


# ---- the inbox's JSON API ---------------------------------------------------------------------

INBOX = {  # where a valid body changes nothing either: a ticket or account that is not there
    "/api/inbox/session": {"email": "nobody@shop.example", "password": "not the password"},
    "/api/inbox/tickets/T-9999/note": {"text": "hello"},
    "/api/inbox/tickets/T-9999/reply": {"text": "hello", "reply_id": "r1"},
    "/api/inbox/tickets/T-9999/assign": {"assignee": "me"},
    "/api/inbox/tickets/T-9999/decline": {"reason": "out of stock"},
    "/api/inbox/staff/nobody@shop.example/password": {"password": "a new password"},
}


@st.composite
def inbox_calls(draw: st.DrawFn) -> tuple[str, bytes]:
    path = draw(st.sampled_from(sorted(INBOX)))
    base = INBOX[path]
    return path, draw(bodies(changed(base, [*base, "extra"])))


@FAST
@example(call=("/api/inbox/session", DEEP))
@example(call=("/api/inbox/session", body_of({"email": "a\ud800@b.c", "password": "x"})))
@given(call=inbox_calls())
async def test_inbox_api(hostile: Hostile, redis: aioredis.Redis, call: tuple[str, bytes]) -> None:
    path, body = call
    before = await snapshot(redis)
    response = await hostile.inbox(path, body)
    await check(redis, before, response)
    if path == "/api/inbox/session":
        assert response.status_code in (401, 422, 429, *REFUSED), response.text
    else:
        assert response.status_code in (403, 404, 409, *REFUSED), response.text


def test_the_generated_bodies_reach_what_they_aim_at() -> None:
    """The strategies do make the inputs that matter (`find` fails if they never do)."""
    quiet = settings(database=None)
    find(TEXT, lambda text: any(0xD800 <= ord(c) <= 0xDFFF for c in text), settings=quiet)
    find(bodies(JSON), lambda body: body.count(b"[") + body.count(b"{") > 900, settings=quiet)
