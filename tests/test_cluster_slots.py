"""Redis Cluster safety by construction: every Lua script and every MULTI/EXEC of
the product touches one hash slot.

Two checks. `tests.slot_guard` (autouse in tests/conftest.py) checks the keys of
every script call and every transaction in every test, on a single server too.
This file checks that the guard itself refuses what a cluster refuses, that the key
builders put each script's keys under one tag, and that no script or transaction
site appears in the code without being listed here, with the test that runs it
under the guard (so a new one is looked at, not discovered on a production
cluster).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.crc import key_slot
from redis.exceptions import RedisClusterException

from app.inbox.auth import LoginLimiter
from channels.web_push import WebPushLog
from channels.whatsapp_status import DeliveryStatuses
from conversation.keys import Keys
from conversation.outbox import Outbox
from conversation.scripts import ScriptCall, run_batched
from tests.slot_guard import CrossSlot

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("app", "channels", "conversation", "orders", "records")
SITE = re.compile(r"register_script\(|pipeline\(transaction=True\)|\.pipeline\(\)|"
                  r"\.eval(?:sha)?(?:_ro)?\(|\.fcall(?:_ro)?\(|\.transaction\(|\.watch\(|\.multi\(|"
                  r"ScriptCall\(|\"EVALSHA\"")
"""Script and transaction sites: a script, a MULTI pipeline (redis-py's default), a raw
EVAL or FCALL, a WATCH, a batched script call (`conversation.scripts`)."""

SITES = {
    # file: (script and MULTI sites, a test that runs them under the guard)
    "app/in_order.py": (1, "tests/app/test_whatsapp_webhook.py"),
    "app/inbox/auth.py": (2, "tests/app/test_login_limits.py"),
    "app/metrics.py": (1, "tests/app/test_metrics.py"),
    "channels/telegram_sender.py": (2, "tests/app/test_telegram_sender.py"),
    "channels/web_push.py": (1, "tests/app/test_pushes.py"),
    "channels/whatsapp_status.py": (2, "tests/app/test_whatsapp_webhook.py"),
    "conversation/delivery.py": (3, "tests/app/test_inbox_delivery.py"),
    "conversation/guesses.py": (4, "tests/app/test_verification_limits.py"),
    "conversation/outbox.py": (5, "tests/conversation/test_outbox.py"),
    "conversation/scripts.py": (3, "tests/conversation/test_scripts.py"),
    "conversation/store.py": (7, "tests/conversation/test_engine.py"),
    "orders/demo.py": (2, "tests/orders/test_demo_backend.py"),
    "orders/overlay.py": (1, "tests/orders/test_overlay.py"),
}


def slots(*keys: str) -> set[int]:
    return {key_slot(k.encode()) for k in keys}


def test_every_script_and_transaction_site_is_listed() -> None:
    found = {}
    for package in PRODUCT:
        for path in (ROOT / package).rglob("*.py"):
            count = len(SITE.findall(path.read_text(encoding="utf-8")))
            if count:
                found[str(path.relative_to(ROOT))] = count
    assert found == {name: count for name, (count, _test) in SITES.items()}, (
        "a script or MULTI was added or removed: give its keys one hash tag, list it "
        "here with a test that runs it (tests.slot_guard checks its keys there)")
    for _count, test in SITES.values():
        assert (ROOT / test).exists(), test


async def test_the_guard_refuses_a_script_over_two_slots(redis: aioredis.Redis) -> None:
    script = redis.register_script("return #KEYS")
    assert slots("a", "b") != slots("a")
    with pytest.raises((CrossSlot, RedisClusterException)):  # a cluster client refuses too
        await script(keys=["a", "b"])
    assert await script(keys=["{a}:1", "{a}:2"]) == 2


async def test_the_guard_refuses_a_transaction_over_two_slots(redis: aioredis.Redis) -> None:
    with pytest.raises((CrossSlot, RedisClusterException)):
        async with redis.pipeline(transaction=True) as pipe:
            pipe.set("a", "1")
            pipe.set("b", "1")
            await pipe.execute()


async def test_the_guard_refuses_a_batched_script_call_over_two_slots(
    redis: aioredis.Redis
) -> None:
    """A batch may span slots (one call per conversation); each call may not."""
    script = redis.register_script("return #KEYS")
    assert await run_batched(redis, [ScriptCall(script, ["{a}:1", "{a}:2"], []),
                                     ScriptCall(script, ["{b}:1"], [])]) == [2, 1]
    with pytest.raises((CrossSlot, RedisClusterException)):
        await run_batched(redis, [ScriptCall(script, ["{a}:1"], []),
                                  ScriptCall(script, ["a", "b"], [])])


def test_a_conversations_keys_share_one_slot() -> None:
    keys = Keys("ohb:")
    for conversation in ("web:abc", "telegram:42", "whatsapp:+919876543210"):
        assert len(slots(keys.session(conversation), keys.lock(conversation),
                         keys.transcript(conversation), keys.seen(conversation),
                         keys.answer(conversation),
                         WebPushLog(aioredis.Redis(), "ohb:").key(conversation),
                         DeliveryStatuses(aioredis.Redis(), "ohb:").failures_key(conversation),
                         )) == 1


def test_an_outbox_enqueue_without_a_dedup_key_names_no_empty_key() -> None:
    """An empty key name hashes to slot 0: the enqueue script once got one."""
    outbox = Outbox(aioredis.Redis(), partitions=4)
    for conversation in ("web:a", "web:b", "telegram:7"):
        part = outbox.partition(conversation)
        assert len(slots(part.stream, part.queue(conversation), part.dedup("x"),
                         outbox.order_lock(conversation))) == 1


def test_login_limits_share_one_tag_for_one_atomic_script() -> None:
    """Both limits are checked and counted in one script, so both keys carry the
    `{login}` tag (one slot for all login counters: login rates are tiny)."""
    limiter = LoginLimiter(aioredis.Redis(), "ohb:")
    account, address = limiter._keys("Asha@Shop.example", "203.0.113.9")
    other = limiter._keys("ravi@shop.example", "198.51.100.7")
    assert "{login}" in account and account != other[0] and address != other[1]
    assert len(slots(account, address, *other)) == 1
    assert limiter._keys("asha@shop.example ", "203.0.113.9")[0] == account

