"""Every path of the dialogue, as a shopper lives it: real engine, real Redis, the
demo shop (dates pinned to NOW), no HTTP."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conversation.engine import Engine
from conversation.tickets import TicketStore
from conversation.types import Identity
from orders.demo import DemoBackend
from orders.policy import Action, Policy
from records.db import Database
from tests.conversation.chat import Chat, skip_photo
from tests.conversation.conftest import Clock
from tests.demo_orders import (
    CANCELLED_COD,
    CANCELLED_REFUND_PENDING,
    DELIVERED_LONG_AGO,
    DELIVERED_RECENT,
    NOT_RETURNABLE_ITEMS,
    OUT_FOR_DELIVERY,
    OUT_OF_STOCK,
    PLACED_UPI,
    PROCESSING_COD,
    STORE_PICKUP,
    TWO_PACKAGES,
    open_order,
)

# ---- track ---------------------------------------------------------------------


async def test_track_shows_status_eta_and_tracking_link(chat: Chat) -> None:
    await open_order(chat, "Track order", OUT_FOR_DELIVERY)
    assert chat.keys == ["snapshot.header"]
    assert "Order #100006" in chat.text
    assert "out for delivery" in chat.text
    assert "Expected by" in chat.text
    assert "Ekart" in chat.text
    assert [link.label for link in chat.links] == ["Track package"]
    assert chat.links[0].url.startswith("https://")


async def test_track_without_tracking_url_has_no_link_and_says_not_shipped(chat: Chat) -> None:
    await open_order(chat, "Track order", PLACED_UPI)
    assert "being packed" in chat.text
    assert chat.links == []


async def test_track_store_pickup_says_ready_for_pickup_without_carrier_link(chat: Chat) -> None:
    await open_order(chat, "Track order", STORE_PICKUP)
    assert "Ready for pickup at" in chat.text
    assert chat.links == []


async def test_track_two_packages_shows_each(chat: Chat) -> None:
    await open_order(chat, "Track order", TWO_PACKAGES)
    assert "Package 1 of 2" in chat.text and "Package 2 of 2" in chat.text
    assert "Delivered on" in chat.text
    assert [link.label for link in chat.links] == ["Track package 1", "Track package 2"]


async def test_snapshot_offers_only_actions_that_fit(chat: Chat) -> None:
    await open_order(chat, "Track order", OUT_FOR_DELIVERY)
    assert "Cancel" not in chat.labels  # shipped: cannot be cancelled
    assert "Change delivery" not in chat.labels
    assert "Talk to us" in chat.labels
    await chat.tap("Menu")
    await open_order(chat, "Track order", PLACED_UPI)
    assert {"Cancel", "Change delivery"} <= set(chat.labels)


async def test_order_number_typed_anywhere_starts_tracking(chat: Chat) -> None:
    await chat.say("where is my order #100006 ??")
    assert chat.keys[-1] == "verify.ask_factor"
    await chat.say("Vikram.Singh@Example.com")
    assert chat.keys == ["snapshot.header"]


# ---- cancel ----------------------------------------------------------------------


async def test_cancel_then_second_cancel_is_refused_with_reason(
    chat: Chat, shop: DemoBackend
) -> None:
    await open_order(chat, "Cancel", PLACED_UPI)
    assert chat.keys == ["confirm.cancel"]
    assert "right away" in chat.text
    await chat.tap("Yes, go ahead")
    assert chat.keys == ["done.cancel"]
    assert "refund of ₹" in chat.text and "UPI" in chat.text
    order = await shop.get_order("100001")
    assert order is not None and order.status.value == "cancelled"

    await chat.say("cancel")  # the order is still in context
    assert chat.keys == ["refusal.header"]
    assert "already been cancelled" in chat.text
    assert "Talk to a person" in chat.labels


async def test_cancel_cash_on_delivery_says_nothing_to_refund(chat: Chat) -> None:
    await open_order(chat, "Cancel", PROCESSING_COD)
    await chat.tap("Yes, go ahead")
    assert "nothing to refund" in chat.text


async def test_cancel_shipped_order_is_refused_and_hand_off_carries_the_reason(db: Database,
    chat: Chat, redis
) -> None:
    await open_order(chat, "Cancel", OUT_FOR_DELIVERY)
    assert chat.keys == ["refusal.header"]
    assert "already left our warehouse" in chat.text
    await chat.tap("Talk to a person")
    assert chat.keys == ["handoff.ask_issue_for_order"]
    await chat.say("I need to cancel, I won't be home")
    assert chat.keys == ["handoff.opened"]
    ticket = (await TicketStore(db, redis).list_open())[0]
    assert ticket.order == "100006" and ticket.order_verified
    assert ticket.refusal and ticket.refusal.startswith("already_shipped")
    assert ticket.issue == "I need to cancel, I won't be home"


async def test_declining_the_confirmation_changes_nothing(chat: Chat, shop: DemoBackend) -> None:
    await open_order(chat, "Cancel", PLACED_UPI)
    await chat.tap("No")
    assert chat.keys == ["confirm.declined"]
    order = await shop.get_order("100001")
    assert order is not None and order.status.value == "placed"


# ---- return and replacement ---------------------------------------------------------


async def test_return_gives_return_id_and_both_notices(chat: Chat, shop: DemoBackend) -> None:
    await open_order(chat, "Return or replace", DELIVERED_RECENT)
    assert chat.keys == ["item.pick"]
    await chat.tap("Cotton Kurta, Indigo, Size M × 2")
    assert chat.keys == ["rr.pick"]
    await chat.tap("Return for a refund")
    assert chat.keys == ["quantity.pick"]
    await chat.tap("2")
    assert chat.keys == ["reason.pick"]
    assert len(chat.buttons) == 6  # five reasons and the menu
    await chat.tap("Arrived damaged")
    await skip_photo(chat)
    assert chat.keys == ["confirm.return"]
    await chat.tap("Yes, go ahead")
    assert chat.keys == ["done.return"]
    order = await shop.get_order("100008")
    assert order is not None
    return_id = order.returns[-1].return_id
    assert return_id in chat.text
    assert "shipping fees are not refunded" in chat.text
    assert "Pickup starts once the return is approved" in chat.text


async def test_return_outside_window_is_refused_with_the_dates_and_handed_off(db: Database,
    chat: Chat, redis
) -> None:
    await open_order(chat, "Return or replace", DELIVERED_LONG_AGO)
    assert chat.keys == ["refusal.header"]
    assert "return window has closed" in chat.text
    assert "30 days from the delivery date" in chat.text
    assert "so the last day was" in chat.text
    await chat.tap("Talk to a person")
    await chat.say("It was a gift, I only opened it now")
    ticket = (await TicketStore(db, redis).list_open())[0]
    assert ticket.refusal and "window_closed" in ticket.refusal
    assert "last_day=" in ticket.refusal


async def test_not_returnable_items_are_not_offered_for_return(chat: Chat) -> None:
    await chat.say(f"I want to return {NOT_RETURNABLE_ITEMS[0]}")
    await chat.say(NOT_RETURNABLE_ITEMS[1])
    # serum and briefs are not returnable: the yoga mat is the only choice, so it is taken
    assert chat.keys == ["reason.pick"]
    assert "Yoga Mat" in chat.text
    await chat.say("menu")
    await chat.tap("Return or replace")
    await chat.tap(f"o:{NOT_RETURNABLE_ITEMS[0]}")
    # a damaged serum can still be replaced, so all three are offered here
    assert len([b for b in chat.buttons if b.payload.startswith("i:")]) == 3


async def test_replacement_is_a_staff_request_by_default_and_said_so(db: Database,
    chat: Chat, redis, shop: DemoBackend
) -> None:
    await open_order(chat, "Return or replace", DELIVERED_RECENT)
    await chat.tap("Phone Case, Transparent × 1")
    await chat.tap("Replace it")
    assert chat.keys == ["reason.pick"]
    assert "Ordered by mistake" not in chat.labels  # not a replacement reason
    await chat.tap("Wrong item")
    await skip_photo(chat)
    assert chat.keys == ["confirm.replace"]
    assert "as a request" in chat.text
    await chat.tap("Yes, go ahead")
    assert chat.keys == ["request.opened"]
    tickets = await TicketStore(db, redis).list_open()
    assert tickets[0].kind == "request"
    assert tickets[0].request and tickets[0].request["action"] == "replace"
    order = await shop.get_order("100008")
    assert order is not None and order.replacements == []  # nothing done behind our back
    await chat.say("menu")  # a request does not pause the bot
    assert chat.keys == ["menu.prompt"]


async def test_replacement_carried_out_when_policy_allows(
    make_engine: Callable[..., Engine], shop: DemoBackend
) -> None:
    chat = Chat(make_engine(policy=Policy(timezone="Asia/Kolkata", manual=frozenset())))
    await open_order(chat, "Return or replace", DELIVERED_RECENT)
    await chat.tap("Phone Case, Transparent × 1")
    await chat.tap("Replace it")
    await chat.tap("Arrived damaged")
    await skip_photo(chat)
    await chat.tap("Yes, go ahead")
    assert chat.keys == ["done.replace"]
    order = await shop.get_order("100008")
    assert order is not None and order.replacements[0].replacement_id in chat.text


async def test_out_of_stock_item_can_be_returned_but_not_replaced(chat: Chat) -> None:
    await chat.say("hi")
    await chat.say("I want a replacement")
    await chat.say(OUT_OF_STOCK[0])
    await chat.say(OUT_OF_STOCK[1])
    assert chat.keys == ["refusal.header"]
    assert "out of stock" in chat.text


# ---- delivery changes ------------------------------------------------------------------


async def test_change_delivery_address_before_shipping(chat: Chat, shop: DemoBackend) -> None:
    await open_order(chat, "Change delivery", PLACED_UPI)
    assert chat.keys == ["delivery.pick"]
    await chat.tap("Delivery address")
    assert chat.keys == ["delivery.ask_address"]
    await chat.say("short")
    assert chat.keys[0] == "delivery.address_format"
    await chat.say("Flat 4B, Lotus Towers, MG Road, Bengaluru 560001")
    assert chat.keys == ["confirm.delivery"]
    await chat.tap("Yes, go ahead")
    assert chat.keys == ["done.delivery_address"]
    order = await shop.get_order("100001")
    assert order is not None and order.shipping_address is not None
    assert "Lotus Towers" in order.shipping_address.line1


async def test_change_delivery_date_offers_dates(chat: Chat, shop: DemoBackend) -> None:
    await open_order(chat, "Change delivery", PLACED_UPI)
    await chat.tap("Delivery date")
    assert chat.keys == ["delivery.pick_date"]
    first_date = chat.buttons[0]
    await chat.tap(first_date.label)
    await chat.tap("Yes, go ahead")
    assert chat.keys == ["done.delivery_date"]
    order = await shop.get_order("100001")
    assert order is not None
    assert order.requested_delivery_date is not None
    assert order.requested_delivery_date.isoformat() == first_date.payload.removeprefix("dt:")


async def test_change_delivery_after_shipping_is_refused(chat: Chat) -> None:
    await open_order(chat, "Change delivery", OUT_FOR_DELIVERY)
    assert chat.keys == ["refusal.header"]
    assert "already left our warehouse" in chat.text


# ---- refunds -------------------------------------------------------------------------------


async def test_refund_status_shows_amount_method_and_date(chat: Chat) -> None:
    await open_order(chat, "Refund status", CANCELLED_REFUND_PENDING)
    assert chat.keys == ["refund.header"]
    assert "₹" in chat.text and "card" in chat.text and "expected by" in chat.text


async def test_refund_status_for_order_without_refund_says_why(chat: Chat) -> None:
    await open_order(chat, "Refund status", CANCELLED_COD)
    assert chat.keys == ["refusal.header"]
    assert "no refund on this order" in chat.text
    assert "cash on delivery" in chat.text


# ---- proven identity -------------------------------------------------------------------------


async def test_proven_identity_lists_only_orders_that_fit(engine: Engine) -> None:
    chat = Chat(engine, identity=Identity(phone="+919812345678"))
    await chat.say("hi")
    await chat.tap("Refund status")
    assert chat.keys == ["orders.pick"]
    numbers = {b.payload for b in chat.buttons if b.payload.startswith("o:")}
    assert numbers == {"o:100014", "o:100018"}  # the two of her orders with a refund
    await chat.tap("o:100014")
    assert chat.keys == ["refund.header"]


async def test_proven_identity_still_needs_a_factor_for_someone_elses_order(
    engine: Engine,
) -> None:
    chat = Chat(engine, identity=Identity(phone="+919812345678"))
    await chat.say("track 100006")
    assert chat.keys[-1] == "verify.ask_factor"


async def test_proven_identity_with_one_fitting_order_goes_straight_to_it(engine: Engine) -> None:
    chat = Chat(engine, identity=Identity(phone="+919876543210"))  # Rahul: one cancellable order
    await chat.say("hi")
    await chat.tap("Cancel")
    assert chat.keys == ["confirm.cancel"]
    assert "#100002" in chat.text


# ---- verification and its limits ------------------------------------------------------------


async def test_nothing_personal_is_shown_before_verification(chat: Chat) -> None:
    await chat.say("hi")
    await chat.tap("Track order")
    await chat.say("100006")
    existing = chat.text
    await chat.tap("Menu")
    await chat.tap("Track order")
    await chat.say("999999")  # no such order: the same answer
    assert chat.text == existing.replace("100006", "999999")
    await chat.say("someone@example.com")
    assert chat.keys == ["verify.no_match"]
    assert "Vikram" not in chat.text


async def test_wrong_factors_are_limited_per_conversation(chat: Chat, clock: Clock) -> None:
    await chat.say("hi")
    await chat.tap("Track order")
    await chat.say("100006")
    await chat.say("wrong@example.com")
    assert "2 tries left" in chat.text
    await chat.say("wrong2@example.com")
    assert "1 try left" in chat.text and "tries" not in chat.text
    await chat.say("wrong3@example.com")
    assert chat.keys == ["verify.too_many"]
    await chat.say("100006")  # locked: not even the right answer is asked for
    assert chat.keys == ["verify.locked"]
    clock.advance(minutes=16)
    await chat.say("100006")
    assert chat.keys[-1] == "verify.ask_factor"
    await chat.say(OUT_FOR_DELIVERY[1])
    assert chat.keys == ["snapshot.header"]


async def test_wrong_factors_are_limited_per_order_across_conversations(engine: Engine) -> None:
    for _ in range(5):  # an attacker rotating conversations
        attacker = Chat(engine)
        await attacker.say("100006")
        await attacker.say("guess@example.com")
    shopper = Chat(engine)
    await shopper.say("100006")
    await shopper.say(OUT_FOR_DELIVERY[1])  # even the right answer is refused for now
    assert shopper.keys == ["verify.too_many"]


async def test_phone_as_second_factor_in_any_spelling(chat: Chat) -> None:
    await chat.say("hi")
    await chat.tap("Track order")
    await chat.say("100008")
    await chat.say("098123 45678")
    assert chat.keys == ["snapshot.header"]


# ---- hand-off ----------------------------------------------------------------------------------


async def test_hand_off_opens_ticket_with_transcript_and_pauses_the_bot(db: Database,
    chat: Chat, engine: Engine, redis
) -> None:
    await chat.say("hi")
    await chat.say("agent")
    assert chat.keys == ["handoff.ask_issue"]
    await chat.say("My parcel 100006 arrived open")
    assert chat.keys == ["handoff.opened", "handoff.when_open"] or chat.keys == ["handoff.opened"]
    tickets = TicketStore(db, redis)
    listed = (await tickets.list_open())[0]
    assert listed.transcript == []  # lists are light: the transcript comes with the ticket
    ticket = await tickets.get(listed.id)
    assert ticket is not None and ticket.id in chat.text
    assert ticket.order == "100006" and not ticket.order_verified
    assert ticket.channel == "web" and ticket.conversation == chat.conversation
    shopper_lines = [line["text"] for line in ticket.transcript if line["who"] == "shopper"]
    assert shopper_lines == ["hi", "agent", "My parcel 100006 arrived open"]
    assert any(line["who"] == "bot" for line in ticket.transcript)

    await chat.say("hello? anyone?")
    assert chat.keys == ["handoff.added"]
    await chat.say("oops wrong button")  # filed; acknowledged at most once per few minutes
    assert chat.replies == ()
    assert [m["text"] for m in await tickets.log(ticket.id)] == ["hello? anyone?",
                                                                 "oops wrong button"]

    await engine.resolve_ticket(ticket.id)
    await chat.say("thanks")
    assert chat.keys == ["thanks.reply"]  # the bot is back
    resolved = await tickets.get(ticket.id)
    assert resolved is not None and resolved.status.value == "resolved"


async def test_resolving_tells_the_shopper_through_the_outbox(db: Database,
    chat: Chat, engine: Engine, redis
) -> None:
    await chat.say("agent")
    await chat.say("Where is my refund for 100014?")
    ticket = (await TicketStore(db, redis).list_open())[0]
    await engine.resolve_ticket(ticket.id)
    await engine.resolve_ticket(ticket.id)  # twice: told once
    entries = await redis.xrange("ohb:{outbox}")
    assert len(entries) == 1
    assert b"resolved" in entries[0][1][b"replies"]


async def test_hand_off_outside_business_hours_says_when(chat: Chat, clock: Clock) -> None:
    clock.advance(hours=10)  # 21:00 in Kolkata
    await chat.say("agent")
    await chat.say("Please call me about my order")
    assert chat.keys == ["handoff.opened"]
    assert "closed right now" in chat.text and "09:00" in chat.text


async def test_hand_off_needs_more_than_a_word(chat: Chat) -> None:
    await chat.say("agent")
    await chat.say("?")
    assert chat.keys[0] == "handoff.issue_too_short"


# ---- commands, misses, stale buttons ---------------------------------------------------------


@pytest.mark.parametrize("command,key", [
    ("menu", "menu.prompt"),
    ("MENU", "menu.prompt"),
    ("agent", "handoff.ask_issue_for_order"),
    ("human", "handoff.ask_issue_for_order"),
    ("stop", "stop.bye"),
])
async def test_commands_work_in_the_middle_of_a_task(chat: Chat, command: str, key: str) -> None:
    await open_order(chat, "Return or replace", DELIVERED_RECENT)
    assert chat.keys == ["item.pick"]
    await chat.say(command)
    assert chat.keys[0] == key


@pytest.mark.parametrize("command,key", [
    ("menu", "menu.prompt"), ("agent", "handoff.ask_issue"), ("stop", "stop.bye")])
async def test_commands_work_while_waiting_for_the_second_factor(
    chat: Chat, command: str, key: str
) -> None:
    await chat.say("100006")
    await chat.say(command)
    assert chat.keys[0] == key


async def test_misunderstood_input_repeats_the_choices_then_offers_a_person(chat: Chat) -> None:
    await chat.say("hi")
    await chat.say("blorp")
    assert chat.keys == ["not_understood", "menu.prompt"]
    await chat.say("qwerty")
    assert chat.keys == ["not_understood", "menu.prompt", "offer.person_above"]
    assert chat.labels.count("Talk to us") == 1  # offered once, not twice


async def test_an_unsure_guess_is_offered_not_acted_on(chat: Chat) -> None:
    """The model alone gives stray HTML some intent, unsure: the shopper is asked,
    nothing starts, and tapping the offered choice starts it."""
    await chat.say("hi")
    await chat.say("<img src=x onerror=\"document.title='owned'\">")
    assert chat.keys == ["not_sure"]
    assert chat.text.startswith("Sorry")
    assert [b.payload for b in chat.buttons] == ["m:rr", "menu"]
    await chat.say("hello there")  # a second miss: a person is offered too
    assert chat.keys == ["not_sure", "offer.person"]
    assert chat.labels.count("Talk to us") == 1
    await chat.tap("Track order")
    assert chat.keys == ["order.ask"]


async def test_typed_number_taps_that_option(chat: Chat) -> None:
    await chat.say("hi")
    await chat.say("1")  # Track order
    assert chat.keys == ["order.ask"]
    await chat.say("menu")
    await chat.say("9")
    assert chat.keys[0] == "choice.out_of_range"


@pytest.mark.parametrize("payload", ["o:100006", "i:1", "yes", "r:DAMAGED", "zzz", "q:999999"])
async def test_forged_or_stale_payloads_do_nothing(
    chat: Chat, payload: str, shop: DemoBackend
) -> None:
    await chat.say("hi")
    await chat.send(payload=payload)
    assert chat.keys[0] == "button.stale"
    assert "menu.prompt" in chat.keys
    order = await shop.get_order("100006")
    assert order is not None and order.status.value == "shipped"


async def test_old_snapshot_button_works_for_an_order_already_proven(chat: Chat) -> None:
    await open_order(chat, "Track order", PLACED_UPI)
    cancel = next(b for b in chat.buttons if b.label == "Cancel")
    await chat.tap("Menu")
    await chat.send(payload=cancel.payload)
    assert chat.keys == ["confirm.cancel"]


@pytest.mark.parametrize("text", ["", "   ", "😀😀", "こんにちは", "مرحبا", "x" * 5000])
async def test_any_text_gets_a_clear_answer(chat: Chat, text: str) -> None:
    await chat.say("hi")
    await chat.say(text)
    assert chat.keys[0] == "not_understood"


async def test_media_only_message_gets_polite_text_only_answer(chat: Chat) -> None:
    await chat.say("hi")
    await chat.send("", has_media=True)
    assert chat.keys[:2] == ["media.unsupported", "menu.prompt"]


async def test_hindi_text_gets_hindi_answers(chat: Chat) -> None:
    await chat.say("मेरा ऑर्डर कहाँ है")
    assert chat.keys[-1] == "order.ask"
    assert any("\u0900" <= ch <= "\u097f" for ch in chat.replies[-1].text)


async def test_disallowed_action_is_explained(make_engine: Callable[..., Engine]) -> None:
    policy = Policy(timezone="Asia/Kolkata", allowed=frozenset(set(Action) - {Action.CANCEL}))
    chat = Chat(make_engine(policy=policy))
    await chat.say("hi")
    await chat.tap("Cancel")
    assert chat.keys == ["action.not_offered"]


async def test_idle_session_goes_back_to_the_menu(chat: Chat, clock: Clock) -> None:
    await open_order(chat, "Return or replace", DELIVERED_RECENT)
    clock.advance(minutes=31)
    await chat.send(payload="i:1")  # the old button
    assert chat.keys[0] == "session.welcome_back"
    assert "button.stale" in chat.keys


async def test_hand_off_with_only_an_order_number_asks_for_the_issue(db: Database,
    chat: Chat, redis
) -> None:
    await chat.say("agent")
    await chat.say("#100003")
    assert chat.keys == ["handoff.ask_issue_for_order"]
    assert await TicketStore(db, redis).list_open() == []
    await chat.say("The courier says the address is wrong")
    ticket = (await TicketStore(db, redis).list_open())[0]
    assert ticket.order == "100003" and ticket.issue == "The courier says the address is wrong"


async def test_support_and_return_policy_links_when_the_merchant_has_them(
    make_engine: Callable[..., Engine],
) -> None:
    chat = Chat(make_engine(support_url="https://shop.example/help",
                            return_policy_url="https://shop.example/returns"))
    await open_order(chat, "Return or replace", DELIVERED_LONG_AGO)
    assert [(link.label, link.url) for link in chat.links] == [
        ("Return policy", "https://shop.example/returns")]
    await chat.tap("Talk to a person")
    await chat.say("It was a gift")
    assert [(link.label, link.url) for link in chat.links] == [
        ("Help centre", "https://shop.example/help")]


async def test_refusing_to_cancel_a_shipped_order_says_what_is_still_possible(
    chat: Chat,
) -> None:
    await open_order(chat, "Cancel", OUT_FOR_DELIVERY)
    assert "Once it arrives, you can return it" in chat.text
    await chat.say("menu")
    await chat.tap("Change delivery")
    await chat.tap("Order #100006")  # proven once in this chat: no second factor again
    assert chat.keys == ["refusal.header"]
    assert "Once it arrives" not in chat.text  # a delivery change is not a cancellation


async def test_return_or_replace_refusal_names_both(chat: Chat) -> None:
    await open_order(chat, "Return or replace", DELIVERED_LONG_AGO)
    assert "I can't return or replace items from order #100009" in chat.text


async def test_identity_proven_mid_conversation_skips_the_questions(chat: Chat) -> None:
    await chat.say("hi")
    await chat.tap("Refund status")
    assert chat.keys == ["order.ask"]
    chat.identity = Identity(phone="+91 98123 45678")  # e.g. a Telegram contact just shared
    await chat.say("")
    assert chat.keys == ["identity.thanks", "orders.pick"]
    await chat.say("")  # proven already: nothing new, an empty message is just not understood
    assert chat.keys[0] == "not_understood"
