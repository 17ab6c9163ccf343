"""Sending outbox messages to Telegram with python-telegram-bot's `Bot`.

The outbox hands over one message (one turn's replies, or a staff reply) and
retries or dead-letters on our errors:

- 429 (`RetryAfter`): the `retry_after` Telegram asked for is written to Redis (a
  per-chat hold, so every worker holds off) and `SendLater` tells the outbox to hold
  this conversation that long; longer than `max_wait`, `ChannelUnavailable` (a
  counted failure: the outbox retries with back-off).
- 403 (`Forbidden`: blocked, or the account is gone): mark the conversation
  unreachable and raise `Undeliverable` (dead-lettered at once, no retries). Later
  messages to it stop before calling Telegram, until the shopper unblocks the bot.
- 400 "can't parse entities": send the same words once more without parse mode.
  Any other 400 will never work: `Undeliverable`, with Telegram's reason.
- network errors and timeouts: `ChannelUnavailable`, retried by the outbox.

Round trips: the chat's state (unreachable? keyboard shown? parts already sent)
and the first message's pace token come in one pipeline, shared with the other
deliveries that ask in the same turn of the event loop (`conversation.scripts.
turn_batch`); only a later part of a long answer asks for a token of its own.

Pacing: Telegram allows about one message a second per chat (short bursts are
tolerated) and about 30 a second overall. One Redis script keeps two token
buckets, per chat (`CHAT_BURST` at `CHAT_RATE`/s) and for the bot (`BOT_RATE`/s, as a
burst too); a send needs a token of both. A chat out of tokens raises `SendLater`
with the time its next token is due: the outbox holds that conversation alone, and
no task sleeps for it. The bot's rate holds every chat alike, so that wait is slept
here. Being in Redis, the pace holds across worker processes. A short burst keeps
a three-message answer quick.

One outbox message may become several Telegram messages. The number already sent
is kept in Redis per outbox message, so a retry after a failure in the middle
sends only the rest, never the first ones twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import redis.asyncio as aioredis
from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.warnings import PTBDeprecationWarning

from channels.authorship import signed
from channels.reachability import Reachability
from channels.telegram import chat_id_of
from channels.telegram_render import ASKS_FOR_ORDER, Markup, Outgoing, SharePhone, render
from conversation import metrics
from conversation.outbox import ChannelUnavailable, OutboxMessage, SendLater, Undeliverable
from conversation.scripts import Command, ScriptCall, turn_batch
from conversation.types import SharedFile

log = logging.getLogger(__name__)

CHAT_RATE = 1.0  # messages per second, per chat
CHAT_BURST = 3
BOT_RATE = 30.0  # messages per second, for the whole bot (TELEGRAM_BOT_RATE)
MAX_SEND_TRIES = 4
MAX_PHOTO_BY_URL = 5 * 1024 * 1024  # Bot API: a photo sent by URL
PROGRESS_TTL_S = 24 * 3600
KEYBOARD_TTL_S = 24 * 3600
BLOCKED = "blocked: Telegram answered 403 (the shopper blocked the bot or left Telegram)"

# KEYS: the chat's bucket, the bot's bucket, the chat's 429 hold.
# ARGV: chat rate/s, chat burst, bot rate/s, bot burst, bucket TTL ms.
# Returns {0, 0} when a token of each was taken, else the milliseconds this chat
# must wait (its bucket or a 429 hold), or else those the whole bot must wait.
_PACE = """
local hold = redis.call('PTTL', KEYS[3])
if hold > 0 then return {hold, 0} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function level(key, rate, burst)
  local v = redis.call('HMGET', key, 'tokens', 'at')
  local tokens = tonumber(v[1]) or burst
  local at = tonumber(v[2]) or now
  return math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
end
local cr, cb, br, bb = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local c = level(KEYS[1], cr, cb)
if c < 1 then return {math.max(1, math.ceil((1 - c) * 1000 / cr)), 0} end
local b = level(KEYS[2], br, bb)
if b < 1 then return {0, math.max(1, math.ceil((1 - b) * 1000 / br))} end
redis.call('HSET', KEYS[1], 'tokens', tostring(c - 1), 'at', now)
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('HSET', KEYS[2], 'tokens', tostring(b - 1), 'at', now)
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return {0, 0}
"""

async def _answer(future: asyncio.Future[Any]) -> Any:
    """A batched call's answer, or its error as the answer (`_pace` asks again)."""
    try:
        return await future
    except Exception as exc:  # handed on, not swallowed
        return exc


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def retry_after_seconds(exc: RetryAfter) -> float:
    """PTB 22 warns that `retry_after` becomes a timedelta; accept both."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class TelegramSender:
    """The outbox's deliver function for Telegram (`deliver`)."""

    def __init__(
        self,
        bot: Bot,
        redis: aioredis.Redis,
        *,
        prefix: str = "ohb:",
        share_phone: Callable[[str], Awaitable[SharePhone | None]] | None = None,
        max_wait: float = 10.0,
        bot_rate: float = BOT_RATE,
    ) -> None:
        """`share_phone(conversation)`: the words of the share-contact offer in that
        shopper's language (None: do not offer it). `max_wait`: the longest 429 wait
        held as `SendLater`, and the longest sleep for the bot's rate; beyond it
        the attempt fails and the outbox retries later.
        `bot_rate`: messages a second for the whole bot, also its burst."""
        self._bot = bot
        self._redis = redis
        self._prefix = prefix
        self._share_phone = share_phone
        self._max_wait = max_wait
        self._bot_rate = bot_rate
        self.reachability = Reachability(redis, prefix)
        self._pace_script = redis.register_script(_PACE)

    def _conv_key(self, conversation: str, name: str) -> str:
        return f"{self._prefix}conv:{{{conversation}}}:{name}"

    def keyboard_key(self, conversation: str) -> str:
        """Set while the share-contact keyboard is on the shopper's screen."""
        return self._conv_key(conversation, "tg-contact-keyboard")

    async def deliver(self, message: OutboxMessage) -> None:
        conversation = message.conversation
        try:
            chat_id = chat_id_of(conversation)
        except ValueError as exc:
            raise Undeliverable("not a Telegram conversation") from exc
        keyboard_key = self.keyboard_key(conversation)
        progress_key = self._conv_key(conversation, f"tg-sent:{message.id}")
        # the chat's state and its first send's pace token in one round trip, shared
        # with the other deliveries that read theirs in this turn
        batch = turn_batch(self._redis)
        pace = batch.submit(ScriptCall(self._pace_script, self._pace_keys(chat_id),
                                       self._pace_args()))
        reason, keyboard_shown, done = await batch.call(Command((
            "MGET", self.reachability.unreachable_key(conversation), keyboard_key,
            progress_key)))
        paced = await _answer(pace)
        if reason is not None:
            raise Undeliverable(f"Telegram: {_text(reason)}", reason=f"Telegram: {_text(reason)}")
        share = None
        private = chat_id > 0  # groups and channels have negative ids
        if private and self._share_phone and any(r.key == ASKS_FOR_ORDER for r in message.replies):
            share = await self._share_phone(conversation)
        outgoing = render(signed(message.replies), share_phone=share,
                          remove_keyboard=private and keyboard_shown is not None)
        # The count of messages sent is written after each but the last; after the
        # last it is deleted (if ever written), so a one-message answer writes none.
        progress_written = done is not None
        for index, out in enumerate(outgoing):
            if index < int(done or 0):
                continue  # sent by an earlier attempt
            await self._send(chat_id, conversation, out, paced)
            paced = None  # the next message takes a token of its own
            last = index == len(outgoing) - 1
            writes: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
            if not last:
                writes.append(("set", (progress_key, index + 1), {"ex": PROGRESS_TTL_S}))
                progress_written = True
            elif progress_written:
                writes.append(("delete", (progress_key,), {}))
                progress_written = False
            if out.offers_contact:
                writes.append(("set", (keyboard_key, 1), {"ex": KEYBOARD_TTL_S}))
            if out.removes_keyboard:
                writes.append(("delete", (keyboard_key,), {}))
            await self._write(writes)
        if progress_written:  # every message had been sent by an earlier attempt
            await self._redis.delete(progress_key)

    async def _write(self, writes: list[tuple[str, tuple[Any, ...], dict[str, Any]]]) -> None:
        """Run these commands: none, one on its own, or several in one round trip."""
        if len(writes) == 1:
            name, args, options = writes[0]
            await getattr(self._redis, name)(*args, **options)
        elif writes:
            async with self._redis.pipeline(transaction=False) as pipe:
                for name, args, options in writes:
                    getattr(pipe, name)(*args, **options)
                await pipe.execute()

    async def _send(
        self, chat_id: int, conversation: str, out: Outgoing, paced: Any = None
    ) -> None:
        """`paced`: the pace script's answer already fetched for this send (the
        first message's comes with the chat's state), or None to ask now."""
        parse_mode: str | None = ParseMode.HTML
        text = out.text
        for _ in range(MAX_SEND_TRIES):
            await self._pace(chat_id, paced)
            paced = None
            try:
                if out.file is not None:
                    await self._send_file(chat_id, text, parse_mode, out.file)
                else:
                    await self._send_text(chat_id, text, parse_mode, out.markup)
                return
            except RetryAfter as exc:
                wait = retry_after_seconds(exc)
                await self._redis.set(self._hold_key(chat_id), 1, px=max(1, int(wait * 1000)))
                log.warning("telegram: 429, asked to wait %.1fs", wait)
                metrics.PROVIDER_THROTTLED.labels("telegram").inc()
                if wait > self._max_wait:
                    raise ChannelUnavailable(f"Telegram asked to wait {wait:.0f}s") from exc
            except Forbidden as exc:
                await self.reachability.mark_unreachable(conversation, BLOCKED)
                log.info("telegram: a chat blocked the bot; marked unreachable")
                raise Undeliverable(f"Telegram: {BLOCKED}", reason=f"Telegram: {BLOCKED}") from exc
            except BadRequest as exc:
                if "can't parse entities" in exc.message.lower() and parse_mode is not None:
                    log.warning("telegram: HTML refused; sending as plain text")
                    parse_mode, text = None, out.plain
                    continue
                raise Undeliverable(f"Telegram refused the message: {exc.message}") from exc
            except ChatMigrated as exc:
                raise Undeliverable("Telegram: the group moved to a new chat id") from exc
            except InvalidToken as exc:  # its message may quote the token: not kept
                raise ChannelUnavailable("Telegram rejected the bot token") from exc
            except (NetworkError, TelegramError) as exc:
                raise ChannelUnavailable(f"Telegram unreachable ({type(exc).__name__})") from exc
        raise ChannelUnavailable("Telegram kept asking to wait")

    async def _send_text(self, chat_id: int, text: str, parse_mode: str | None,
                         markup: Markup | None) -> None:
        """`Bot.send_message`'s request, through the same path (`Bot._post`: PTB's
        request building, its transport, its errors: `RetryAfter`, `Forbidden`,
        `BadRequest`...), without turning the answer into a `Message`: nothing
        here reads it, and `Message.de_json` was a quarter of a delivery's CPU.
        `Bot.do_api_request`, the public way to get the raw answer, warns when
        asked for a method `Bot` has (`sendMessage`)."""
        data: dict[str, object] = {"chat_id": chat_id, "text": text}
        if parse_mode is not None:
            data["parse_mode"] = parse_mode
        if markup is not None:
            data["reply_markup"] = markup
        await self._bot._post("sendMessage", data)

    async def _send_file(self, chat_id: int, caption: str, parse_mode: str | None,
                         file: SharedFile) -> None:
        """By its signed link: Telegram fetches it (photos up to 5 MB that way; larger
        pictures and PDFs go as documents, up to 20 MB)."""
        if file.is_image and file.content_type != "image/heic" and file.size <= MAX_PHOTO_BY_URL:
            await self._bot.send_photo(chat_id, file.url, caption=caption or None,
                                       parse_mode=parse_mode)
        else:
            await self._bot.send_document(chat_id, file.url, caption=caption or None,
                                          parse_mode=parse_mode)

    def _hold_key(self, chat_id: int) -> str:
        return f"{self._prefix}{{telegram}}:hold:{chat_id}"

    def _pace_keys(self, chat_id: int) -> list[str]:
        return [
            f"{self._prefix}{{telegram}}:pace:{chat_id}",
            f"{self._prefix}{{telegram}}:pace",
            self._hold_key(chat_id),
        ]

    def _pace_args(self) -> list[Any]:
        return [CHAT_RATE, CHAT_BURST, self._bot_rate, self._bot_rate, 60_000]

    async def _pace(self, chat_id: int, answer: Any = None) -> None:
        """Take a token of the chat's and the bot's bucket (`answer`: the script's
        answer when it was already asked, in the pipeline that read the chat's
        state; an error there asks again). A chat that must wait
        (its pace, or a 429 hold) raises `SendLater`, so the outbox holds only this
        conversation; the bot's rate holds every chat alike, so it is waited out
        here (up to `max_wait`)."""
        keys, args = self._pace_keys(chat_id), self._pace_args()
        deadline = time.monotonic() + self._max_wait
        while True:
            if answer is None or isinstance(answer, Exception):
                script: Any = self._pace_script  # redis-py's scripts are untyped
                answer = await script(keys=keys, args=args)
            chat_ms, bot_ms = (int(v) for v in answer)
            answer = None
            if chat_ms > 0:
                raise SendLater(time.time() + chat_ms / 1000)
            if bot_ms <= 0:
                return
            if time.monotonic() + bot_ms / 1000 > deadline:
                raise ChannelUnavailable("Telegram: the bot's send rate is used up")
            await asyncio.sleep(bot_ms / 1000)
