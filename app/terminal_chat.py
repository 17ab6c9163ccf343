"""`python -m app chat`: talk to the bot in a terminal, in-process, on the same state.

It opens the same resources as the web app (Redis from `REDIS_URL` or the embedded
server in `DATA_DIR`, the demo shop), so a conversation here sees the same orders,
tickets and changes as the web chat. With piped stdin it prints only the bot's
answers, which makes it scriptable: `printf '1\\n' | python -m app chat`.

Messages pushed to the conversation (a staff reply from the inbox, a shipping update)
are printed as they arrive, with the person's name ("Asha: ..."): the outbox's worker
(in the web process, or `python -m app worker`) puts them on the conversation's push
log, which this chat follows while it waits for input.
"""

from __future__ import annotations

import logging
import sys
import uuid
from typing import Any, TextIO

import anyio
import anyio.to_thread
import phonenumbers

from app.resources import REDIS_DOWN, Resources, open_resources
from app.settings import Settings
from channels.terminal import TerminalAdapter
from channels.web_push import WebPushLog
from conversation.store import ConversationBusy
from conversation.types import Identity, Inbound, TurnResult

log = logging.getLogger(__name__)

BUSY_RETRIES = 3
PUSH_WAIT_S = 5.0


class ChatError(Exception):
    """A problem the user can fix (a bad flag); printed without a traceback."""


def normalise_phone(raw: str) -> str:
    """`+91 98123 45678` -> `+919812345678`; the number must carry its country code."""
    try:
        number = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException as exc:
        raise ChatError(
            f"--phone {raw!r}: give an international number like +919812345678"
        ) from exc
    if not phonenumbers.is_possible_number(number):
        raise ChatError(f"--phone {raw!r} is not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _last_key(settings: Settings) -> str:
    return f"{settings.redis_prefix}terminal:last-conversation"


async def _conversation_id(
    resources: Resources, requested: str | None, resume: bool, stderr: TextIO
) -> str:
    if requested:
        return requested
    if resume:
        last = await resources.redis.get(_last_key(resources.settings))
        if last is not None:
            return last.decode() if isinstance(last, bytes) else str(last)
        print("No earlier terminal conversation; starting a new one.", file=stderr)
    return uuid.uuid4().hex[:12]


async def run(
    settings: Settings,
    *,
    conversation: str | None = None,
    resume: bool = False,
    phone: str | None = None,
    locale: str | None = None,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    stderr: TextIO = sys.stderr,
) -> int:
    """Chat until end of input; returns the exit code."""
    identity = Identity(phone=normalise_phone(phone)) if phone else None
    interactive = stdin.isatty()
    async with open_resources(settings) as resources:
        try:
            await resources.ready()
            conversation_id = await _conversation_id(resources, conversation, resume, stderr)
            await resources.redis.set(_last_key(settings), conversation_id)
        except REDIS_DOWN:
            print("The bot's Redis is unreachable; check REDIS_URL.", file=stderr)
            return 1
        adapter = TerminalAdapter(conversation_id, identity=identity, locale=locale)
        if identity:
            print(
                f"Local testing aid: acting as if the channel proved the phone {identity.phone}. "
                "No real channel trusts a typed number.",
                file=stderr,
            )
        if interactive:
            print(
                f"Chatting as conversation {conversation_id} "
                "(resume it with --resume). Type a number to tap a button; Ctrl-D quits.",
                file=stderr,
            )
        if conversation is None and not resume:
            # A new chat opens with the menu, so a first "1" already taps "Track order".
            await _answer(resources, adapter, adapter.opening(), stdout)
        async with anyio.create_task_group() as group:
            group.start_soon(_follow_pushes, resources, adapter, stdout)
            code = await _chat(resources, adapter, stdin, interactive, stdout, stderr)
            group.cancel_scope.cancel()
        return code


async def _chat(resources: Resources, adapter: TerminalAdapter, stdin: TextIO,
                interactive: bool, stdout: TextIO, stderr: TextIO) -> int:
    while True:
        line = await anyio.to_thread.run_sync(_read_line, stdin, interactive)
        if line is None:
            return 0
        if not await _answer(resources, adapter, adapter.parse(line), stdout):
            print("The bot's Redis is unreachable; check REDIS_URL.", file=stderr)
            return 1


async def _follow_pushes(resources: Resources, adapter: TerminalAdapter, stdout: TextIO) -> None:
    """Print what is pushed to this conversation from now on (staff replies, updates)."""
    pushes = WebPushLog(resources.redis, resources.settings.redis_prefix)
    key = pushes.key(adapter.conversation)
    try:
        newest: Any = await resources.redis.xrevrange(key, count=1)
        after = _text(newest[0][0]) if newest else "0-0"
        while True:
            for event in await pushes.wait(adapter.conversation, after, PUSH_WAIT_S):
                after = event.id
                print(adapter.render(TurnResult(event.replies)), file=stdout, end="\n\n",
                      flush=True)
    except REDIS_DOWN:
        log.warning("terminal chat: stopped following pushed messages (Redis unreachable)")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def _answer(
    resources: Resources, adapter: TerminalAdapter, inbound: Inbound, stdout: TextIO
) -> bool:
    """Send one message and print the answer; False when Redis is unreachable."""
    for attempt in range(BUSY_RETRIES):
        try:
            result = await resources.engine.handle(inbound)
            break
        except ConversationBusy:
            if attempt == BUSY_RETRIES - 1:
                raise
            await anyio.sleep(1)
        except REDIS_DOWN:
            return False
    print(adapter.render(result), file=stdout, end="\n\n", flush=True)
    return True


def _read_line(stdin: TextIO, interactive: bool) -> str | None:
    """One line, or None at end of input. The prompt appears only in a terminal."""
    if interactive and stdin is sys.stdin:
        try:
            return input("> ")
        except EOFError:
            print(file=sys.stderr)
            return None
    line = stdin.readline()
    return line if line else None
