"""Shipping notifications: tell the shoppers who asked to be kept posted.

    order_changed(change)                       (the carrier webhook, the shop)
      -> per subscriber: render in their language
      -> quiet hours? hold in a sorted set until they end (`NoticeDesk.hold`)
         else tell now (`NoticeDesk.tell`)
    worker loop -> NoticeDesk.release_due()     (held ones, oldest first)

Telling is done like `Engine.resolve_ticket`: under the conversation's lock,
with the synthetic message id `notify:<change key>`, the session is pointed at
the order (its snapshot step, the notification's buttons offered), the message
is queued in the outbox with `dedup_key=notify:<change key>:<conversation>`,
and the transcript records it. So a reply ("where is it", a tap, a typed "1")
lands in that order's context, and a change is told once per conversation
however often it is reported, by however many processes: the session's seen
ids and the outbox's dedup key catch a retry after a crash, and the order's
`told` set (kept as long as the subscriptions) catches a replay days later.

Order per conversation is the outbox's. A held notice is released before any
later change of the same conversation is told: a change that arrives once the
quiet hours are over first releases everything due, and a held entry is
removed only after it was told, so a process that sees it still there tells it
(or finds it told) before going on. Held entries are ordered by release time,
then by a sequence number, so a night's notices come out in arrival order.

WhatsApp's 24-hour window is the sender's business: outside it the message goes
only through the `out_of_window` template, else it is dead-lettered as not sent.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis

from orders.models import Fulfilment, Order, Package
from orders.tracking import ChangeKind, OrderChange

from . import metrics
from .catalogue import T, Text
from .effects import Link, Option, Say
from .keys import Keys
from .outbox import Outbox, replies_from_data, replies_to_data
from .quiet_hours import QuietHours
from .session import Session, Step
from .store import REDIS_DOWN, SessionStore, StoreUnavailable, TranscriptLine
from .subscriptions import TTL_S, Subscriber, Subscriptions
from .turn import STOP_UPDATES
from .types import Channel, Reply

log = logging.getLogger(__name__)

STOP_PAYLOAD = STOP_UPDATES


@dataclass(frozen=True, slots=True)
class Notice:
    """One rendered notification for one conversation."""

    channel: Channel
    conversation: str
    change_key: str
    order: str
    locale: str
    replies: tuple[Reply, ...]

    @property
    def message_id(self) -> str:
        return f"notify:{self.change_key}"

    @property
    def dedup_key(self) -> str:
        return f"notify:{self.change_key}:{self.conversation}"

    @property
    def mark(self) -> str:
        return f"{self.change_key}|{self.conversation}"

    def dump(self) -> str:
        return json.dumps({
            "channel": self.channel.value, "conversation": self.conversation,
            "key": self.change_key, "order": self.order, "locale": self.locale,
            "replies": replies_to_data(self.replies),
        }, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def load(cls, raw: str) -> Notice:
        data = json.loads(raw)
        return cls(Channel(data["channel"]), str(data["conversation"]), str(data["key"]),
                   str(data["order"]), str(data["locale"]), replies_from_data(data["replies"]))


class NoticeDesk:
    """Tells, holds and releases notices. Needs only Redis and the outbox, so the
    worker process (which has no shop and no texts) releases held ones too."""

    def __init__(
        self,
        redis: aioredis.Redis,
        outbox: Outbox,
        *,
        prefix: str = "ohb:",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._redis = redis
        self._outbox = outbox
        self._store = SessionStore(redis, Keys(prefix))
        self._subscriptions = Subscriptions(redis, prefix)
        self._clock = clock
        self._prefix = prefix
        self.held_key = f"{prefix}{{notify}}:held"
        self._sequence_key = f"{prefix}{{notify}}:held-seq"

    async def already_told(self, notice: Notice) -> bool:
        try:
            return bool(await self._redis.sismember(
                self._subscriptions.told_key(notice.order), notice.mark))
        except REDIS_DOWN as exc:
            raise StoreUnavailable("Redis is unreachable") from exc

    async def tell(self, notice: Notice) -> bool:
        """Queue the notice and point the conversation at its order; False when it
        was told before (nothing is queued twice)."""
        if await self.already_told(notice):
            return False
        begun = await self._store.begin(notice.conversation, notice.message_id)
        if begun.token is None:
            await self._remember_told(notice)
            return False
        try:
            now = self._clock()
            session = _pointed_at(begun.session, notice, now)
            await self._outbox.enqueue(notice.channel, notice.conversation, notice.replies,
                                       dedup_key=notice.dedup_key)
            await self._store.finish(
                notice.conversation, notice.message_id, begun.token, session,
                replies_to_data(notice.replies),
                [TranscriptLine("bot", r.text, now.isoformat(), r.key) for r in notice.replies],
            )
        except BaseException:
            await self._store.release(notice.conversation, begun.token)
            raise
        await self._remember_told(notice)
        metrics.NOTIFICATIONS.labels(notice.channel.value).inc()
        return True

    async def _remember_told(self, notice: Notice) -> None:
        key = self._subscriptions.told_key(notice.order)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.sadd(key, notice.mark)
                pipe.expire(key, TTL_S)
                await pipe.execute()
        except REDIS_DOWN as exc:
            raise StoreUnavailable("Redis is unreachable") from exc

    async def hold(self, notice: Notice, until: datetime) -> bool:
        """Keep the notice until `until`; False when it was told already."""
        if await self.already_told(notice):
            return False
        marks = f"{self._prefix}notify:{{order:{notice.order}}}:held"
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.sadd(marks, notice.mark)
                pipe.expire(marks, TTL_S)
                fresh, _ = await pipe.execute()
            if not fresh:  # the same change reported again tonight
                return False
            sequence = int(await self._redis.incr(self._sequence_key))
            member = f"{sequence:016d}|{notice.dump()}"
            await self._redis.zadd(self.held_key, {member: until.timestamp()})
        except REDIS_DOWN as exc:
            raise StoreUnavailable("Redis is unreachable") from exc
        return True

    async def held(self) -> list[Notice]:
        """What is waiting, in release order (tests and operators)."""
        raw: Any = await self._redis.zrange(self.held_key, 0, -1)
        return [n for n in map(_held_notice, raw) if n is not None]

    async def release_due(self, now: datetime | None = None) -> int:
        """Tell every held notice whose time has come, in order; the number told.
        Each is removed only after it was told, so a crash tells it on the next run."""
        moment = (now or self._clock()).timestamp()
        try:
            due: Any = await self._redis.zrangebyscore(self.held_key, "-inf", moment)
        except REDIS_DOWN as exc:
            raise StoreUnavailable("Redis is unreachable") from exc
        told = 0
        for raw in due:
            notice = _held_notice(raw)
            if notice is None:
                log.error("notifier: dropped an unreadable held notice")
            elif await self.tell(notice):
                told += 1
            await self._redis.zrem(self.held_key, raw)
        return told


class ShopperNotifier:
    """`order_changed(change)`: what the carrier webhook (and the shop) call."""

    def __init__(
        self,
        desk: NoticeDesk,
        subscriptions: Subscriptions,
        render: Callable[[str, Say], Reply],
        *,
        quiet: QuietHours | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`render`: a `Say` in a language to a `Reply` (`Engine.render`)."""
        self.desk = desk
        self._subscriptions = subscriptions
        self._render = render
        self._quiet = quiet or QuietHours.parse("")
        self._clock = clock

    async def order_changed(self, change: OrderChange) -> int:
        """Tell each subscriber of the order once; the number of messages queued
        (told now, or held until the quiet hours end)."""
        subscribers = await self._subscriptions.subscribers(change.order.number)
        if not subscribers:
            return 0
        now = self._clock()
        until = self._quiet.ends(now)
        if until is None:
            await self.desk.release_due(now)  # nothing told now may overtake a held one
        queued = 0
        for subscriber in subscribers:
            notice = self.notice(change, subscriber)
            if until is None:
                queued += await self.desk.tell(notice)
            else:
                queued += await self.desk.hold(notice, until)
        log.info("notifier: %s on an order: %d queued", change.kind.value, queued)
        return queued

    def notice(self, change: OrderChange, subscriber: Subscriber) -> Notice:
        reply = self._render(subscriber.locale, notification(change))
        return Notice(subscriber.channel, subscriber.conversation, change.key,
                      change.order.number, subscriber.locale, (reply,))


def notification(change: OrderChange) -> Say:
    """The message for a change: what happened, the tracking link where there is
    one, and buttons to see the order or stop these updates."""
    order = change.order
    package = next((p for p in order.packages if p.package_id == change.package_id), None)
    links: tuple[Link, ...] = ()
    if (package and package.tracking_url and change.kind is not ChangeKind.REFUND_COMPLETED
            and order.fulfilment is not Fulfilment.STORE_PICKUP):
        links = (Link(T("link.track_one"), package.tracking_url),)
    options = (Option(T("notify.see_order"), f"o:{order.number}"),
               Option(T("notify.stop_button"), STOP_PAYLOAD))
    return Say((_headline(change.kind, order, package), T("notify.footer")), options, links)


def _headline(kind: ChangeKind, order: Order, package: Package | None) -> Text:
    number = order.number
    match kind:
        case ChangeKind.SHIPPED:
            eta = package.estimated_delivery if package else None
            return (T("notify.shipped_eta", number=number, date=eta) if eta
                    else T("notify.shipped", number=number))
        case ChangeKind.OUT_FOR_DELIVERY:
            return T("notify.out_for_delivery", number=number)
        case ChangeKind.DELIVERY_FAILED:
            return T("notify.delivery_failed", number=number)
        case ChangeKind.READY_FOR_PICKUP:
            return T("notify.ready_for_pickup", number=number, store=order.pickup_store or "-")
        case ChangeKind.DELIVERED:
            return T("notify.delivered", number=number)
        case ChangeKind.RETURNED_TO_ORIGIN:
            return T("notify.returned_to_origin", number=number)
        case ChangeKind.LOST:
            return T("notify.lost", number=number)
        case ChangeKind.REFUND_COMPLETED:
            return T("notify.refund_completed", number=number)


def _pointed_at(session: Session, notice: Notice, now: datetime) -> Session:
    """The session after the notification: in the order's snapshot, with the
    notification's buttons offered. A person who has the conversation keeps it."""
    session = session.model_copy()
    if session.last_seen is None:  # an expired session: keep the subscriber's language
        session.locale = notice.locale
    session.last_seen = now  # a reply is not "welcome back"
    session.remember_verified(notice.order)
    if session.step is Step.HANDED_OFF:
        return session
    session.reset_task()
    session.refusal = None
    session.order = notice.order
    session.step = Step.SNAPSHOT
    session.offered = [b.payload for r in notice.replies for b in r.buttons]
    return session


def _held_notice(raw: Any) -> Notice | None:
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    try:
        return Notice.load(text.partition("|")[2])
    except (ValueError, KeyError, TypeError):
        return None
