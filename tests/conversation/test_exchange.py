"""An exchange for another size or colour, through the real engine and the demo shop
(order 100038: a kurta in Indigo M, with S cheaper, L dearer, Maroon M at the same
price, and XL out of stock; see docs/demo-orders.md)."""

from __future__ import annotations

from collections.abc import Callable

from conversation.audit import What
from conversation.engine import Engine
from orders.demo import DemoBackend
from orders.policy import Action, Policy
from tests.conversation.chat import Chat
from tests.demo_orders import DELIVERED_RECENT, open_order

KURTA = ("100038", "nisha.rao@example.in")


async def _to_the_sizes(chat: Chat) -> None:
    await open_order(chat, "Return or replace", KURTA)
    assert chat.keys == ["rr.pick_any"]
    assert "money back, the same item again, or another size or colour" in chat.text
    assert chat.labels == ["Return for a refund", "Replace it",
                           "Exchange for another size or colour", "Menu"]
    await chat.tap("Exchange for another size or colour")


async def test_the_sizes_in_stock_are_offered_with_their_price_difference(chat: Chat) -> None:
    await _to_the_sizes(chat)
    assert chat.keys == ["exchange.pick"]
    assert chat.labels == ["Indigo, S · ₹150.00 less", "Indigo, L · ₹200.00 more",
                           "Maroon, M · same price", "Menu"]  # XL is out of stock


async def test_a_dearer_size_says_what_to_pay_before_the_yes_and_is_done_once(
    chat: Chat, shop: DemoBackend,
) -> None:
    await _to_the_sizes(chat)
    await chat.tap("Indigo, L · ₹200.00 more")
    assert chat.keys == ["confirm.exchange"]
    assert "Exchange 1 × Cotton Kurta, Indigo, M from order #100038 for Indigo, L?" in chat.text
    assert "The new size costs ₹200.00 more; you will get a payment link" in chat.text
    assert "right away" in chat.text
    await chat.tap("Yes, go ahead")
    assert chat.keys == ["done.exchange"]
    assert "exchange X-100038-1 is registered: Cotton Kurta, Indigo, M for Indigo, L" in chat.text
    assert "payment link for the difference of ₹200.00" in chat.text
    order = await shop.get_order("100038")
    assert order is not None
    [made] = order.replacements
    assert (made.new_variant_id, made.price_difference) == ("SKU-APP-KUR-IND-L", 200)
    await chat.send("Yes, go ahead", payload="yes")  # a second tap: nothing more happens
    order = await shop.get_order("100038")
    assert order is not None and len(order.replacements) == 1


async def test_a_cheaper_size_is_refunded_to_the_original_method(chat: Chat) -> None:
    await _to_the_sizes(chat)
    await chat.tap("Indigo, S · ₹150.00 less")
    assert "The new size costs ₹150.00 less; the difference will be refunded to your UPI" in (
        chat.text)
    await chat.tap("Yes, go ahead")
    assert "refunded to your UPI" in chat.text


async def test_another_colour_at_the_same_price(chat: Chat) -> None:
    await _to_the_sizes(chat)
    await chat.tap("Maroon, M · same price")
    assert "The new colour costs the same: nothing to pay and nothing to refund." in chat.text


async def test_a_unit_under_exchange_is_not_offered_again_and_the_refusal_says_why(
    chat: Chat,
) -> None:
    await _to_the_sizes(chat)
    await chat.tap("Maroon, M · same price")
    await chat.tap("Yes, go ahead")
    await chat.tap("Back to this order")
    await chat.say("return or replace")
    assert chat.keys == ["refusal.header"]
    assert "order #100038" in chat.text
    assert "it is already in a return or replacement" in chat.text
    assert "Exchange for another size or colour" not in chat.labels


async def test_an_open_exchange_request_counts_against_the_limit(
    make_engine: Callable[..., Engine],
) -> None:
    policy = Policy(timezone="Asia/Kolkata", manual=frozenset({Action.EXCHANGE}))
    chat = Chat(make_engine(policy=policy))
    await _to_the_sizes(chat)
    await chat.tap("Indigo, L · ₹200.00 more")
    assert "send this to our team as a request" in chat.text
    assert "₹200.00 more" in chat.text
    await chat.tap("Yes, go ahead")
    assert chat.keys == ["request.opened"]
    [ticket] = await chat.engine.tickets.list_open()
    assert ticket.request and ticket.request["variant_id"] == "SKU-APP-KUR-IND-L"
    assert ticket.request["price_difference"] == "200.00"
    await chat.tap("Back to this order")
    await chat.say("return or replace")
    assert "it is already in a return or replacement" in chat.text  # the open request counts


async def test_an_item_without_variants_is_not_offered_an_exchange(chat: Chat) -> None:
    await open_order(chat, "Return or replace", DELIVERED_RECENT)
    assert "Exchange for another size or colour" not in chat.labels


async def test_the_exchange_is_in_the_audit_log(chat: Chat) -> None:
    await _to_the_sizes(chat)
    await chat.tap("Indigo, L · ₹200.00 more")
    await chat.tap("Yes, go ahead")
    entries = await chat.engine.audit.read("100038")
    whats = [(e.action, e.what) for e in entries]
    assert ("exchange", What.CONFIRMED.value) in whats
    assert ("exchange", What.CARRIED_OUT.value) in whats
    confirmed = next(e for e in entries if e.what == What.CONFIRMED.value)
    assert "variant SKU-APP-KUR-IND-L" in confirmed.detail
    assert "difference 200.00" in confirmed.detail


async def test_the_exchange_in_hindi(chat: Chat) -> None:
    await chat.say("हिंदी")
    await chat.tap("रिटर्न या रिप्लेस")
    await chat.say("100038")
    await chat.say(KURTA[1])
    assert "कोई दूसरा साइज़ या रंग" in chat.text
    await chat.tap("दूसरे साइज़ या रंग से बदलें")
    assert "Indigo, L · ₹200.00 ज़्यादा" in chat.labels
    await chat.tap("Indigo, L · ₹200.00 ज़्यादा")
    assert "नए साइज़ की कीमत ₹200.00 ज़्यादा है; अंतर की रकम के लिए आपको पेमेंट लिंक" in chat.text


async def test_asking_to_exchange_in_words_offers_the_sizes_beside_the_damage_reasons(
    chat: Chat,
) -> None:
    await chat.say("can I exchange my kurta 100038 for a bigger size")
    await chat.say(KURTA[1])
    assert chat.keys == ["reason.pick"]  # read as a replacement, whose reasons are damage
    assert "Exchange for another size or colour" in chat.labels
    await chat.tap("Exchange for another size or colour")
    assert chat.keys == ["exchange.pick"] and "Indigo, L · ₹200.00 more" in chat.labels
