"""Language both ways: detected per message, asked once for Hinglish, chosen at any
step (words or the menu's button), and a choice that sticks until changed."""

from __future__ import annotations

import pytest

from conversation.language import Written, written_in
from conversation.session import Step
from tests.conversation.chat import Chat
from tests.conversation.test_staff import hand_off


@pytest.mark.parametrize(("text", "written"), [
    ("मेरा ऑर्डर कहाँ है?", Written.HINDI),
    ("where is my order", Written.ENGLISH),
    ("I want to cancel it please", Written.ENGLISH),
    ("mera order kahan hai", Written.HINGLISH),
    ("bhai refund kab aayega", Written.HINGLISH),
    ("order cancel karna hai", Written.HINGLISH),
    ("yes", None), ("100234", None), ("priya@example.com", None), ("ok 👍", None),
    ("main menu", None),
])
def test_what_a_message_is_written_in(text: str, written: Written | None) -> None:
    assert written_in(text) is written


async def test_hindi_then_english_switches_back(chat: Chat) -> None:
    await chat.say("मेरा ऑर्डर कहाँ है?")
    assert "ऑर्डर" in chat.text
    await chat.say("English")  # the bug: this was "not understood", in Hindi
    assert chat.keys[0] == "language.set" and "English" in chat.text
    assert "order number" in chat.text  # the question again, in English


async def test_a_plain_english_sentence_switches_back_by_itself(chat: Chat) -> None:
    await chat.say("नमस्ते")
    assert chat.keys[-1] == "menu.prompt" and "मदद" in chat.text
    await chat.say("where is my order?")
    assert chat.keys == ["order.ask"] and "order number" in chat.text


async def test_hinglish_is_asked_about_once_and_still_understood(chat: Chat) -> None:
    await chat.say("hi")
    await chat.say("mera order kahan hai")
    assert chat.keys == ["language.hinglish", "order.ask"]
    await chat.tap("हिंदी")
    assert chat.keys[0] == "language.set" and "हिंदी" in chat.text
    assert chat.keys[-1] == "order.ask" and "ऑर्डर नंबर" in chat.text

    other = Chat(chat.engine)
    await other.say("hi")
    await other.say("refund kab milega bhai")
    assert other.keys[0] == "language.hinglish"
    await other.say("abhi tak paisa nahi aaya")  # not asked twice
    assert "language.hinglish" not in other.keys


async def test_a_chosen_language_sticks_until_changed(chat: Chat) -> None:
    await chat.say("hi")
    await chat.tap("lang")  # the menu's Language button
    assert chat.keys == ["language.ask"]
    await chat.tap("हिंदी")
    await chat.say("where is my order please")  # English words: Hindi was chosen, it stays
    assert "ऑर्डर" in chat.text
    await chat.say("language")
    await chat.say("1")  # typed number of the first language offered
    assert chat.keys[0] == "language.set" and "English" in chat.text


async def test_the_menu_offers_the_language_button(chat: Chat) -> None:
    await chat.say("menu")
    assert chat.buttons[-1].payload == "lang" and "भाषा" in chat.labels[-1]


async def test_choosing_a_language_during_a_hand_off_does_not_leave_it(chat: Chat) -> None:
    await hand_off(chat)
    await chat.say("हिंदी")
    assert chat.keys == ["language.set"]
    session = await chat.engine.store.load(chat.conversation)
    assert session.step is Step.HANDED_OFF and session.locale == "hi"
