"""Carrier updates kept beside a shop's orders, for back-ends whose API cannot take them.

A merchant's shop (Shopify, WooCommerce, their own API) often learns of a parcel's
progress late or never, but the shopper should hear the carrier's latest news.
`TrackedBackend` wraps any back-end: every call goes to the shop, and the carrier
updates stored here are put on each order it returns (`apply_update` on each,
oldest first), so the shop's own events and the carrier's merge by the same rule
the demo shop uses.

Keys (the order number is the hash tag, as in the demo shop):

    {prefix}tracking:{<number>}    hash: event id -> CarrierUpdate JSON (TTL 120 days,
                                   renewed by each new update of that order)
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

import redis.asyncio as aioredis

from .backend import ActionOutcome, BackendUnavailable, OrderBackend
from .models import Address, Order, ReturnLine, ReturnReason, Variant
from .policy import Action
from .redis_errors import REDIS_UNAVAILABLE
from .tracking import CarrierUpdate, TrackingApplied, apply_update

TRACKING_TTL = timedelta(days=120)
"""Long after any parcel arrived, and after any return window; then the shop's own
data is all there is."""
MAX_ATTEMPTS = 50

# KEYS: an order's updates (a hash). ARGV: the field count that was read, the
# event id, the update, the TTL (s). Keeps the update only if nothing was added
# since the read (a compare-and-set: WATCH on Redis Cluster's asyncio client runs
# its reads on a thread of their own and breaks under concurrency).
_ADD = """
if redis.call('HLEN', KEYS[1]) ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""


class TrackedBackend:
    """An `OrderBackend` that passes everything to `inner` and keeps carrier
    updates beside its orders in Redis."""

    def __init__(self, inner: OrderBackend, redis: aioredis.Redis, *, prefix: str = "ohb:") -> None:
        self._inner = inner
        self._redis = redis
        self._add = redis.register_script(_ADD)
        self._prefix = prefix

    @property
    def inner(self) -> OrderBackend:
        return self._inner

    @property
    def supports(self) -> frozenset[Action]:
        return self._inner.supports

    def _key(self, number: str) -> str:
        return f"{self._prefix}tracking:{{{number}}}"

    # reading ---------------------------------------------------------------------

    async def get_order(self, number: str) -> Order | None:
        order = await self._inner.get_order(number)
        return None if order is None else (await self._merged([order]))[0]

    async def find_orders(
        self, *, phone: str | None = None, email: str | None = None
    ) -> list[Order]:
        return await self._merged(await self._inner.find_orders(phone=phone, email=email))

    # changes ---------------------------------------------------------------------

    async def cancel(self, number: str, *, idempotency_key: str) -> ActionOutcome:
        return await self._outcome(
            await self._inner.cancel(number, idempotency_key=idempotency_key))

    async def start_return(
        self, number: str, lines: list[ReturnLine], *, idempotency_key: str
    ) -> ActionOutcome:
        return await self._outcome(
            await self._inner.start_return(number, lines, idempotency_key=idempotency_key))

    async def replace(
        self,
        number: str,
        line_id: str,
        quantity: int,
        reason: ReturnReason,
        *,
        idempotency_key: str,
    ) -> ActionOutcome:
        return await self._outcome(await self._inner.replace(
            number, line_id, quantity, reason, idempotency_key=idempotency_key))

    async def change_delivery(
        self,
        number: str,
        *,
        address: Address | None = None,
        delivery_date: date | None = None,
        idempotency_key: str,
    ) -> ActionOutcome:
        return await self._outcome(await self._inner.change_delivery(
            number, address=address, delivery_date=delivery_date,
            idempotency_key=idempotency_key))

    async def variants(self, number: str, line_id: str) -> list[Variant]:
        return await self._inner.variants(number, line_id)

    async def exchange(
        self,
        number: str,
        line_id: str,
        quantity: int,
        variant_id: str,
        *,
        idempotency_key: str,
    ) -> ActionOutcome:
        return await self._outcome(await self._inner.exchange(
            number, line_id, quantity, variant_id, idempotency_key=idempotency_key))

    async def record_tracking(self, update: CarrierUpdate) -> TrackingApplied | None:
        """Apply `update` to the shop's order with the updates kept so far, and keep
        it. None when the shop does not know the order or no package fits; a replay
        (the event is already on the order) writes nothing."""
        if not update.order_number:
            return None
        order = await self._inner.get_order(update.order_number)
        if order is None:
            return None
        key = self._key(order.number)
        try:
            for _ in range(MAX_ATTEMPTS):
                raws: list[Any] = await self._redis.hvals(key)
                applied = apply_update(_merge(order, _updates(raws)), update)
                if applied is None or not applied.recorded:
                    return applied
                # kept only if no other update was kept meanwhile (updates are only
                # ever added, so the same count is the same set)
                script: Any = self._add  # redis-py's scripts are untyped
                if await script(keys=[key], args=[len(raws), update.event_id,
                                                  update.model_dump_json(),
                                                  int(TRACKING_TTL.total_seconds())]):
                    return applied
                await asyncio.sleep(0)
        except REDIS_UNAVAILABLE as exc:
            raise BackendUnavailable(f"carrier updates unreachable: {type(exc).__name__}") from exc
        raise BackendUnavailable(f"order {order.number}: too many concurrent updates, try again")

    # merging ---------------------------------------------------------------------

    async def _outcome(self, outcome: ActionOutcome) -> ActionOutcome:
        [order] = await self._merged([outcome.order])
        return ActionOutcome(order, outcome.reference)

    async def _merged(self, orders: list[Order]) -> list[Order]:
        """Each order with its stored updates on it: one round trip for all."""
        if not orders:
            return orders
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for order in orders:
                    pipe.hvals(self._key(order.number))
                stored = await pipe.execute()
        except REDIS_UNAVAILABLE as exc:
            raise BackendUnavailable(f"carrier updates unreachable: {type(exc).__name__}") from exc
        return [_merge(order, _updates(raw)) for order, raw in zip(orders, stored, strict=True)]


def _updates(raws: list[bytes | str]) -> list[CarrierUpdate]:
    return [CarrierUpdate.model_validate_json(raw) for raw in raws]


def _merge(order: Order, updates: list[CarrierUpdate]) -> Order:
    for update in sorted(updates, key=lambda u: (u.at, u.event_id)):
        applied = apply_update(order, update)
        if applied is not None:
            order = applied.order
    return order
