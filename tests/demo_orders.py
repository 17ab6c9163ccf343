"""The demo shop's orders that tests talk about (docs/demo-orders.md lists them all),
each with the second factor that proves it, and the opening every such test shares."""

from __future__ import annotations

from tests.conversation.chat import Chat

PLACED_UPI = ("100001", "priya.sharma@example.in")
PROCESSING_COD = ("100002", "rahul.verma@example.com")
OUT_FOR_DELIVERY = ("100006", "vikram.singh@example.com")
STORE_PICKUP = ("100007", "kavya.reddy@example.in")
DELIVERED_RECENT = ("100008", "+91 98123 45678")
DELIVERED_LONG_AGO = ("100009", "arjun.nair@example.com")
TWO_PACKAGES = ("100011", "meera.joshi@example.in")
CANCELLED_REFUND_PENDING = ("100014", "priya.sharma@example.in")
CANCELLED_COD = ("100016", "harpreet.kaur@example.com")
NOT_RETURNABLE_ITEMS = ("100025", "arjun.nair@example.com")
OUT_OF_STOCK = ("100026", "meera.joshi@example.in")


async def open_order(chat: Chat, menu_label: str, order: tuple[str, str]) -> None:
    await chat.say("hi")
    await chat.tap(menu_label)
    assert chat.keys == ["order.ask"]
    await chat.say(order[0])
    assert chat.keys == ["verify.ask_factor"]
    await chat.say(order[1])
