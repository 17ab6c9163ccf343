"""The durable outbox for proactive messages: staff replies, "your request was
resolved", shipping updates. Anything the shopper did not just ask for goes here
and a worker delivers it, so a provider outage or a crash loses nothing.

One Redis stream with a consumer group holds the messages; each entry's stream id
is the message's stable id. Delivery is at least once: a crash between delivering
and acknowledging delivers the message again, so receivers drop repeats by id.

Order per conversation. Every conversation has a small list of its undelivered
ids, and only the holder of that conversation's lease (a short `SET NX PX`)
delivers, always the list's head first. Whichever entry a consumer reads, it drains
the conversation from the head; an entry that is not the head waits. When the head
fails, the conversation is held back until its retry time, so a later message never
overtakes a retried one. Different conversations never wait on each other: each
is drained by its own task (up to `concurrency` at once), and one that must wait
(a retry, or `SendLater` from a sender's pacing) is held by a timer of its own
while the others go on.

Round trips. A message costs one `_STEP` before it is delivered (take the lease,
read the head) and one after (finish it, read the next); the ones after are
acknowledgements. Steps go out in one pipeline with the other calls made in the
same turn of the event loop (`conversation.scripts.turn_batch`): the takes of the
conversations read together, the senders' reads, and the acknowledgements with
each one's "sent" state (`conversation.delivery`). Deliveries are made to travel
together, so that under load each of those pipelines serves several messages:
after a read that found less than a full `batch`, the next waits `linger` seconds,
so entries arriving at a steady rate are read (and taken) a few at a time instead
of one by one; and an acknowledgement made while other deliveries of this consumer
are still sending waits for them (up to `wave` seconds, a lazy call), so the
deliveries read together are acknowledged together. From a backlog or at a steady
hundred or more a second, a message then costs under two round trips (outbox_drain);
alone (a quiet minute) it still costs five: read, take, the sender's read, the
acknowledgement with its "sent" state, and that state's inbox event.

Retries. The attempt count and the next try time live in Redis (not in the
consumer), so they survive a crash and any consumer can carry on. The delay is
exponential with jitter (`RetryPolicy`). After `max_attempts` failures, or at once
for `Undeliverable`, the message moves to the dead-letter stream with the last
error and the conversation carries on with its next message. Logs name the
message id, channel and error type only: never the conversation key or the text.

Crashes. An entry left pending by a consumer that died is taken over with
XAUTOCLAIM once idle for `min_idle`; a live consumer refreshes the entries it is
holding back, so they are not taken from it.

Partitions. The outbox is `partitions` streams (one by default); a conversation
always goes to the same one (CRC32 of its key, modulo the count), so its order is
kept. Each partition's keys (stream, dead letters, tries, and per conversation its
list, lease, dedup records and order lock) share one hash tag, so every script
touches one slot and also runs on Redis Cluster; the tags are chosen so that the
partitions' slots spread evenly over the slot range, which puts them on different
masters of a cluster whose masters hold equal ranges (`--cluster create` does
that). Partition 0's tag is `{outbox}` (`ohb:{outbox}`, `ohb:{outbox}:dead`, ...),
the single stream of earlier releases. Each consumer reads every partition (one
read loop each, sharing its `concurrency`). Changing the count moves
conversations to other partitions: do it with an empty outbox (`backlog() == 0`),
or a conversation's queued messages and new ones may be delivered out of order.

Errors:
    OutboxError
      ├── OutboxUnavailable   Redis did not answer while enqueueing
      ├── MalformedMessage    a stream entry that cannot be read back (dead-lettered)
      └── DeliveryError       raised by a deliver function: try again later
            ├── ChannelUnavailable   no sender for the channel (yet); retried
            └── Undeliverable        will never work (e.g. the shopper blocked the bot);
                                     dead-lettered without retries
Any other exception from a deliver function counts as a `DeliveryError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import random
import secrets
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from redis.crc import key_slot
from redis.exceptions import ResponseError

from conversation import metrics
from conversation.scripts import ScriptCall, turn_batch
from conversation.types import Button, Channel, LinkButton, Reply, SharedFile
from orders.redis_errors import REDIS_UNAVAILABLE

log = logging.getLogger(__name__)

GROUP = "senders"
MAX_ERROR_CHARS = 300
DEFAULT_MAXLEN = 100_000  # undelivered messages; delivered ones are deleted at once
QUEUE_TTL_S = 7 * 24 * 3600  # a conversation's list of undelivered ids
DEDUP_TTL_S = 7 * 24 * 3600

Deliver = Callable[["OutboxMessage"], Awaitable[None]]

_json = json.JSONEncoder(ensure_ascii=False).encode  # built once, not per dump


class OutboxError(Exception):
    pass


class OutboxUnavailable(OutboxError):
    pass


class MalformedMessage(OutboxError):
    pass


class DeliveryError(OutboxError):
    pass


class ChannelUnavailable(DeliveryError):
    pass


class Undeliverable(DeliveryError):
    """The channel will never take this message. `reason`: words that are safe to
    show staff (ours, or the provider's codes; never a provider's free text, which
    may quote the shopper)."""

    def __init__(self, *args: object, reason: str | None = None) -> None:
        super().__init__(*args)
        self.reason = reason


class SendLater(OutboxError):
    """Raised by a deliver function that may not send yet (a per-chat pace, a
    provider's "retry after"): not a failure, no attempt is counted. Only this
    conversation waits until `at` (epoch seconds); then the message is tried
    again (a sender that sent part of it must remember which part)."""

    def __init__(self, at: float) -> None:
        super().__init__(f"not before {at:.3f}")
        self.at = at


# --- the message and its wire format ------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """`id` is the stream id of the first enqueue and never changes (receivers
    drop repeats by it); `attempts` counts the failed deliveries before this one."""

    id: str
    channel: Channel
    conversation: str
    replies: tuple[Reply, ...]
    attempts: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class DeadLetter:
    message: OutboxMessage
    error: str
    failed_at: datetime


def replies_to_data(replies: Iterable[Reply]) -> list[dict[str, Any]]:
    """The JSON shape shared by the outbox and the web chat's event stream."""
    return [
        {
            "key": r.key,
            "text": r.text,
            "buttons": [{"label": b.label, "payload": b.payload} for b in r.buttons],
            "links": [{"label": link.label, "url": link.url} for link in r.links],
            **({"author": r.author} if r.author else {}),
            **({"file": {"id": r.file.id, "url": r.file.url, "content_type": r.file.content_type,
                         "size": r.file.size, "name": r.file.name}} if r.file else {}),
        }
        for r in replies
    ]


def _file(data: Any) -> SharedFile | None:
    if data is None:
        return None
    return SharedFile(id=str(data["id"]), url=str(data["url"]),
                      content_type=str(data["content_type"]), size=int(data["size"]),
                      name=str(data["name"]))


def replies_from_data(data: Any) -> tuple[Reply, ...]:
    """Inverse of `replies_to_data`; raises `MalformedMessage` on any other shape."""
    try:
        return tuple(
            Reply(
                key=str(item["key"]),
                text=str(item["text"]),
                buttons=tuple(
                    Button(label=str(b["label"]), payload=str(b["payload"]))
                    for b in item.get("buttons", ())
                ),
                links=tuple(
                    LinkButton(label=str(link["label"]), url=str(link["url"]))
                    for link in item.get("links", ())
                ),
                author=str(item["author"]) if item.get("author") else None,
                file=_file(item.get("file")),
            )
            for item in data
        )
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise MalformedMessage("replies do not have the expected shape") from exc


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _decode(entry_id: str, fields: Mapping[Any, Any], attempts: int) -> OutboxMessage:
    data = {_text(k): _text(v) for k, v in fields.items()}
    try:
        return OutboxMessage(
            id=entry_id,
            channel=Channel(data["channel"]),
            conversation=data["conversation"],
            replies=replies_from_data(json.loads(data["replies"])),
            attempts=attempts,
            created_at=datetime.fromtimestamp(int(data["created_ms"]) / 1000, UTC),
        )
    except (KeyError, ValueError) as exc:
        raise MalformedMessage(f"stream entry {entry_id} cannot be read") from exc


def _describe(exc: BaseException) -> str:
    """The error kept with a dead letter (never logged: it may quote a provider)."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text[:MAX_ERROR_CHARS]


# --- retry policy -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Delay before try n+1 after n failures: `base * 2**(n-1)` capped at `cap`,
    then "equal jitter" (half fixed, half random), in seconds. Defaults give about
    four minutes over eight attempts; tests use milliseconds."""

    max_attempts: int = 8
    base: float = 1.0
    cap: float = 120.0

    def delay(self, failures: int, rng: random.Random | None = None) -> float:
        full = min(self.cap, self.base * 2.0 ** max(0, failures - 1))
        jitter = rng.uniform(0, full / 2) if rng else random.uniform(0, full / 2)  # noqa: S311
        return full / 2 + jitter


# --- scripts (each call's KEYS share one partition's hash tag) ----------------------

# KEYS: the stream, the conversation's list, then the dedup record if ARGV[8] is
# '1', then a producer's order lock (`order_lock`) if ARGV[9] is given: released
# here if still ARGV[9]'s, so "queue, then unlock" is one round trip. (Absent keys
# are left out, never passed as '': an empty key name hashes to slot 0.)
_ENQUEUE = """
local dedup = nil
local lock = nil
if ARGV[8] == '1' then dedup = KEYS[3] end
if ARGV[9] then lock = KEYS[#KEYS] end
local function unlock()
  if lock and redis.call('GET', lock) == ARGV[9] then redis.call('DEL', lock) end
end
if dedup then
  local known = redis.call('GET', dedup)
  if known then unlock() return known end
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*',
  'channel', ARGV[2], 'conversation', ARGV[3], 'replies', ARGV[4], 'created_ms', ARGV[5])
redis.call('RPUSH', KEYS[2], id)
redis.call('EXPIRE', KEYS[2], ARGV[6])
if dedup then redis.call('SET', dedup, id, 'EX', ARGV[7]) end
unlock()
return id
"""

# Done with one message (delivered or dead): forget it everywhere. Idempotent.
_FINISH = """
redis.call('LREM', KEYS[2], 1, ARGV[2])
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[2])
return 1
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# One step of draining a conversation, so a message costs two round trips (this,
# before and after delivering it) instead of seven. KEYS: the lease, the
# conversation's list, the tries hash, the stream. ARGV: lease token, lease ms,
# '1' to take the lease first, the id just finished ('' for none), the group.
# Returns {'busy'} (leased by someone else), {'empty'} (lease released), or the
# head: {'head', id, tries ('' if never tried), field, value, ...} (no fields:
# trimmed from the stream).
_STEP = """
if ARGV[3] == '1' and not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {'busy'}
end
if ARGV[4] ~= '' then
  redis.call('LREM', KEYS[2], 1, ARGV[4])
  redis.call('XACK', KEYS[4], ARGV[5], ARGV[4])
  redis.call('XDEL', KEYS[4], ARGV[4])
  redis.call('HDEL', KEYS[3], ARGV[4])
end
local head = redis.call('LINDEX', KEYS[2], 0)
if not head then
  if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
  return {'empty'}
end
local found = redis.call('XRANGE', KEYS[4], head, head)
local fields = {}
if found[1] then fields = found[1][2] end
return {'head', head, redis.call('HGET', KEYS[3], head) or '', unpack(fields)}
"""


SLOTS = 16_384


def partition_tags(count: int) -> list[str]:
    """The hash tags of `count` partitions: partition i's slot lies in the i-th
    `count`-th of the slot range. Partition 0 of one is `outbox`."""
    tags = []
    for i in range(count):
        low, high = i * SLOTS // count, (i + 1) * SLOTS // count
        candidates = itertools.chain(["outbox"] if i == 0 else [], [f"outbox:{i}"],
                                     (f"outbox:{i}:{n}" for n in itertools.count(1)))
        tags.append(next(t for t in candidates if low <= key_slot(t.encode()) < high))
    return tags


@dataclass(frozen=True, slots=True)
class Partition:
    """One of the outbox's streams and every key that goes with it: all share the
    hash tag in `stream` (one Redis Cluster slot)."""

    stream: str

    @property
    def dead(self) -> str:
        return f"{self.stream}:dead"

    @property
    def tries(self) -> str:
        """Attempt count and next try time of the messages that failed."""
        return f"{self.stream}:tries"

    def queue(self, conversation: str) -> str:
        """The conversation's undelivered ids, oldest first."""
        return f"{self.stream}:q:{conversation}"

    def lease(self, conversation: str) -> str:
        return f"{self.stream}:lease:{conversation}"

    def dedup(self, key: str) -> str:
        return f"{self.stream}:dedup:{key}"

    def order_lock(self, conversation: str) -> str:
        return f"{self.stream}:order:{conversation}"


class Outbox:
    """Enqueue proactive messages; `run` one or more consumers to deliver them."""

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        prefix: str = "ohb:",
        retry: RetryPolicy | None = None,
        min_idle: float = 60.0,
        lease_ttl: float = 30.0,
        deliver_timeout: float = 20.0,
        block: float = 1.0,
        recheck: float = 0.25,
        batch: int = 32,
        concurrency: int = 8,
        maxlen: int = DEFAULT_MAXLEN,
        partitions: int = 1,
        linger: float = 0.02,
        wave: float = 0.01,
    ) -> None:
        """`min_idle`: seconds an entry sits unacknowledged before another consumer
        takes it over; `lease_ttl` must outlast `deliver_timeout`, or a slow delivery
        could run twice; `block`: the longest read wait, so `stop` is seen that fast;
        `recheck`: how soon to look again at a conversation another consumer drains;
        `concurrency`: conversations delivered to at once (one message each); more
        than the senders' HTTP pools take only queues for a connection (with
        deliveries in waves, outbox_drain's backlog: 16, the Telegram pool's size,
        beat 8 and 32), shared by the partitions' read loops (each gets its share,
        at least one);
        `partitions`: the number of streams (see the module docstring);
        `linger`: seconds between a read that found less than `batch` entries and
        the next, so a steady flow is read a few at a time; `wave`: the longest an
        acknowledgement waits for the deliveries still sending (both: see "Round
        trips" in the module docstring; they add at most that much lag)."""
        if partitions < 1:
            raise ValueError("partitions must be at least 1")
        if lease_ttl <= deliver_timeout:
            raise ValueError("lease_ttl must be longer than deliver_timeout")
        self._redis = redis
        self.retry = retry or RetryPolicy()
        self._min_idle = min_idle
        self._lease_ttl = lease_ttl
        self._deliver_timeout = deliver_timeout
        self._block = block
        self._recheck = recheck
        self._batch = batch
        self._concurrency = max(1, concurrency)
        self._maxlen = maxlen
        self._linger = linger
        self._wave = wave
        self.partitions = tuple(Partition(f"{prefix}{{{tag}}}")
                                for tag in partition_tags(partitions))
        self._enqueue = redis.register_script(_ENQUEUE)
        self._finish = redis.register_script(_FINISH)
        self._release = redis.register_script(_RELEASE)
        self._step = redis.register_script(_STEP)

    @property
    def stream_key(self) -> str:
        """The first partition's stream (the only one, with one partition)."""
        return self.partitions[0].stream

    @property
    def dead_key(self) -> str:
        return self.partitions[0].dead

    def partition(self, conversation: str) -> Partition:
        """The partition that carries `conversation`'s messages, always the same."""
        if len(self.partitions) == 1:
            return self.partitions[0]
        return self.partitions[zlib.crc32(conversation.encode()) % len(self.partitions)]

    def order_lock(self, conversation: str) -> str:
        """A producer's lock around "handle, then enqueue" for one conversation
        (`app.in_order`). It shares the conversation's partition's hash tag, so
        `enqueue` can release it in the same script."""
        return self.partition(conversation).order_lock(conversation)

    # --- producing --------------------------------------------------------------

    async def enqueue(
        self,
        channel: Channel,
        conversation: str,
        replies: Sequence[Reply],
        *,
        dedup_key: str | None = None,
        unlock: tuple[str, str] | None = None,
    ) -> str:
        """Queue `replies` for the shopper and return the message id. With a
        `dedup_key` (e.g. `resolved:<ticket>`), a second call within a week
        returns the first call's id and queues nothing. `unlock`: an
        `order_lock` key and its holder's token, released once queued."""
        part = self.partition(conversation)
        args: list[str | int] = [
            self._maxlen,
            channel.value,
            conversation,
            _json(replies_to_data(replies)),
            int(time.time() * 1000),
            QUEUE_TTL_S,
            DEDUP_TTL_S,
            "0" if dedup_key is None else "1",
        ]
        keys = [part.stream, part.queue(conversation)]
        if dedup_key is not None:
            keys.append(part.dedup(dedup_key))
        if unlock is not None:
            keys.append(unlock[0])
            args.append(unlock[1])
        try:
            result = await _script(self._enqueue, keys, args)
        except REDIS_UNAVAILABLE as exc:
            raise OutboxUnavailable("the outbox's Redis did not answer") from exc
        return _text(result)

    # --- inspecting ------------------------------------------------------------

    async def backlog(self) -> int:
        """Messages not yet delivered nor dead-lettered, over all partitions."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for part in self.partitions:
                pipe.xlen(part.stream)
            return sum(int(n) for n in await pipe.execute())

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The oldest `limit` dead letters (of all partitions), for the inbox or an
        operator."""
        letters = []
        async with self._redis.pipeline(transaction=False) as pipe:
            for part in self.partitions:
                pipe.xrange(part.dead, count=limit)
            pages: list[Any] = await pipe.execute()
        entries = sorted((e for page in pages for e in page),
                         key=lambda e: _stream_order(_text(e[0])))[:limit]
        for entry_id, fields in entries:
            data = {_text(k): v for k, v in fields.items()}
            message = _decode(_text(data["id"]), data, int(_text(data["attempts"])))
            letters.append(
                DeadLetter(
                    message=message,
                    error=_text(data["error"]),
                    failed_at=datetime.fromtimestamp(
                        int(_text(entry_id).split("-")[0]) / 1000, UTC
                    ),
                )
            )
        return letters

    # --- consuming --------------------------------------------------------------

    async def ensure_group(self, partition: Partition | None = None) -> None:
        """Create the stream and group (of `partition`, or of all); from id 0, so
        earlier messages are delivered."""
        for part in self.partitions if partition is None else (partition,):
            try:
                await self._redis.xgroup_create(part.stream, GROUP, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def run(self, deliver: Deliver, *, consumer: str, stop: asyncio.Event) -> None:
        """Deliver from every partition until `stop` is set (seen within `block`
        seconds). A delivery in progress is finished, not cut off. Redis outages
        are logged and waited out; a bug in one partition's loop stops them all and
        is raised."""
        share = max(1, -(-self._concurrency // len(self.partitions)))
        if len(self.partitions) == 1:
            await _Consumer(self, self.partitions[0], deliver, consumer, stop, share).loop()
        else:
            await self._run_all(deliver, consumer, stop, share)
        for part in self.partitions:
            with contextlib.suppress(*REDIS_UNAVAILABLE, ResponseError):
                # A clean stop with nothing pending leaves no trace in the group.
                if not await self._redis.xpending_range(
                    part.stream, GROUP, "-", "+", 1, consumername=consumer
                ):
                    await self._redis.xgroup_delconsumer(part.stream, GROUP, consumer)

    async def _run_all(self, deliver: Deliver, consumer: str, stop: asyncio.Event,
                       share: int) -> None:
        halt = asyncio.Event()  # `stop`, or one loop failed
        loops = [asyncio.create_task(
            _Consumer(self, part, deliver, consumer, halt, share).loop(),
            name=f"outbox-read-{n}") for n, part in enumerate(self.partitions)]
        stopped = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait([stopped, *loops], return_when=asyncio.FIRST_COMPLETED)
        finally:
            halt.set()
            stopped.cancel()
            results = await asyncio.gather(*loops, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result


@dataclass(frozen=True, slots=True)
class _Head:
    """A conversation's next message, as `_STEP` read it."""

    id: str
    attempts: int
    not_before: float  # epoch seconds
    fields: dict[Any, Any]  # empty: trimmed from the stream


@dataclass(slots=True)
class _Visit:
    """How draining one conversation ended."""

    finished: set[str]  # delivered or dead-lettered by this visit
    resume_at: float | None = None  # the head must wait until then (epoch seconds)
    busy: bool = False  # another consumer holds the lease


_BUSY = "busy"
_REDIS_DOWN = REDIS_UNAVAILABLE


class _Consumer:
    """One consumer: a read loop that hands conversations to drain tasks.

    Each conversation this consumer knows of is in exactly one place: being
    drained by its own task (`active`, at most `concurrency` at once), waiting for
    a free slot (`ready`), or held until a due time by a timer (`timers`: its head
    waits for a retry, a pacing slot, or another consumer's lease). A wait holds
    only its own conversation; the read loop blocks in XREADGROUP for up to
    `block` and never polls."""

    def __init__(self, outbox: Outbox, partition: Partition, deliver: Deliver, name: str,
                 stop: asyncio.Event, concurrency: int):
        self.o = outbox
        self.p = partition
        self.concurrency = concurrency
        self.r = outbox._redis
        self.deliver = deliver
        self.name = name
        self.stop = stop
        self.ids: dict[str, set[str]] = {}  # conversation -> entries read, not finished
        self.active: dict[str, asyncio.Task[None]] = {}
        self.again: set[str] = set()  # entries arrived while it was being drained
        self.ready: dict[str, None] = {}  # conversations waiting for a slot, in order
        self.timers: dict[str, asyncio.TimerHandle] = {}
        self.freed = asyncio.Event()
        self.crash: BaseException | None = None
        self.reclaim_every = max(outbox._min_idle / 4, 0.001)
        self.next_reclaim = 0.0
        self.batch = turn_batch(self.r)
        self.sending = 0  # deliveries in progress (in the deliver function)

    @property
    def held(self) -> dict[str, str]:
        """Entries read and not finished (id -> conversation): kept fresh by `_touch`."""
        return {i: c for c, ids in self.ids.items() for i in ids}

    async def loop(self) -> None:
        pause = 0.0
        grouped = False
        me = asyncio.current_task()
        try:
            while not self.stop.is_set():
                # A cancellation can get lost on the way (Python 3.11's wait_for when
                # its timeout fires at the same moment): the task still says so.
                if me is not None and me.cancelling():
                    raise asyncio.CancelledError
                try:
                    if not grouped:
                        await self.o.ensure_group(self.p)
                        grouped = True
                    await self._turn()
                    pause = 0.0
                except ResponseError as exc:
                    if "NOGROUP" not in str(exc):
                        raise
                    log.warning("outbox: consumer group missing (stream deleted?); recreating")
                    grouped = False
                except _REDIS_DOWN:
                    metrics.STORE_ERRORS.labels("redis").inc()
                    pause = min(max(pause * 2, 0.1), 5.0)
                    log.warning("outbox: Redis unavailable, retrying in %.1fs", pause)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.stop.wait(), pause)
        finally:
            for timer in self.timers.values():
                timer.cancel()
            self.timers.clear()
            self.ready.clear()
            # deliveries in progress are finished, not cut off
            if self.active:
                await asyncio.gather(*self.active.values(), return_exceptions=True)
            await self.batch.settle()  # and their acknowledgements sent

    async def _turn(self) -> None:
        if self.crash is not None:
            crash, self.crash = self.crash, None
            raise crash
        now = time.monotonic()
        if now >= self.next_reclaim:
            self.next_reclaim = now + self.reclaim_every
            await self._touch()
            self._offer(await self._reclaim())
        wait = max(0.001, min(self.o._block, self.next_reclaim - time.monotonic()))
        if len(self.active) >= self.concurrency:
            # every slot is taken: read more only once one is free
            self.freed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.freed.wait(), wait)
            return
        response: Any = await self.r.xreadgroup(
            GROUP,
            self.name,
            {self.p.stream: ">"},
            count=self.o._batch,
            block=max(1, int(wait * 1000)),
        )
        streams = response.items() if isinstance(response, dict) else response or ()
        found = 0
        for _stream, entries in streams:
            found += len(entries)
            self._offer((_text(i), _conversation_of(f)) for i, f in entries)
        if 0 < found < self.o._batch and self.o._linger > 0:
            # a steady flow: let a few more arrive, to read and take them together
            await asyncio.sleep(self.o._linger)

    async def _reclaim(self) -> list[tuple[str, str]]:
        """Entries another consumer read and left idle for `min_idle`: it died."""
        claimed: list[tuple[str, str]] = []
        start = "0-0"
        for _page in range(10):
            page: Any = await self.r.xautoclaim(
                self.p.stream,
                GROUP,
                self.name,
                int(self.o._min_idle * 1000),
                start_id=start,
                count=self.o._batch,
            )
            next_start, entries = page[0], page[1]
            claimed += [(_text(i), _conversation_of(f)) for i, f in entries if f]
            start = _text(next_start)
            if start == "0-0":
                break
        if claimed:
            log.info("outbox: %s took over %d idle message(s)", self.name, len(claimed))
        return claimed

    async def _touch(self) -> None:
        """Reset the idle time of the entries we hold, so nobody takes them over."""
        held: list[Any] = list(self.held)
        if held:
            await self.r.xclaim(self.p.stream, GROUP, self.name, 0, held, justid=True)

    # --- scheduling ---------------------------------------------------------------

    def _offer(self, entries: Iterable[tuple[str, str]]) -> None:
        """Entries read or taken over: make their conversations due (unless held
        by a timer, or being drained: then it looks again when done)."""
        for entry_id, conversation in entries:
            self.ids.setdefault(conversation, set()).add(entry_id)
            if conversation in self.active:
                self.again.add(conversation)
            elif conversation not in self.timers:
                self.ready[conversation] = None
        self._pump()

    def _pump(self) -> None:
        while self.ready and len(self.active) < self.concurrency and not self.stop.is_set():
            conversation = next(iter(self.ready))
            del self.ready[conversation]
            self.active[conversation] = asyncio.create_task(
                self._run(conversation), name=f"outbox-{self.name}")

    def _hold(self, conversation: str, due: float) -> None:
        """Look at `conversation` again at `due` (epoch seconds)."""
        old = self.timers.pop(conversation, None)
        if old is not None:
            old.cancel()
        loop = asyncio.get_running_loop()
        self.timers[conversation] = loop.call_later(
            max(0.0, due - time.time()), self._due, conversation)

    def _due(self, conversation: str) -> None:
        self.timers.pop(conversation, None)
        if conversation in self.active:
            self.again.add(conversation)
        elif conversation in self.ids:
            self.ready[conversation] = None
            self._pump()

    async def _run(self, conversation: str) -> None:
        """One drain task, then decide what becomes of the entries read for it."""
        known = set(self.ids.get(conversation, ()))
        self.again.discard(conversation)
        visit: _Visit | None = None
        try:
            visit = await self._visit(conversation)
            if visit.resume_at is None and not visit.busy:
                # Drained to empty after these were read: whatever of them it did
                # not finish was finished elsewhere (or its list was lost), so it
                # must not come back from the pending list.
                for entry_id in known - visit.finished:
                    await self._done(conversation, entry_id)
                    visit.finished.add(entry_id)
        except _REDIS_DOWN:
            log.warning("outbox: Redis unavailable while delivering; retrying in 1s")
            visit = _Visit(set(), resume_at=time.time() + 1.0)
        except Exception as exc:  # a bug or an unexpected Redis answer: the loop raises it
            self.crash = exc
            visit = _Visit(set(), resume_at=time.time() + 1.0)
        finally:
            del self.active[conversation]
            left = self.ids.get(conversation, set())
            if visit is not None:
                left -= visit.finished
            if not left or visit is None:  # None: cancelled; pending ones are reclaimed
                self.ids.pop(conversation, None)
                self.again.discard(conversation)
            elif visit.resume_at is not None:
                self._hold(conversation, visit.resume_at)
            elif visit.busy:
                self._hold(conversation, time.time() + self.o._recheck)
            else:  # read while it was being drained: look again now
                self.ready[conversation] = None
            self.freed.set()
            self._pump()

    # --- draining ---------------------------------------------------------------

    async def _visit(self, conversation: str) -> _Visit:
        """Drain `conversation` from its head under its lease, until its list is
        empty or the head must wait."""
        token = secrets.token_hex(8)
        head = await self._step(conversation, token, take=True)
        if head == _BUSY:
            return _Visit(set(), busy=True)
        visit = _Visit(set())
        released = head is None  # an empty list: the step gave the lease back
        try:
            if isinstance(head, _Head):
                visit.resume_at, released = await self._drain(
                    conversation, token, head, visit.finished)
        finally:
            if not released:
                await _script(self.o._release, [self.p.lease(conversation)], [token])
        return visit

    async def _step(
        self, conversation: str, token: str, *, take: bool = False, done: str = "",
        lazy: float = 0.0,
    ) -> _Head | str | None:
        """`_STEP`: finish `done`, then read the head (None: the list is empty and
        the lease was given back; `_BUSY`: `take` found the lease held). Steps go
        out with the other script calls made in the same turn of the event loop
        (`turn_batch`): the acknowledgements of deliveries that finished together,
        and a delivered message's "sent" state (`conversation.delivery`). `lazy`:
        seconds it may wait for company (`TurnBatch.submit`)."""
        keys = [self.p.lease(conversation), self.p.queue(conversation), self.p.tries,
                self.p.stream]
        args = [token, int(self.o._lease_ttl * 1000), "1" if take else "0", done, GROUP]
        raw: Any = await self.batch.call(ScriptCall(self.o._step, keys, args), lazy=lazy)
        kind = _text(raw[0])
        if kind == "busy":
            return _BUSY
        if kind == "empty":
            return None
        attempts, not_before = _parse_tries(raw[2] or None)
        flat = raw[3:]
        return _Head(_text(raw[1]), attempts, not_before, dict(zip(flat[::2], flat[1::2],
                                                                   strict=True)))

    async def _drain(
        self, conversation: str, token: str, head: _Head, finished: set[str]
    ) -> tuple[float | None, bool]:
        """Deliver from the head until the list is empty or the head must wait.
        Returns when it may be tried again (epoch seconds; None when empty) and
        whether the lease was given back. Adds the ids it delivered or
        dead-lettered to `finished`."""
        while True:
            if head.not_before > time.time():
                return head.not_before, False
            entry_id = head.id
            if not head.fields:
                log.warning("outbox: message %s was trimmed before delivery", entry_id)
            else:
                try:
                    message = _decode(entry_id, head.fields, head.attempts)
                except MalformedMessage as exc:
                    await self._bury(entry_id, head.fields, head.attempts, exc)
                else:
                    resume_at = await self._attempt(message)
                    if resume_at is not None:
                        return resume_at, False
            # while others are still sending, wait for them: acknowledged together
            after = await self._step(conversation, token, done=entry_id,
                                     lazy=self.o._wave if self.sending else 0.0)
            finished.add(entry_id)
            if not isinstance(after, _Head):
                return None, True
            head = after

    async def _attempt(self, message: OutboxMessage) -> float | None:
        """One delivery; returns the time the conversation must wait for (a retry,
        or `SendLater`), None when the message is done with (delivered or
        dead-lettered)."""
        try:
            await self._send(message)
        except SendLater as later:  # not a failure: no attempt is counted
            return max(later.at, time.time() + 0.001)
        except Exception as exc:
            failures = message.attempts + 1
            log.warning(
                "outbox: delivery failed id=%s channel=%s attempt=%d/%d error=%s",
                message.id,
                message.channel.value,
                failures,
                self.o.retry.max_attempts,
                type(exc).__name__,
            )
            if isinstance(exc, Undeliverable) or failures >= self.o.retry.max_attempts:
                await self._bury(message.id, _fields_of(message), failures, exc)
                return None
            resume_at = time.time() + self.o.retry.delay(failures)
            await self.r.hset(self.p.tries, message.id, f"{failures}:{resume_at:.3f}")
            return resume_at
        return None

    async def _send(self, message: OutboxMessage) -> None:
        """The deliver function, counted in `sending` while it runs."""
        self.sending += 1
        try:
            async with asyncio.timeout(self.o._deliver_timeout):
                await self.deliver(message)
        finally:
            self.sending -= 1

    async def _done(self, conversation: str, entry_id: str) -> None:
        await _script(
            self.o._finish,
            [self.p.stream, self.p.queue(conversation), self.p.tries],
            [GROUP, entry_id],
        )

    async def _bury(
        self, entry_id: str, fields: Mapping[Any, Any], attempts: int, exc: BaseException
    ) -> None:
        """Copy to the dead-letter stream; the caller then finishes it (`_step`),
        and the conversation carries on."""
        dead: dict[Any, Any] = {_text(k): v for k, v in fields.items()}
        dead.update(id=entry_id, attempts=attempts, error=_describe(exc))
        await self.r.xadd(self.p.dead, dead, maxlen=self.o._maxlen, approximate=True)
        log.error("outbox: message %s dead-lettered after %d attempt(s)", entry_id, attempts)


async def _script(script: Any, keys: list[str], args: list[Any]) -> Any:
    """redis-py's scripts are untyped; this is the one place that says so."""
    return await script(keys=keys, args=args)


def _stream_order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _conversation_of(fields: Mapping[Any, Any]) -> str:
    value = fields.get(b"conversation", fields.get("conversation", ""))
    return _text(value)


def _fields_of(message: OutboxMessage) -> dict[str, Any]:
    return {
        "channel": message.channel.value,
        "conversation": message.conversation,
        "replies": _json(replies_to_data(message.replies)),
        "created_ms": int(message.created_at.timestamp() * 1000),
    }


def _parse_tries(raw: Any) -> tuple[int, float]:
    """`attempts:not_before` as kept in the tries hash; absent = never tried."""
    if raw is None:
        return 0, 0.0
    attempts, _, not_before = _text(raw).partition(":")
    return int(attempts), float(not_before or 0)
