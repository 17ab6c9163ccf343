"""Exactly once across two stores: the process dies (SIGKILL) after the ticket was
written to SQL and before the conversation was saved in Redis; the provider
redelivers the message; one ticket, and the shopper is told about that one."""

from __future__ import annotations

import os
import signal
import sys
import textwrap
from pathlib import Path

import anyio
import redis.asyncio as aioredis

from app.resources import open_resources
from conversation.keys import Keys
from conversation.staff import Desk
from conversation.types import Channel, Inbound
from records.db import Database
from tests.app.app_harness import make_settings
from tests.conversation.chat import Chat
from tests.conversation.test_dialogue import open_order
from tests.demo_orders import DELIVERED_RECENT

ROOT = Path(__file__).resolve().parents[2]
CONVERSATION = "web:crash-test"

# Runs in a child process: the same app, whose save after the turn kills the process.
CHILD = textwrap.dedent("""
    import asyncio, os, signal, sys
    from pathlib import Path
    from app.resources import open_resources
    from conversation.types import Channel, Inbound
    from tests.app.app_harness import make_settings

    async def main() -> None:
        settings = make_settings(os.environ["REDIS_URL"], Path(os.environ["DATA_DIR"]))
        async with open_resources(settings) as resources:
            async def die(*args, **kwargs):
                os.kill(os.getpid(), signal.SIGKILL)
            resources.engine.store.finish = die
            await resources.engine.handle(Inbound(
                Channel.WEB, sys.argv[1], "m-issue", text="my lamp arrived broken"))

    asyncio.run(main())
""")


async def test_a_crash_between_the_sql_write_and_the_redis_save_opens_one_ticket(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path, db: Database,
) -> None:
    settings = make_settings(redis_url, tmp_path)
    async with open_resources(settings) as resources:
        async def say(message_id: str, text: str) -> list[str]:
            result = await resources.engine.handle(
                Inbound(Channel.WEB, CONVERSATION, message_id, text=text))
            return [r.key for r in result.replies]

        await say("m-1", "hi")
        assert await say("m-2", "agent") == ["handoff.ask_issue"]

        env = {k: v for k, v in os.environ.items()
               if k in ("PATH", "HOME", "LANG", "TMPDIR", "DATABASE_URL", "REDIS_CLUSTER",
                        "OUTBOX_PARTITIONS")}
        env.update(PYTHONPATH=str(ROOT), REDIS_URL=redis_url, DATA_DIR=str(tmp_path))
        child = await anyio.run_process([sys.executable, "-c", CHILD, CONVERSATION], env=env,
                                        cwd=ROOT, check=False)
        assert child.returncode == -signal.SIGKILL, child.stderr.decode()
        [written] = await resources.tickets.list_open()  # the SQL write happened...
        lock = Keys().lock(CONVERSATION)
        assert await redis.exists(lock)  # ...and the conversation was never saved

        await redis.pexpire(lock, 1)  # the dead process's lock runs out
        await anyio.sleep(0.01)
        retried = await resources.engine.handle(
            Inbound(Channel.WEB, CONVERSATION, "m-issue", text="my lamp arrived broken"))
        assert retried.replies[0].key == "handoff.opened"
        assert written.id in retried.replies[0].text
        [still_one] = await resources.tickets.list_open()
        assert still_one.id == written.id
        again = await resources.engine.handle(  # a later redelivery: the first answer
            Inbound(Channel.WEB, CONVERSATION, "m-issue", text="my lamp arrived broken"))
        assert again.duplicate and written.id in again.replies[0].text
        assert len(await resources.tickets.list_open()) == 1


APPROVER = textwrap.dedent("""
    import asyncio, os, signal, sys
    from pathlib import Path
    from app.resources import open_resources
    from conversation.staff import Desk
    from tests.app.app_harness import make_settings

    async def main() -> None:
        settings = make_settings(os.environ["REDIS_URL"], Path(os.environ["DATA_DIR"]))
        async with open_resources(settings) as resources:
            desk = Desk(resources.engine, resources.redis)
            async def die(*args, **kwargs):
                os.kill(os.getpid(), signal.SIGKILL)
            desk._decide = die  # carried out, audited and told; the ticket not yet closed
            await desk.approve(sys.argv[1], "asha@shop.example")

    asyncio.run(main())
""")


async def test_an_approval_interrupted_by_a_crash_and_clicked_again_is_one_change(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path, db: Database,
) -> None:
    settings = make_settings(redis_url, tmp_path)
    async with open_resources(settings) as resources:
        chat = Chat(resources.engine)
        await open_order(chat, "Return or replace", DELIVERED_RECENT)
        for label in ["Phone Case, Transparent × 1", "Replace it", "Wrong item", "Skip",
                      "Yes, go ahead"]:
            await chat.tap(label)
        assert chat.keys == ["request.opened"]
        [request] = await resources.tickets.list_open()
        assert request.kind == "request"

        env = {k: v for k, v in os.environ.items()
               if k in ("PATH", "HOME", "LANG", "TMPDIR", "DATABASE_URL", "REDIS_CLUSTER",
                        "OUTBOX_PARTITIONS")}
        env.update(PYTHONPATH=str(ROOT), REDIS_URL=redis_url, DATA_DIR=str(tmp_path))
        child = await anyio.run_process([sys.executable, "-c", APPROVER, request.id], env=env,
                                        cwd=ROOT, check=False)
        assert child.returncode == -signal.SIGKILL, child.stderr.decode()
        still = await resources.tickets.get(request.id)
        assert still is not None and still.is_open and still.decision is None

        desk = Desk(resources.engine, resources.redis)
        await desk.approve(request.id, "asha@shop.example")  # the agent clicks again
        order = await resources.backend.get_order("100008")
        assert order is not None and len(order.replacements) == 1
        done = await resources.tickets.get(request.id)
        assert done is not None and not done.is_open and done.decision is not None
        whats = [e.what for e in await resources.engine.audit.read("100008")]
        assert whats.count("approved") == 1 and whats.count("carried_out") == 1
