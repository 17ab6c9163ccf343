"""`python -m app chat`: talk to the bot in a terminal, in-process, on the same state.

It opens the same resources as the web app (Redis from `REDIS_URL` or the embedded
server in `DATA_DIR`, the demo shop), so a conversation here sees the same orders,
tickets and changes as the web chat. With piped stdin it prints only the bot's
answers, which makes it scriptable: `printf '1\\n' | python -m app chat`.
"""

from __future__ import annotations

import logging
import sys
import uuid
from typing import TextIO

import anyio
import anyio.to_thread
import phonenumbers

from app.resources import REDIS_DOWN, Resources, open_resources
from app.settings import Settings
from channels.terminal import TerminalAdapter
from conversation.store import ConversationBusy
from conversation.types import Identity, Inbound

log = logging.getLogger(__name__)

BUSY_RETRIES = 3


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
        while True:
            line = await anyio.to_thread.run_sync(_read_line, stdin, interactive)
            if line is None:
                return 0
            if not await _answer(resources, adapter, adapter.parse(line), stdout):
                print("The bot's Redis is unreachable; check REDIS_URL.", file=stderr)
                return 1


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
