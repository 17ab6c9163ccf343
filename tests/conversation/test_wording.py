"""Wording a shopper notices: plural forms in both languages, no "(s)", the cash on
delivery hint only for cash on delivery, confirmations that show the items and the
amount, a six-button rating with "Skip"."""

from __future__ import annotations

import re

import pytest
import redis.asyncio as aioredis

from conversation.catalogue import Catalogue
from conversation.engine import Engine
from conversation.staff import Desk
from tests.conversation.chat import Chat
from tests.conversation.test_staff import AGENT, hand_off
from tests.demo_orders import DELIVERED_RECENT, PLACED_UPI, PROCESSING_COD, open_order


@pytest.mark.parametrize("language", ["en", "hi"])
def test_no_text_hedges_a_plural(catalogue: Catalogue, language: str) -> None:
    hedged = {k: v for k, v in catalogue.patterns(language).items()
              if re.search(r"\w\(s\)|\(es\)|\(ies\)", v)}
    assert not hedged


@pytest.mark.parametrize(("language", "left", "expected"), [
    ("en", 1, "1 try left"), ("en", 2, "2 tries left"),
    ("hi", 1, "1 कोशिश बाकी"), ("hi", 2, "2 कोशिशें बाकी"),
])
def test_plural_forms_follow_each_languages_rule(
    catalogue: Catalogue, language: str, left: int, expected: str
) -> None:
    assert expected in catalogue.text(language, "verify.no_match", left=left)


def test_a_plural_spec_in_every_language_has_both_forms(catalogue: Catalogue) -> None:
    for language in catalogue.languages:
        for key, pattern in catalogue.patterns(language).items():
            for forms in re.findall(r"\{\w+:plural:([^}]*)\}", pattern):
                assert "|" in forms, f"{language}:{key}"


async def test_the_cancel_confirmation_shows_the_items_and_the_amount(chat: Chat) -> None:
    await open_order(chat, "Cancel", PLACED_UPI)
    assert chat.keys == ["confirm.cancel"]
    assert "× " in chat.text and "₹" in chat.text and "refunded" in chat.text
    assert "cash on delivery" not in chat.text


async def test_a_prepaid_cancel_never_mentions_cash_on_delivery(chat: Chat) -> None:
    await open_order(chat, "Cancel", PLACED_UPI)
    await chat.tap("Yes, go ahead")
    assert chat.keys == ["done.cancel"] and "cash on delivery" not in chat.text


async def test_a_cash_on_delivery_cancel_says_nothing_is_paid(chat: Chat) -> None:
    await open_order(chat, "Cancel", PROCESSING_COD)
    assert "nothing has been paid yet" in chat.text and "₹" in chat.text
    await chat.tap("Yes, go ahead")
    assert "cash on delivery" in chat.text


async def test_a_return_confirmation_shows_the_refund_amount(chat: Chat) -> None:
    await open_order(chat, "Return or replace", DELIVERED_RECENT)
    for _ in range(4):  # item, return or replace, quantity, reason: whatever it asks
        if chat.keys == ["confirm.return"] or chat.keys == ["confirm.replace"]:
            break
        await chat.tap(chat.buttons[0].payload)
    assert chat.keys in (["confirm.return"], ["confirm.replace"])
    assert "₹" in chat.text


async def test_the_rating_is_one_to_five_and_skip(
    chat: Chat, engine: Engine, redis: aioredis.Redis
) -> None:
    desk = Desk(engine, redis)
    ticket_id = await hand_off(chat)
    await desk.resolve(ticket_id, AGENT)
    await chat.say("skip")
    assert chat.keys == ["menu.prompt"]
    ticket = await engine.tickets.get(ticket_id)
    assert ticket is not None and ticket.rating is None
