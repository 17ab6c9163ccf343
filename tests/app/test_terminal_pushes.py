"""The terminal chat shows what is pushed to its conversation (a staff reply from the
inbox) as it arrives, with the person's name, while it waits for the next line."""

from __future__ import annotations

import io
import os
from pathlib import Path

import anyio
import redis.asyncio as aioredis
from app_harness import make_settings

from app.terminal_chat import run
from channels.web_push import WebPushLog
from conversation.types import Reply
from tests.live import eventually


async def test_a_staff_reply_is_shown_as_it_arrives(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path
) -> None:
    read_end, write_end = os.pipe()
    stdin, typing = os.fdopen(read_end, "r"), os.fdopen(write_end, "w")
    shown, errors = io.StringIO(), io.StringIO()
    codes: list[int] = []

    async def chat() -> None:
        codes.append(await run(make_settings(redis_url, tmp_path), conversation="live-1",
                               stdin=stdin, stdout=shown, stderr=errors))

    async with anyio.create_task_group() as group:
        group.start_soon(chat)
        typing.write("hi\n")
        typing.flush()
        await eventually(lambda: "What can I help you with?" in shown.getvalue())
        await WebPushLog(redis).append("terminal:live-1", "staff-1", [
            Reply("staff.reply", "Your parcel ships today.", author="Asha")])
        await eventually(lambda: "Asha: Your parcel ships today." in shown.getvalue())
        typing.close()  # end of input: the chat ends
    stdin.close()
    assert codes == [0], errors.getvalue()
