"""The demo shop: an order back-end that keeps its orders in Redis.

It stands in for a real shop, so it behaves like one: it re-checks every change
against its own rules (it does not trust the bot), changes each order atomically
(a compare-and-set script, retried when another change got there first), and remembers each
idempotency key for 7 days with the outcome it produced, so a repeated request
returns that first outcome and changes nothing. A refused change is not
remembered: it changed nothing, so asking again simply asks again.

Keys (`prefix` defaults to "ohb:"; the order number is the hash tag, so one
order's keys share a Redis Cluster slot):

    {prefix}order:{<number>}                 the order as JSON
    {prefix}idem:{<number>}:<key>            outcome of one change (TTL 7 days)
    {prefix}orders:phone:<E.164>             set of order numbers
    {prefix}orders:email:<lower-cased>       set of order numbers
    (a shopper's two index sets are in different slots: `find_orders` reads them
    apart and intersects them here, so it runs on Redis Cluster too)
    {prefix}demo:loaded                      marker: the sample was loaded once

What a change creates:
- cancel: status cancelled; a paid prepaid order gets a `Refund` (cause
  cancellation, processing, expected in 7 calendar days, to the original method),
  whose id is the outcome's reference; cash on delivery has nothing to refund.
- start_return: a `Return` "R-<number>-<n>", status requested, with no `Refund`
  yet: the refund is "not started" until the return is received.
- replace: a `Replacement` "X-<number>-<n>", status requested.
- exchange: a `Replacement` "X-<number>-<n>" with the new variant (from the line's
  `variants` in the file, re-checked for stock) and the price difference; the demo
  shop has no payment page, so a positive difference has no `payment_url`.
- change_delivery: the new shipping address and/or requested delivery date.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import redis.asyncio as aioredis

from .backend import ActionOutcome, ActionRefused, BackendUnavailable
from .eligibility import (
    Verdict,
    check_cancel,
    check_delivery_change,
    check_exchange,
    check_replacement,
    check_return,
    check_variant,
    local_date,
    returnable_quantity,
)
from .models import (
    Address,
    Order,
    OrderStatus,
    PaymentMethod,
    PaymentStatus,
    Refund,
    RefundCause,
    RefundStatus,
    Replacement,
    ReplacementStatus,
    Return,
    ReturnLine,
    ReturnReason,
    ReturnStatus,
    Variant,
)
from .phones import normalise_phone
from .policy import CHANGES, Action, Policy
from .redis_errors import REDIS_UNAVAILABLE
from .tracking import CarrierUpdate, TrackingApplied, apply_update

IDEMPOTENCY_TTL = timedelta(days=7)
REFUND_DAYS = 7
"""A cancellation refund is expected within this many calendar days."""
MAX_ATTEMPTS = 100
"""Compare-and-set retries before giving up; each failed one means another change won."""
RECONNECT_ATTEMPTS = 3
"""Tries per call when the connection drops (a server restart, an idle connection
closed by a proxy). Safe for changes too: a retried change finds its own
idempotency record if the first try did reach Redis."""
RECONNECT_DELAY = 0.05

_ORDER_NUMBER = re.compile(r"[A-Za-z0-9_-]{1,40}")

Apply = Callable[[Order, datetime], tuple[Order, str | None]]
T = TypeVar("T")


# Compare-and-set instead of WATCH/MULTI: the same on one server and on Redis
# Cluster, whose asyncio client runs a WATCHed pipeline's reads on a thread of
# their own (redis-py 8), which breaks under concurrency. KEYS share the order's
# hash tag.
# KEYS: the order. ARGV: the order as read, the new order. 1 if written, 0 if the
# order changed since it was read.
_SWAP = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
"""
# KEYS: the order, the change's idempotency record. ARGV: the order as read, the
# new order, the record, its TTL (s). 1 if written; the record if this key's
# change was done meanwhile; 0 if the order changed since it was read.
_SWAP_ONCE = """
local done = redis.call('GET', KEYS[2])
if done then return done end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[4])
return 1
"""


def _utc_now() -> datetime:
    return datetime.now(UTC)


@contextmanager
def _unavailable() -> Iterator[None]:
    """Redis trouble is the shop being unreachable: say so, never half-answer."""
    try:
        yield
    except REDIS_UNAVAILABLE as exc:
        raise BackendUnavailable(f"demo shop store unreachable: {type(exc).__name__}") from exc


async def _with_reconnect(operation: Callable[[], Awaitable[T]]) -> T:
    """Run `operation`, again on a fresh connection if the old one was dropped."""
    for attempt in range(1, RECONNECT_ATTEMPTS):
        try:
            return await operation()
        except REDIS_UNAVAILABLE:
            await asyncio.sleep(RECONNECT_DELAY * attempt)
    with _unavailable():
        return await operation()


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def _refuse(number: str, action: Action, verdict: Verdict) -> ActionRefused:
    return ActionRefused(f"order {number}: {action.value} refused ({verdict.reason.value})")


class DemoBackend:
    """Order back-end over Redis. `policy` holds the shop's own rules (window,
    timezone) that every change is re-checked against; `clock` gives "now"."""

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        prefix: str = "ohb:",
        clock: Callable[[], datetime] = _utc_now,
        policy: Policy | None = None,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._clock = clock
        self._policy = policy or Policy()
        self._swap = redis.register_script(_SWAP)
        self._swap_once = redis.register_script(_SWAP_ONCE)

    @property
    def supports(self) -> frozenset[Action]:
        return CHANGES

    # keys ------------------------------------------------------------------------

    def _order_key(self, number: str) -> str:
        return f"{self._prefix}order:{{{number}}}"

    def _idem_key(self, number: str, key: str) -> str:
        return f"{self._prefix}idem:{{{number}}}:{key}"

    def _phone_key(self, phone: str) -> str:
        return f"{self._prefix}orders:phone:{phone}"

    def _email_key(self, email: str) -> str:
        return f"{self._prefix}orders:email:{email.strip().lower()}"

    @property
    def _marker_key(self) -> str:
        return f"{self._prefix}demo:loaded"

    # loading ---------------------------------------------------------------------

    async def load(self, orders: Iterable[Order], *, replace: bool = False) -> bool:
        """Store the orders unless they were stored before (so a restart keeps what
        shoppers changed); `replace=True` drops the old ones first. True if stored."""
        orders = list(orders)
        with _unavailable():
            if replace:
                await self._clear()
                await self._redis.set(self._marker_key, "loading")
            elif not await self._redis.set(self._marker_key, "loading", nx=True):
                return False
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for order in orders:
                        pipe.set(self._order_key(order.number), order.model_dump_json())
                        phone = normalise_phone(order.customer.phone)
                        if phone:
                            pipe.sadd(self._phone_key(phone), order.number)
                        pipe.sadd(self._email_key(order.customer.email), order.number)
                    pipe.set(
                        self._marker_key,
                        json.dumps({"orders": len(orders), "at": self._clock().isoformat()}),
                    )
                    await pipe.execute()
            except BaseException:
                await self._redis.delete(self._marker_key)
                raise
        return True

    async def _clear(self) -> None:
        prefix = _glob_escape(self._prefix)
        for pattern in ("order:*", "orders:*", "idem:*"):
            keys = [k async for k in self._redis.scan_iter(match=prefix + pattern, count=500)]
            if keys:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for key in keys:
                        # not `pipe.unlink`: on a cluster pipeline that is a
                        # coroutine (redis-py 8), not a queued command
                        pipe.execute_command("UNLINK", key)
                    await pipe.execute()

    # reading ---------------------------------------------------------------------

    async def get_order(self, number: str) -> Order | None:
        number = number.strip().removeprefix("#")
        if not _ORDER_NUMBER.fullmatch(number):
            return None
        raw = await _with_reconnect(lambda: self._redis.get(self._order_key(number)))
        return None if raw is None else Order.model_validate_json(raw)

    async def find_orders(
        self, *, phone: str | None = None, email: str | None = None
    ) -> list[Order]:
        """Orders of one shopper, newest first. With both phone and email, only
        orders matching both: one proven identifier never unlocks another's orders."""
        keys: list[str] = []
        if phone is not None:
            e164 = normalise_phone(phone)
            if e164 is None:
                return []
            keys.append(self._phone_key(e164))
        if email is not None:
            if not email.strip():
                return []
            keys.append(self._email_key(email))
        if not keys:
            return []

        async def read() -> list[Any]:
            # Each index set and each order is in its own Cluster slot: read them
            # with plain pipelines (one round trip each, split by node on a
            # cluster), not SINTER/MGET, which need one slot.
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.smembers(key)
                sets: list[set[Any]] = await pipe.execute()
            numbers = sorted(_text(n) for n in set.intersection(*sets))
            if not numbers:
                return []
            async with self._redis.pipeline(transaction=False) as pipe:
                for number in numbers:
                    pipe.get(self._order_key(number))
                return list(await pipe.execute())

        raws = await _with_reconnect(read)
        orders = [Order.model_validate_json(raw) for raw in raws if raw is not None]
        return sorted(orders, key=lambda o: o.placed_at, reverse=True)

    # changes ---------------------------------------------------------------------

    async def cancel(self, number: str, *, idempotency_key: str) -> ActionOutcome:
        def apply(order: Order, now: datetime) -> tuple[Order, str | None]:
            verdict = check_cancel(order, self._policy, now)
            if not verdict.ok:
                raise _refuse(number, Action.CANCEL, verdict)
            refunds = list(order.refunds)
            reference = None
            payment = order.payment
            if payment.method is not PaymentMethod.COD and payment.status is PaymentStatus.PAID:
                reference = f"RF-{order.number}-{len(refunds) + 1}"
                refunds.append(
                    Refund(
                        refund_id=reference,
                        cause=RefundCause.CANCELLATION,
                        amount=payment.amount,
                        method=payment.method,
                        status=RefundStatus.PROCESSING,
                        initiated_at=now,
                        expected_by=local_date(now, self._policy) + timedelta(days=REFUND_DAYS),
                    )
                )
            changed = order.model_copy(
                update={"status": OrderStatus.CANCELLED, "cancelled_at": now, "refunds": refunds}
            )
            return changed, reference

        return await self._change(number, Action.CANCEL, {}, idempotency_key, apply)

    async def start_return(
        self, number: str, lines: list[ReturnLine], *, idempotency_key: str
    ) -> ActionOutcome:
        def apply(order: Order, now: datetime) -> tuple[Order, str | None]:
            if not lines:
                raise ActionRefused(f"order {number}: a return needs at least one line")
            wanted: dict[str, int] = {}
            for line in lines:
                wanted[line.line_id] = wanted.get(line.line_id, 0) + line.quantity
            for line_id, quantity in wanted.items():
                verdict = check_return(order, line_id, quantity, self._policy, now)
                if not verdict.ok:
                    raise _refuse(number, Action.RETURN, verdict)
            return_id = f"R-{order.number}-{len(order.returns) + 1}"
            created = Return(
                return_id=return_id,
                lines=list(lines),
                status=ReturnStatus.REQUESTED,
                created_at=now,
            )
            changed = order.model_copy(update={"returns": [*order.returns, created]})
            return changed, return_id

        request = {"lines": [line.model_dump(mode="json") for line in lines]}
        return await self._change(number, Action.RETURN, request, idempotency_key, apply)

    async def replace(
        self,
        number: str,
        line_id: str,
        quantity: int,
        reason: ReturnReason,
        *,
        idempotency_key: str,
    ) -> ActionOutcome:
        def apply(order: Order, now: datetime) -> tuple[Order, str | None]:
            verdict = check_replacement(order, line_id, reason, self._policy, now)
            if not verdict.ok:
                raise _refuse(number, Action.REPLACE, verdict)
            left = returnable_quantity(order, line_id)
            if not 1 <= quantity <= left:
                raise ActionRefused(
                    f"order {number}: replace refused (quantity {quantity}, {left} left)"
                )
            replacement_id = f"X-{order.number}-{len(order.replacements) + 1}"
            created = Replacement(
                replacement_id=replacement_id,
                line_id=line_id,
                quantity=quantity,
                reason=reason,
                status=ReplacementStatus.REQUESTED,
                created_at=now,
            )
            changed = order.model_copy(update={"replacements": [*order.replacements, created]})
            return changed, replacement_id

        request = {"line_id": line_id, "quantity": quantity, "reason": reason.value}
        return await self._change(number, Action.REPLACE, request, idempotency_key, apply)

    async def variants(self, number: str, line_id: str) -> list[Variant]:
        """The line's other variants as the shop's file lists them."""
        order = await self.get_order(number)
        item = order.item(line_id) if order else None
        return list(item.variants) if item else []

    async def exchange(
        self,
        number: str,
        line_id: str,
        quantity: int,
        variant_id: str,
        *,
        idempotency_key: str,
    ) -> ActionOutcome:
        def apply(order: Order, now: datetime) -> tuple[Order, str | None]:
            verdict = check_exchange(order, line_id, self._policy, now)
            if not verdict.ok:
                raise _refuse(number, Action.EXCHANGE, verdict)
            item = order.item(line_id)
            assert item is not None  # check_exchange refused unknown lines
            variant = next((v for v in item.variants if v.variant_id == variant_id), None)
            verdict = check_variant(order, line_id, variant)
            if not verdict.ok or variant is None:
                raise _refuse(number, Action.EXCHANGE, verdict)
            left = returnable_quantity(order, line_id)
            if not 1 <= quantity <= left:
                raise ActionRefused(
                    f"order {number}: exchange refused (quantity {quantity}, {left} left)")
            replacement_id = f"X-{order.number}-{len(order.replacements) + 1}"
            created = Replacement(
                replacement_id=replacement_id, line_id=line_id, quantity=quantity,
                reason=ReturnReason.OTHER, status=ReplacementStatus.REQUESTED, created_at=now,
                new_variant_id=variant.variant_id, new_variant=variant.title,
                price_difference=(variant.unit_price - item.unit_price) * quantity,
            )
            changed = order.model_copy(update={"replacements": [*order.replacements, created]})
            return changed, replacement_id

        request = {"line_id": line_id, "quantity": quantity, "variant_id": variant_id}
        return await self._change(number, Action.EXCHANGE, request, idempotency_key, apply)

    async def change_delivery(
        self,
        number: str,
        *,
        address: Address | None = None,
        delivery_date: date | None = None,
        idempotency_key: str,
    ) -> ActionOutcome:
        def apply(order: Order, now: datetime) -> tuple[Order, str | None]:
            if address is None and delivery_date is None:
                raise ActionRefused(f"order {number}: nothing to change")
            verdict = check_delivery_change(order, self._policy, now)
            if not verdict.ok:
                raise _refuse(number, Action.DELIVERY, verdict)
            if delivery_date is not None and delivery_date <= local_date(now, self._policy):
                raise ActionRefused(f"order {number}: delivery date must be after today")
            update: dict[str, Any] = {}
            if address is not None:
                update["shipping_address"] = address
            if delivery_date is not None:
                update["requested_delivery_date"] = delivery_date
            return order.model_copy(update=update), None

        request = {
            "address": address.model_dump(mode="json") if address else None,
            "delivery_date": delivery_date.isoformat() if delivery_date else None,
        }
        return await self._change(number, Action.DELIVERY, request, idempotency_key, apply)

    async def record_tracking(self, update: CarrierUpdate) -> TrackingApplied | None:
        """Store a carrier's update in the order, atomically; a replay (the same event
        already in the package's history) writes nothing."""

        def change(order: Order) -> tuple[Order | None, TrackingApplied | None]:
            applied = apply_update(order, update)
            return (applied.order if applied and applied.recorded else None), applied

        found = await self._rewrite(update.order_number or "", change)
        return found[0] if found else None

    async def record_refund_completed(
        self, number: str, refund_id: str, at: datetime
    ) -> tuple[Order, bool] | None:
        """Mark a refund completed (and a return waiting on it), atomically. The
        order and whether it changed (False: already completed, a replay); None
        when the order or the refund is unknown."""

        def change(order: Order) -> tuple[Order | None, tuple[Order, bool] | None]:
            refund = next((r for r in order.refunds if r.refund_id == refund_id), None)
            if refund is None:
                return None, None
            if refund.status is RefundStatus.COMPLETED:
                return None, (order, False)
            done = refund.model_copy(update={"status": RefundStatus.COMPLETED, "completed_at": at})
            returns = [
                r.model_copy(update={"status": ReturnStatus.COMPLETED})
                if r.refund_id == refund_id and r.status is ReturnStatus.REFUND_INITIATED else r
                for r in order.returns
            ]
            changed = order.model_copy(update={
                "refunds": [done if r.refund_id == refund_id else r for r in order.refunds],
                "returns": returns,
            })
            return changed, (changed, True)

        found = await self._rewrite(number, change)
        return found[0] if found else None

    async def _rewrite(
        self, number: str, change: Callable[[Order], tuple[Order | None, T]]
    ) -> tuple[T] | None:
        """Rewrite one stored order atomically (compare-and-set, retried while
        other changes win the race). `change` gives the new order (None: write nothing)
        and its result; None when the order is unknown."""
        number = number.strip().removeprefix("#")
        if not _ORDER_NUMBER.fullmatch(number):
            return None
        order_key = self._order_key(number)

        async def transact() -> tuple[T] | None:
            for _ in range(MAX_ATTEMPTS):
                raw = await self._redis.get(order_key)
                if raw is None:
                    return None
                changed, result = change(Order.model_validate_json(raw))
                if changed is None or await _script(
                        self._swap, [order_key], [raw, changed.model_dump_json()]):
                    return (result,)
                await asyncio.sleep(0)  # another change won the race: read again
            raise BackendUnavailable(f"order {number}: too many concurrent changes, try again")

        return await _with_reconnect(transact)

    async def _change(
        self,
        number: str,
        action: Action,
        request: dict[str, Any],
        idempotency_key: str,
        apply: Apply,
    ) -> ActionOutcome:
        """Run `apply` on the stored order atomically, once per idempotency key."""
        number = number.strip().removeprefix("#")
        if not _ORDER_NUMBER.fullmatch(number):
            raise ActionRefused("unknown order")
        fingerprint = json.dumps({"action": action.value, **request}, sort_keys=True)
        order_key, idem_key = self._order_key(number), self._idem_key(number, idempotency_key)
        return await _with_reconnect(
            lambda: self._transact(number, order_key, idem_key, fingerprint, apply)
        )

    async def _transact(
        self, number: str, order_key: str, idem_key: str, fingerprint: str, apply: Apply
    ) -> ActionOutcome:
        """One optimistic change, retried while other changes win the race: read
        the order and the idempotency record (one slot, one round trip), apply, then
        write both only if the order is still what was read (`_SWAP_ONCE`)."""
        for _ in range(MAX_ATTEMPTS):
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.get(idem_key)
                pipe.get(order_key)
                done, raw = await pipe.execute()
            if done is not None:
                return _replay(done, fingerprint, number)
            if raw is None:
                raise ActionRefused(f"order {number} not found")
            changed, reference = apply(Order.model_validate_json(raw), self._clock())
            record = {
                "fingerprint": fingerprint,
                "reference": reference,
                "order": changed.model_dump(mode="json"),
            }
            answer = await _script(
                self._swap_once, [order_key, idem_key],
                [raw, changed.model_dump_json(), json.dumps(record),
                 int(IDEMPOTENCY_TTL.total_seconds())])
            if answer == 1:
                return ActionOutcome(changed, reference)
            if answer is not None and answer != 0:  # the same key finished meanwhile
                return _replay(answer, fingerprint, number)
            await asyncio.sleep(0)  # another change won the race: read again
        raise BackendUnavailable(f"order {number}: too many concurrent changes, try again")


async def _script(script: Any, keys: list[str], args: list[Any]) -> Any:
    """redis-py's scripts are untyped; this is the one place that says so."""
    return await script(keys=keys, args=args)


def _text(value: bytes | str) -> str:
    """Works whether or not the client decodes responses."""
    return value.decode() if isinstance(value, bytes) else value


def _replay(raw: bytes | str, fingerprint: str, number: str) -> ActionOutcome:
    record = json.loads(raw)
    if record["fingerprint"] != fingerprint:
        raise ActionRefused(f"order {number}: idempotency key reused for a different change")
    return ActionOutcome(Order.model_validate(record["order"]), record["reference"])
