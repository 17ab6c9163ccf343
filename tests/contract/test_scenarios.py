"""The same dialogue scenarios against every order back-end in the registry
(`tests/contract/backends.py`), through the real Engine and a real Redis.

Orders are the demo shop's (docs/demo-orders.md). What the shopper is told is the
contract; where a back-end does not carry an action out itself
(`backend.supports`), the scenario expects the honest staff request instead.
"""

from __future__ import annotations

from collections.abc import Callable

import redis.asyncio as aioredis

from orders.backend import OrderBackend
from orders.models import OrderStatus
from orders.policy import Action, Policy
from records.db import Database
from tests.contract.shopper import TIMEZONE
from tests.conversation.chat import Chat, skip_photo
from tests.demo_orders import (
    CANCELLED_REFUND_PENDING,
    DELIVERED_LONG_AGO,
    DELIVERED_RECENT,
    OUT_FOR_DELIVERY,
    PLACED_UPI,
    open_order,
)


async def confirm_and_expect(
    chat: Chat, backend: OrderBackend, action: Action, done_key: str, redis: aioredis.Redis
) -> bool:
    """Tap yes; True when the back-end carried it out, False when it became a request
    (then the shopper must have been told so, and a request ticket must exist)."""
    automatic = action in backend.supports
    assert ("right away" in chat.text) is automatic, chat.text
    await chat.tap("Yes, go ahead")
    if automatic:
        assert chat.keys == [done_key]
        return True
    assert chat.keys == ["request.opened"]
    tickets = await chat.engine.tickets.list_open()
    assert [t.kind for t in tickets] == ["request"]
    assert tickets[0].request and tickets[0].request["action"] == action.value
    return False


async def test_track_out_for_delivery_with_tracking_link(chat: Chat) -> None:
    await open_order(chat, "Track order", OUT_FOR_DELIVERY)
    assert chat.keys == ["snapshot.header"]
    assert "Order #100006" in chat.text and "out for delivery" in chat.text
    assert "Expected by" in chat.text and "Ekart" in chat.text
    assert [link.label for link in chat.links] == ["Track package"]
    assert chat.links[0].url.startswith("https://")


async def test_cancel_prepaid_says_the_refund_and_a_second_cancel_is_refused(
    chat: Chat, backend: OrderBackend, redis: aioredis.Redis
) -> None:
    await open_order(chat, "Cancel", PLACED_UPI)
    assert chat.keys == ["confirm.cancel"]
    done = await confirm_and_expect(chat, backend, Action.CANCEL, "done.cancel", redis)
    order = await backend.get_order(PLACED_UPI[0])
    assert order is not None
    if not done:
        assert order.status is OrderStatus.PLACED  # a request changes nothing by itself
        return
    assert order.status is OrderStatus.CANCELLED
    assert "refund of ₹" in chat.text and "UPI" in chat.text
    refund = order.refunds[-1]
    assert refund.expected_by is not None

    await chat.say("cancel")  # the order is still in context
    assert chat.keys == ["refusal.header"]
    assert "already been cancelled" in chat.text
    again = await backend.get_order(PLACED_UPI[0])
    assert again is not None and again.refunds == order.refunds  # one cancellation, one refund


async def test_return_in_window_gets_an_id(
    chat: Chat, backend: OrderBackend, redis: aioredis.Redis
) -> None:
    await open_order(chat, "Return or replace", DELIVERED_RECENT)
    await chat.tap("Cotton Kurta, Indigo, Size M × 2")
    await chat.tap("Return for a refund")
    await chat.tap("1")
    await chat.tap("Arrived damaged")
    await skip_photo(chat)
    assert chat.keys == ["confirm.return"]
    done = await confirm_and_expect(chat, backend, Action.RETURN, "done.return", redis)
    order = await backend.get_order(DELIVERED_RECENT[0])
    assert order is not None
    if not done:
        assert order.returns == []
        return
    assert len(order.returns) == 1
    assert order.returns[0].return_id in chat.text
    assert "shipping fees are not refunded" in chat.text
    assert "Pickup starts once the return is approved" in chat.text


async def test_return_outside_the_window_is_refused_with_its_dates(chat: Chat) -> None:
    await open_order(chat, "Return or replace", DELIVERED_LONG_AGO)
    assert chat.keys == ["refusal.header"]
    assert "return window has closed" in chat.text
    assert "30 days from the delivery date" in chat.text
    assert "so the last day was" in chat.text
    assert "Talk to a person" in chat.labels


async def test_refund_status_shows_amount_method_and_date(chat: Chat) -> None:
    await open_order(chat, "Refund status", CANCELLED_REFUND_PENDING)
    assert chat.keys == ["refund.header"]
    assert "₹" in chat.text and "card" in chat.text and "expected by" in chat.text


async def test_replacement_is_a_request_under_the_default_policy(db: Database,
    chat: Chat, backend: OrderBackend, redis: aioredis.Redis
) -> None:
    await open_order(chat, "Return or replace", DELIVERED_RECENT)
    await chat.tap("Phone Case, Transparent × 1")
    await chat.tap("Replace it")
    await chat.tap("Wrong item")
    await skip_photo(chat)
    assert chat.keys == ["confirm.replace"]
    assert "as a request" in chat.text
    await chat.tap("Yes, go ahead")
    assert chat.keys == ["request.opened"]
    tickets = await chat.engine.tickets.list_open()
    assert [t.kind for t in tickets] == ["request"]
    order = await backend.get_order(DELIVERED_RECENT[0])
    assert order is not None and order.replacements == []


async def test_replacement_when_the_policy_lets_the_bot_do_it(
    make_chat: Callable[..., Chat], backend: OrderBackend, redis: aioredis.Redis
) -> None:
    chat = make_chat(Policy(timezone=TIMEZONE, manual=frozenset()))
    await open_order(chat, "Return or replace", DELIVERED_RECENT)
    await chat.tap("Phone Case, Transparent × 1")
    await chat.tap("Replace it")
    await chat.tap("Arrived damaged")
    await skip_photo(chat)
    done = await confirm_and_expect(chat, backend, Action.REPLACE, "done.replace", redis)
    order = await backend.get_order(DELIVERED_RECENT[0])
    assert order is not None
    if done:
        assert [r.replacement_id in chat.text for r in order.replacements] == [True]
    else:
        assert order.replacements == []


async def test_delivery_date_change_before_shipping(
    chat: Chat, backend: OrderBackend, redis: aioredis.Redis
) -> None:
    await open_order(chat, "Change delivery", PLACED_UPI)
    await chat.tap("Delivery date")
    first_date = chat.buttons[0]
    await chat.tap(first_date.label)
    assert chat.keys == ["confirm.delivery"]
    done = await confirm_and_expect(chat, backend, Action.DELIVERY, "done.delivery_date", redis)
    order = await backend.get_order(PLACED_UPI[0])
    assert order is not None
    if done:
        assert order.requested_delivery_date is not None
        assert order.requested_delivery_date.isoformat() == first_date.payload.removeprefix("dt:")
    else:
        assert order.requested_delivery_date is None


async def test_a_strangers_order_number_shows_nothing_personal(
    chat: Chat, backend: OrderBackend
) -> None:
    order = await backend.get_order(OUT_FOR_DELIVERY[0])
    assert order is not None  # it exists in the shop
    shown: list[str] = []
    keys: list[str] = []
    for text in ("hi", "Track order", OUT_FOR_DELIVERY[0], PLACED_UPI[1], "track 100006"):
        await chat.say(text)  # Priya's email, not Vikram's, as the second factor
        shown += [chat.text, *chat.labels, *(link.url for link in chat.links)]
        keys.append(chat.keys[-1])
    assert keys[2:] == ["verify.ask_factor", "verify.no_match", "verify.ask_factor"]
    private = [order.customer.name.split()[0], order.customer.email, order.customer.phone[-6:],
               *(item.name for item in order.items)]
    if order.shipping_address:
        private += [order.shipping_address.line1, order.shipping_address.postal_code]
    for package in order.packages:
        private += [p for p in (package.tracking_number, package.tracking_url) if p]
    for words in shown:
        assert not any(p.casefold() in words.casefold() for p in private), words


KURTA_WITH_SIZES = ("100038", "nisha.rao@example.in")


async def test_exchange_for_another_size_states_the_difference_and_is_made_once(
    chat: Chat, backend: OrderBackend, redis: aioredis.Redis
) -> None:
    """Where the back-end does exchanges, the sizes in stock are offered with their
    price difference and the exchange is made once; elsewhere it is not offered."""
    await open_order(chat, "Return or replace", KURTA_WITH_SIZES)
    if Action.EXCHANGE not in backend.supports:
        assert "Exchange for another size or colour" not in chat.labels
        return
    await chat.tap("Exchange for another size or colour")
    assert chat.keys == ["exchange.pick"]
    assert chat.labels == ["Indigo, S · ₹150.00 less", "Indigo, L · ₹200.00 more",
                           "Maroon, M · same price", "Menu"]
    await chat.tap("Indigo, L · ₹200.00 more")
    assert "The new size costs ₹200.00 more; you will get a payment link" in chat.text
    await confirm_and_expect(chat, backend, Action.EXCHANGE, "done.exchange", redis)
    order = await backend.get_order(KURTA_WITH_SIZES[0])
    assert order is not None
    [made] = order.replacements
    assert made.new_variant == "Indigo, L" and made.price_difference == 200
    assert made.replacement_id in chat.text
    await chat.send("Yes, go ahead", payload="yes")  # a stale second tap changes nothing
    again = await backend.get_order(KURTA_WITH_SIZES[0])
    assert again is not None and len(again.replacements) == 1
