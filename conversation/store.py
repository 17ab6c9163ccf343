"""Session state in Redis, in two round trips a turn.

`begin` is one script: drop a message id seen before (returning its first answer),
take the conversation's lock, and load the session. `finish` is one script: save
the session, remember the message id and its answer, append to the transcript,
and release the lock, only if the lock is still ours.

Stored formats are compact (issue 17: bytes per idle conversation): a
transcript line is a short header and its text, or the index of a text every
conversation repeats (`TranscriptLine.dump`); the remembered answer is deflated
with a preset dictionary of what answers repeat (`dump_answer`). Both tables are
frozen in `conversation.stored_texts`. The formats of earlier versions are still
read (`read_line`, `load_answer`); a privacy export shows them as those versions
stored them (`readable_line`, `readable_answer`).

Dedup keeps two things. Every message id handled in the last 24 h is a member
of one sorted set per conversation (a few bytes each, trimmed by age on every
turn). The first answer is needed only while a provider or the widget may retry,
seconds to minutes, and only the latest message is retried in practice: one key
holds the latest id and its answer for `ANSWER_TTL_S`. A repeat of that message
gets its first answer again; a repeat of an older one (or after that time) is
still dropped, with no replies (nothing is done twice).

All keys of one conversation share a hash tag, so both scripts run on Redis Cluster too.

`finish` can carry other writes of the turn (`Alongside`: the reports' count of the
day's first turn, the turn's audit entries; `calls`: a guess given back) in the same
round trip: one pipeline, not a transaction, so those may be in other slots; only the
save's own outcome decides the turn's.

Errors:
    StoreUnavailable   Redis cannot be reached; the caller answers 503 and nothing changed
    ConversationBusy   another turn of the same conversation held the lock too long
    LockLost           our lock expired before we saved; nothing was saved
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline

from orders.redis_errors import REDIS_UNAVAILABLE

from .keys import Keys
from .scripts import ScriptCall, run_batched, run_script
from .session import Session
from .stored_texts import ANSWER_DICTIONARY, STATIC_TEXTS
from .tokens import next_token

log = logging.getLogger(__name__)

LOCK_TTL_MS = 10_000
LOCK_WAIT_S = 8.0
SEEN_TTL_S = 24 * 3600  # a message id is known this long after it was handled
ANSWER_TTL_S = 15 * 60  # the latest message's answer is kept this long for a retry
SESSION_TTL_S = 7 * 24 * 3600
HANDED_OFF_SESSION_TTL_S = 30 * 24 * 3600
TRANSCRIPT_TTL_S = 7 * 24 * 3600
TRANSCRIPT_MAX = 200

REDIS_DOWN: tuple[type[Exception], ...] = (*REDIS_UNAVAILABLE, OSError)
"""Redis cannot answer now (a single server down, or a Cluster mid-failover)."""

# One encoder for every compact dump: `json.dumps` with options builds a new
# JSONEncoder per call, a measurable share of a turn's few JSON dumps.
compact_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class StoreUnavailable(Exception):
    pass


class ConversationBusy(Exception):
    pass


class LockLost(Exception):
    pass


_BEGIN = """
if #KEYS > 4 then redis.call('SET', KEYS[5], ARGV[4], 'EX', ARGV[5]) end
if redis.call('ZSCORE', KEYS[3], ARGV[3]) then
  local last = redis.call('GET', KEYS[4])
  if last and string.sub(last, 1, #ARGV[3] + 1) == ARGV[3] .. '\\n' then
    return {'dup', string.sub(last, #ARGV[3] + 2)}
  end
  return {'dup', '[]'}
end
if not redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {'busy', ''} end
return {'ok', redis.call('GET', KEYS[1]) or ''}
"""

_FINISH = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1])
redis.call('ZADD', KEYS[3], now, ARGV[8])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - tonumber(ARGV[5]))
redis.call('EXPIRE', KEYS[3], ARGV[5])
redis.call('SET', KEYS[4], ARGV[8] .. '\\n' .. ARGV[4], 'EX', ARGV[9])
if #ARGV > 9 then
  redis.call('RPUSH', KEYS[5], unpack(ARGV, 10))
  redis.call('LTRIM', KEYS[5], -tonumber(ARGV[7]), -1)
  redis.call('EXPIRE', KEYS[5], ARGV[6])
end
redis.call('DEL', KEYS[2])
return 1
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


Alongside = Callable[[Pipeline], Callable[[Sequence[Any]], None]]
"""Queues its commands on the pipeline; returns what to do with their results (in
the order queued), which must not raise."""


def together(*parts: Alongside | None) -> Alongside | None:
    """Several `Alongside`s as one (None when there is none): each queues its
    commands in turn and is handed the answers of its own."""
    present = [part for part in parts if part is not None]
    if len(present) <= 1:
        return present[0] if present else None

    def queue(pipe: Pipeline) -> Callable[[Sequence[Any]], None]:
        handlers: list[tuple[Callable[[Sequence[Any]], None], int]] = []
        for part in present:
            before = len(pipe)
            handle = part(pipe)
            handlers.append((handle, len(pipe) - before))

        def handle_all(answers: Sequence[Any]) -> None:
            start = 0
            for handle, count in handlers:
                handle(answers[start:start + count])
                start += count

        return handle_all

    return queue


@dataclass(frozen=True, slots=True)
class KeyWrite:
    """A key of the same conversation (same hash tag) that a channel wants written
    as the turn begins, in the turn's first round trip rather than one of its own
    (WhatsApp's last-inbound time, which opens the 24-hour window)."""

    key: str
    value: str
    ttl_s: int


@dataclass(frozen=True, slots=True)
class Begun:
    """A turn that holds the lock (`token`), or a duplicate with its first answer."""

    session: Session
    token: str | None
    duplicate_answer: Any = None


_WHO_CODES = {"shopper": "s", "bot": "b", "staff": "t", "system": "y"}
_WHO_NAMES = {code: who for who, code in _WHO_CODES.items()}
# the same who, upper case: the text is `STATIC_TEXTS[int(what follows the header)]`
_STATIC_WHO_NAMES = {code.upper(): who for code, who in _WHO_NAMES.items()}
_STATIC_INDEX = {text: str(n) for n, text in enumerate(STATIC_TEXTS)}
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(number: int) -> str:
    """Epoch seconds in 6 characters until 2038 (`int(text, 36)` reads them back)."""
    digits = ""
    while True:
        number, digit = divmod(number, 36)
        digits = _DIGITS[digit] + digits
        if not number:
            return digits


def _plain(field: str | None) -> bool:
    """A header field must hold no space or newline (its separators)."""
    return not field or (" " not in field and "\n" not in field)


@dataclass(frozen=True, slots=True)
class TranscriptLine:
    """One line of a conversation's transcript, stored as a header line and the
    text: `<who code><epoch seconds, base 36>[ <reply key>[ <files>]]\\n<text>`.
    The text needs no escaping, being all that follows the first newline; a text
    of `STATIC_TEXTS` (the welcome every conversation has) is its index there, with
    the who code in upper case. A line is about 15 bytes smaller than the JSON
    array it replaces (`[who, epoch, text, key?, files?]`), which `read_line` still
    reads, as it reads the object with ISO times before that. A who or a field
    that does not fit is stored as the array."""

    who: str  # shopper | bot | staff | system
    text: str
    at: str  # ISO time
    key: str | None = None
    files: str | None = None  # the shopper's attachments, ids comma-separated

    def dump(self) -> str:
        code = _WHO_CODES.get(self.who)
        epoch = int(datetime.fromisoformat(self.at).timestamp())
        if code is None or epoch < 0 or not (_plain(self.key) and _plain(self.files)):
            return self._dump_array(epoch)
        text = _STATIC_INDEX.get(self.text)
        if text is None:
            text = self.text
        else:
            code = code.upper()
        head = code + _base36(epoch)
        if self.files:
            head = f"{head} {self.key or ''} {self.files}"
        elif self.key:
            head = f"{head} {self.key}"
        return f"{head}\n{text}"

    def _dump_array(self, epoch: int) -> str:
        """The previous format, for lines the header cannot carry."""
        data: list[str | int] = [self.who, epoch, self.text]
        if self.key or self.files:
            data.append(self.key or "")
        if self.files:
            data.append(self.files)
        return compact_json(data)


def read_line(raw: str | bytes) -> dict[str, str]:
    """A stored transcript line as `{"who", "text", "at" (ISO), "key"?,
    "attachments"?}`, from any of its formats: the header and text
    (`TranscriptLine.dump`), the compact array (`[who, at, text, key?, files?]`), or
    the object of earlier versions."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    code = text[:1]
    if code in _WHO_NAMES or code in _STATIC_WHO_NAMES:
        head, _, body = text.partition("\n")
        at, *rest = head[1:].split(" ")
        if code in _STATIC_WHO_NAMES:
            return _line(_STATIC_WHO_NAMES[code], int(at, 36), STATIC_TEXTS[int(body)], rest)
        return _line(_WHO_NAMES[code], int(at, 36), body, rest)
    data = json.loads(text)
    if isinstance(data, dict):
        return data
    who, epoch, body, *rest = data
    return _line(who, epoch, body, rest)


def readable_line(raw: str | bytes) -> str:
    """A stored line as text a person can read (a privacy export): the JSON array
    of the version before, with the whole text; an object line as it is."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    if text[:1] not in _WHO_NAMES and text[:1] not in _STATIC_WHO_NAMES:
        return text
    line = read_line(text)
    at = datetime.fromisoformat(line["at"])
    return TranscriptLine(line["who"], line["text"], line["at"], line.get("key"),
                          line.get("attachments"))._dump_array(int(at.timestamp()))


def _line(who: str, epoch: int, text: str, rest: Sequence[str]) -> dict[str, str]:
    line = {"who": who, "text": text, "at": datetime.fromtimestamp(epoch, UTC).isoformat()}
    if rest and rest[0]:
        line["key"] = rest[0]
    if len(rest) > 1 and rest[1]:
        line["attachments"] = rest[1]
    return line


# The remembered answer, deflated: a marker byte JSON never starts with, then raw
# deflate (4 KB window) primed with `ANSWER_DICTIONARY`, what answers repeat. Both
# are part of the stored format: change them only under another marker. Each answer
# deflates on a copy of one primed compressor (a third of the cost of priming one),
# at level 1 (a few bytes more than level 6, at half the CPU).
_DEFLATED = b"\x00"
_PRIMED = zlib.compressobj(1, zlib.DEFLATED, -12, 3, zlib.Z_DEFAULT_STRATEGY, ANSWER_DICTIONARY)


def dump_answer(answer: Any) -> bytes:
    """The answer as stored for a retry: its JSON, deflated when that is shorter
    (about a quarter of the size for the catalogue's English answers, ~6 µs)."""
    raw = compact_json(answer).encode()
    packer = _PRIMED.copy()
    packed = packer.compress(raw) + packer.flush()
    return _DEFLATED + packed if len(packed) + 1 < len(raw) else raw


def load_answer(stored: bytes) -> Any:
    """The answer `dump_answer` stored, or the plain JSON of earlier versions."""
    if stored[:1] == _DEFLATED:
        stored = zlib.decompressobj(-15, ANSWER_DICTIONARY).decompress(stored[1:])
    return json.loads(stored)


def readable_answer(stored: str | bytes) -> str:
    """The answer key's `<message id>\\n<answer>` as text a person can read (a
    privacy export), as the version before stored it."""
    raw = stored.encode() if isinstance(stored, str) else stored
    message_id, _, answer = raw.partition(b"\n")
    return f"{message_id.decode()}\n{compact_json(load_answer(answer))}"


class SessionStore:
    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._begin = redis.register_script(_BEGIN)
        self._finish = redis.register_script(_FINISH)
        self._release = redis.register_script(_RELEASE)

    async def begin(
        self, conversation: str, message_id: str, also: KeyWrite | None = None
    ) -> Begun:
        """Dedup, lock and load; waits (with growing pauses) while another turn runs.
        `also` is written first, whatever else happens (a redelivery included)."""
        keys = [
            self._keys.session(conversation),
            self._keys.lock(conversation),
            self._keys.seen(conversation),
            self._keys.answer(conversation),
        ]
        args: list[str | int] = [next_token(), LOCK_TTL_MS, message_id]
        if also is not None:
            keys.append(also.key)
            args += [also.value, also.ttl_s]
        token = str(args[0])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LOCK_WAIT_S
        pause = 0.002
        while True:
            try:
                status, value = await run_script(self._redis, ScriptCall(self._begin, keys, args))
            except REDIS_DOWN as exc:
                raise StoreUnavailable("Redis is unreachable") from exc
            if status == b"dup":
                return Begun(Session(), None, load_answer(value))
            if status == b"ok":
                return Begun(Session.parse(value), token)
            if loop.time() >= deadline:
                raise ConversationBusy(conversation)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.1)

    async def finish(
        self,
        conversation: str,
        message_id: str,
        token: str,
        session: Session,
        answer: Any,
        lines: Sequence[TranscriptLine],
        alongside: Alongside | None = None,
        calls: Sequence[ScriptCall] = (),
    ) -> None:
        """Save, remember the answer, append the transcript, release the lock; with
        other script `calls` of the turn (a guess given back) and `alongside`'s
        commands in the same round trip. Those run whatever the save's outcome; a
        call's error is logged, not raised (the save decides the turn)."""
        ttl = HANDED_OFF_SESSION_TTL_S if session.ticket else SESSION_TTL_S
        keys = [
            self._keys.session(conversation),
            self._keys.lock(conversation),
            self._keys.seen(conversation),
            self._keys.answer(conversation),
            self._keys.transcript(conversation),
        ]
        args: list[str | int | bytes] = [
            token,
            session.dump(),
            ttl,
            dump_answer(answer),
            SEEN_TTL_S,
            max(TRANSCRIPT_TTL_S, ttl),
            TRANSCRIPT_MAX,
            message_id,
            ANSWER_TTL_S,
            *(line.dump() for line in lines),
        ]
        try:
            if alongside is None and not calls:
                saved = await run_script(self._redis, ScriptCall(self._finish, keys, args))
            else:
                saved = await self._finish_with(keys, args, alongside, calls)
        except REDIS_DOWN as exc:
            raise StoreUnavailable("Redis is unreachable") from exc
        if not saved:
            raise LockLost(conversation)

    async def _finish_with(
        self, keys: list[str], args: list[str | int | bytes], alongside: Alongside | None,
        calls: Sequence[ScriptCall],
    ) -> Any:
        """The save script with `calls` and `alongside`'s commands in one round trip
        (`conversation.scripts.run_batched`, which loads a missing script and sends
        its calls again)."""
        handle: Callable[[Sequence[Any]], None] | None = None

        def queue(pipe: Pipeline) -> None:
            nonlocal handle
            handle = alongside(pipe) if alongside is not None else None

        saved, *others = await run_batched(
            self._redis, [ScriptCall(self._finish, keys, args), *calls], queue)
        for answer in others[:len(calls)]:
            if isinstance(answer, Exception):
                log.warning("a call sent with a turn's save failed: %s", type(answer).__name__)
        if handle is not None:
            handle(others[len(calls):])
        if isinstance(saved, Exception):
            raise saved
        return saved

    async def release(self, conversation: str, token: str) -> None:
        """Give the lock back after a failed turn, so the shopper can try again at once."""
        with contextlib.suppress(*REDIS_DOWN):  # else the lock expires by itself
            await run_script(self._redis, ScriptCall(
                self._release, [self._keys.lock(conversation)], [token]))

    async def transcript(self, conversation: str) -> list[dict[str, str]]:
        try:
            raw = await self._redis.lrange(self._keys.transcript(conversation), 0, -1)
        except REDIS_DOWN as exc:
            raise StoreUnavailable("Redis is unreachable") from exc
        return [read_line(line) for line in raw]

    async def load(self, conversation: str) -> Session:
        """Read a session without a turn (for staff tools and tests)."""
        try:
            return Session.parse(await self._redis.get(self._keys.session(conversation)))
        except REDIS_DOWN as exc:
            raise StoreUnavailable("Redis is unreachable") from exc
