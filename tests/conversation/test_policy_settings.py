"""The merchant's policy settings in the dialogue, as tables: each setting's default
and a changed value, and what the shopper reads."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis.asyncio as aioredis

from conversation.engine import Engine
from orders.demo import DemoBackend
from orders.models import Order, PaymentStatus
from orders.policy import DEFAULT_CANCEL_REASONS, Action, Policy
from orders.refund_timing import parse_refund_timing
from tests.conversation.chat import Chat, skip_photo
from tests.conversation.conftest import Clock
from tests.demo_orders import CANCELLED_REFUND_PENDING, DELIVERED_RECENT, PLACED_UPI, open_order

# ---- refund timing per payment method ------------------------------------------------------------


@pytest.mark.parametrize(("setting", "says"), [
    ("", "Refunds to card usually take 5–7 business days."),
    ("card=3-4 business", "Refunds to card usually take 3–4 business days."),
    ("card=10", "Refunds to card usually take up to 10 days."),
])
async def test_the_refund_status_says_how_long_the_method_takes(
    make_engine: Callable[..., Engine], setting: str, says: str
) -> None:
    policy = Policy(timezone="Asia/Kolkata", refund_timing=parse_refund_timing(setting))
    chat = Chat(make_engine(policy=policy))
    await open_order(chat, "Refund status", CANCELLED_REFUND_PENDING)
    assert says in chat.text


@pytest.mark.parametrize(("setting", "says"), [
    ("", "Refunds to UPI usually take up to 1 day."),
    ("upi=0", "Refunds to UPI usually take less than a day."),
    ("upi=2-3", "Refunds to UPI usually take 2–3 days."),
])
async def test_after_a_cancel_the_refund_timing_is_said(
    make_engine: Callable[..., Engine], setting: str, says: str
) -> None:
    policy = Policy(timezone="Asia/Kolkata", refund_timing=parse_refund_timing(setting))
    chat = Chat(make_engine(policy=policy))
    await open_order(chat, "Cancel", PLACED_UPI)
    await chat.tap("Yes, go ahead")
    assert chat.keys == ["done.cancel"]
    assert "expect it by" in chat.text and says in chat.text


# ---- one replacement per item or per order ------------------------------------------------------


async def _request_a_replacement_of_the_kurta(chat: Chat) -> None:
    await open_order(chat, "Return or replace", DELIVERED_RECENT)
    await chat.tap("i:1")
    await chat.tap("rr:replace")
    await chat.tap("q:1")
    await chat.tap("r:DAMAGED")
    await skip_photo(chat)  # a damaged item going to staff: a photo is invited first
    await chat.tap("yes")
    assert chat.keys == ["request.opened"]  # replacements are requests for staff by default


@pytest.mark.parametrize(("limit", "then_keys", "then_says"), [
    ("item", ["reason.pick"], "Phone Case"),  # only the other item is left to replace
    ("order", ["refusal.header"], "one replacement per order"),
    ("none", ["item.pick"], "which item"),
])
async def test_a_second_replacement_follows_the_limit_and_an_open_request_counts(
    make_engine: Callable[..., Engine], limit: str, then_keys: list[str], then_says: str
) -> None:
    policy = Policy(timezone="Asia/Kolkata", replacement_limit=limit)  # type: ignore[arg-type]
    chat = Chat(make_engine(policy=policy))
    await _request_a_replacement_of_the_kurta(chat)
    await chat.say("replace")
    assert chat.keys == then_keys and then_says in chat.text
    if limit == "none":
        assert any("Cotton Kurta" in label for label in chat.labels)


async def test_the_item_limit_says_why_for_the_replaced_item(
    make_engine: Callable[..., Engine],
) -> None:
    chat = Chat(make_engine())
    await _request_a_replacement_of_the_kurta(chat)
    await chat.say("I want to replace the kurta again")
    assert "Phone Case" in chat.text and "Cotton Kurta" not in chat.labels


# ---- a cancellation reason from the merchant's list ---------------------------------------------


@pytest.mark.parametrize(("reasons", "first_keys"), [
    ((), ["confirm.cancel"]),  # the default: not asked
    (DEFAULT_CANCEL_REASONS, ["cancel_reason.ask"]),
    (("too_expensive", "other"), ["cancel_reason.ask"]),
])
async def test_the_cancel_reason_is_asked_only_when_the_merchant_lists_reasons(
    make_engine: Callable[..., Engine], reasons: tuple[str, ...], first_keys: list[str]
) -> None:
    chat = Chat(make_engine(policy=Policy(timezone="Asia/Kolkata", cancel_reasons=reasons)))
    await open_order(chat, "Cancel", PLACED_UPI)
    assert chat.keys == first_keys
    if reasons:
        assert len(chat.buttons) == len(reasons) + 1  # and Menu


async def test_the_reason_is_confirmed_and_recorded_in_the_audit_log(
    make_engine: Callable[..., Engine],
) -> None:
    engine = make_engine(policy=Policy(timezone="Asia/Kolkata",
                                       cancel_reasons=DEFAULT_CANCEL_REASONS))
    chat = Chat(engine)
    await open_order(chat, "Cancel", PLACED_UPI)
    await chat.tap("Found it cheaper elsewhere")
    assert chat.keys == ["confirm.cancel"] and "Reason: Found it cheaper elsewhere." in chat.text
    await chat.tap("yes")
    assert chat.keys == ["done.cancel"]
    entries = await engine.audit.read(PLACED_UPI[0])
    confirmed = [e for e in entries if e.what == "confirmed"]
    assert confirmed and "reason found_cheaper" in confirmed[-1].detail


async def test_a_merchants_own_reason_and_typed_words_are_taken(
    make_engine: Callable[..., Engine],
) -> None:
    engine = make_engine(policy=Policy(timezone="Asia/Kolkata",
                                       cancel_reasons=("too_expensive", "other"),
                                       manual=frozenset({Action.CANCEL})))
    chat = Chat(engine)
    await open_order(chat, "Cancel", PLACED_UPI)
    assert "Too expensive" in chat.labels
    await chat.say("my brother already bought one for me")  # own words: "other"
    assert chat.keys == ["confirm.cancel"] and "Something else" in chat.text
    await chat.tap("yes")
    assert chat.keys == ["request.opened"]  # a request for staff: the reason is on the ticket
    ticket = (await engine.tickets.list_open())[0]
    assert ticket.request is not None and ticket.request["cancel_reason"] == "other"


# ---- failed and pending payments ---------------------------------------------------------------


async def _shop_with(redis: aioredis.Redis, clock: Clock, sample_orders: list[Order],
                     **payment: object) -> DemoBackend:
    """The demo shop with order 100001 (UPI, placed) given this payment."""
    orders = [o.model_copy(update={"payment": o.payment.model_copy(update=payment)})
              if o.number == PLACED_UPI[0] else o for o in sample_orders]
    shop = DemoBackend(redis, clock=clock)
    await shop.load(orders, replace=True)
    return shop


@pytest.mark.parametrize(("payment", "days", "says", "link"), [
    ({"status": PaymentStatus.FAILED}, 5, "comes back by itself within 5 business days", False),
    ({"status": PaymentStatus.FAILED, "retry_url": "https://shop.example/pay/100001"}, 3,
     "within 3 business days", True),
    ({"status": PaymentStatus.PENDING}, 1, "waiting for the bank", False),
    ({"status": PaymentStatus.PENDING, "retry_url": "https://shop.example/pay/100001"}, 5,
     "nothing you need to do", True),
])
async def test_a_failed_or_pending_payment_says_what_happens_and_offers_no_change(
    make_engine: Callable[..., Engine], redis: aioredis.Redis, clock: Clock,
    sample_orders: list[Order], payment: dict[str, object], days: int, says: str, link: bool,
) -> None:
    shop = await _shop_with(redis, clock, sample_orders, **payment)
    policy = Policy(timezone="Asia/Kolkata", failed_payment_refund_days=days)
    chat = Chat(make_engine(policy=policy, backend=shop))
    await open_order(chat, "Track order", PLACED_UPI)
    assert says in chat.text
    assert not {"Cancel", "Return", "Replace"} & set(chat.labels)
    assert ("Pay again" in [x.label for x in chat.links]) is link
    await chat.say("cancel")  # asked anyway: refused, saying why
    assert chat.keys == ["refusal.header"]
    assert "payment" in chat.text


# ---- where a return's refund goes ---------------------------------------------------------------


async def _return_the_phone_case(chat: Chat) -> None:
    await open_order(chat, "Return or replace", DELIVERED_RECENT)
    await chat.tap("i:2")
    await chat.tap("rr:return")
    await chat.tap("r:ORDERED_BY_MISTAKE")


@pytest.mark.parametrize(("allowed", "keys"), [
    (False, ["confirm.return"]),  # the default: back to the original method, not asked
    (True, ["refund_to.ask"]),
])
async def test_the_refund_destination_is_asked_only_where_the_policy_allows(
    make_engine: Callable[..., Engine], allowed: bool, keys: list[str]
) -> None:
    chat = Chat(make_engine(policy=Policy(timezone="Asia/Kolkata",
                                          store_credit_refunds=allowed)))
    await _return_the_phone_case(chat)
    assert chat.keys == keys


@pytest.mark.parametrize(("choice", "says", "done"), [
    ("rd:original", "It goes back to your UPI.", "done.return"),
    ("rd:store_credit", "store credit", "request.opened"),  # a person adds store credit
])
async def test_the_chosen_destination_is_confirmed_and_kept(
    make_engine: Callable[..., Engine], choice: str, says: str, done: str
) -> None:
    engine = make_engine(policy=Policy(timezone="Asia/Kolkata", store_credit_refunds=True))
    chat = Chat(engine)
    await _return_the_phone_case(chat)
    assert "Store credit (less than a day)" in chat.labels or any(
        "Store credit" in label for label in chat.labels)
    await chat.tap(choice)
    assert chat.keys == ["confirm.return"] and says in chat.text
    await chat.tap("yes")
    assert chat.keys == [done]
    entries = await engine.audit.read(DELIVERED_RECENT[0])
    confirmed = [e for e in entries if e.what == "confirmed"]
    assert f"refund to {choice.partition(':')[2]}" in confirmed[-1].detail
