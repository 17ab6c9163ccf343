"""The Telegram adapter on captured update shapes: verification, what each update
becomes, and how replies are rendered (escaping, keyboards, splitting)."""

from __future__ import annotations

import json

import pytest
from telegram import InlineKeyboardMarkup, ReplyKeyboardMarkup, ReplyKeyboardRemove

from channels import telegram
from channels.split import split_text, utf16_len
from channels.telegram_render import (
    MAX_CALLBACK_DATA,
    MAX_MESSAGE_CHARS,
    SharePhone,
    callback_answer,
    pack_callback_data,
    render,
)
from conversation.types import Button, Channel, Identity, LinkButton, Reply
from tests.channel_payloads import SHOPPER_ID, telegram_update


def interpret(name: str, **changes: object) -> telegram.Event:
    body = json.dumps(telegram_update(name, **changes)).encode()  # type: ignore[arg-type]
    return telegram.interpret(telegram.parse(body))


def test_the_secret_token_is_compared_exactly() -> None:
    assert telegram.verify("s3cret-token", "s3cret-token")
    assert not telegram.verify("s3cret-tokeN", "s3cret-token")
    assert not telegram.verify(None, "s3cret-token")
    assert not telegram.verify("", "s3cret-token")
    assert not telegram.verify("s3cret-tökén", "s3cret-token")  # non-ASCII: just wrong


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"message": {}}', b'{"update_id": "1"}'])
def test_bodies_that_are_not_updates_are_refused(body: bytes) -> None:
    with pytest.raises(telegram.MalformedUpdate):
        telegram.parse(body)


def test_a_private_text_is_a_turn() -> None:
    event = interpret("text", update_id=42, text="where is my order 🙏")
    assert isinstance(event, telegram.Turn)
    inbound = event.inbound
    assert inbound.channel is Channel.TELEGRAM
    assert inbound.conversation == f"telegram:{SHOPPER_ID}"
    assert inbound.message_id == "42"
    assert inbound.text == "where is my order 🙏"
    assert inbound.locale == "en"
    assert inbound.identity is None
    assert event.callback_query_id is None


def test_a_deep_link_passes_its_parameter_as_text() -> None:
    event = interpret("start_deep_link")
    assert isinstance(event, telegram.Turn)
    assert event.inbound.text == "100003"
    bare = interpret("text", text="/start")
    assert isinstance(bare, telegram.Turn) and bare.inbound.text == "/start"


def test_a_button_tap_carries_the_payload_and_the_query_id() -> None:
    event = interpret("callback_query", data="o:100234")
    assert isinstance(event, telegram.Turn)
    assert event.inbound.payload == "o:100234"
    assert event.inbound.text == ""
    assert event.callback_query_id


def test_a_tap_on_an_old_inaccessible_message_still_reaches_the_dialogue() -> None:
    event = interpret("callback_query_old_message")
    assert isinstance(event, telegram.Turn)
    assert event.inbound.payload == "i:L2"
    assert event.inbound.conversation == f"telegram:{SHOPPER_ID}"


def test_only_the_senders_own_contact_proves_the_phone() -> None:
    own = interpret("contact_own")
    assert isinstance(own, telegram.Turn)
    assert own.inbound.identity == Identity(phone="+919812345678")
    assert own.inbound.text == "" and not own.inbound.has_media
    other = interpret("contact_other")
    assert isinstance(other, telegram.Turn)
    assert other.inbound.identity is None
    assert other.inbound.has_media


def test_media_and_location_are_flagged_without_text() -> None:
    photo = interpret("photo")
    assert isinstance(photo, telegram.Turn)
    assert photo.inbound.has_media and photo.inbound.text == ""
    location = interpret("location")
    assert isinstance(location, telegram.Turn)
    assert location.inbound.has_location and location.inbound.text == ""


def test_edits_reactions_and_group_service_messages_are_ignored() -> None:
    assert isinstance(interpret("edited_message"), telegram.Ignored)
    assert isinstance(interpret("message_reaction"), telegram.Ignored)


def test_a_group_gets_a_private_only_notice() -> None:
    event = interpret("group_command")
    assert event == telegram.GroupChat("telegram:-1001234567890", "en")


def test_blocking_and_unblocking_change_reachability() -> None:
    assert interpret("my_chat_member_kicked") == telegram.Reachability(
        f"telegram:{SHOPPER_ID}", reachable=False)
    assert interpret("my_chat_member_member") == telegram.Reachability(
        f"telegram:{SHOPPER_ID}", reachable=True)


# --- rendering --------------------------------------------------------------------


def test_data_is_html_escaped_and_buttons_become_an_inline_keyboard() -> None:
    reply = Reply(
        "snapshot.header",
        "Order #100234: Tom & Jerry <mugs> × 2",
        buttons=(Button("Cancel", "a:cancel:100234"), Button("Menu", "menu")),
        links=(LinkButton("Track package", "https://track.example/x?a=1&b=2"),),
    )
    [message] = render([reply])
    assert message.text == "Order #100234: Tom &amp; Jerry &lt;mugs&gt; × 2"
    assert message.plain == reply.text
    assert isinstance(message.markup, InlineKeyboardMarkup)
    rows = message.markup.inline_keyboard
    assert [(b.text, b.callback_data) for [b] in rows[:2]] == [
        ("Cancel", "a:cancel:100234"), ("Menu", "menu")]
    assert rows[2][0].url == "https://track.example/x?a=1&b=2"


def test_callback_data_over_64_bytes_is_not_packed() -> None:
    assert MAX_CALLBACK_DATA == 64
    assert pack_callback_data("o:100234") == "o:100234"
    assert pack_callback_data("x" * 64) == "x" * 64
    assert pack_callback_data("x" * 65) is None
    [message] = render([Reply("k", "t", buttons=(Button("ok", "menu"), Button("bad", "y" * 70)))])
    assert isinstance(message.markup, InlineKeyboardMarkup)
    assert [row[0].callback_data for row in message.markup.inline_keyboard] == ["menu"]


def test_long_texts_are_split_at_4096_with_the_keyboard_on_the_last_piece() -> None:
    line = "Ceramic <dinner> set & bowls 🍽️\n"
    text = line * 400  # ~12,800 UTF-16 units
    messages = render([Reply("k", text, buttons=(Button("Menu", "menu"),))])
    assert len(messages) >= 3
    assert all(utf16_len(m.plain) <= MAX_MESSAGE_CHARS for m in messages)
    assert "".join(m.plain + "\n" for m in messages).count("🍽️") == 400
    assert [m.markup is not None for m in messages] == [False] * (len(messages) - 1) + [True]
    assert "&lt;dinner&gt;" in messages[0].text


def test_split_prefers_line_breaks_and_counts_emoji_as_two() -> None:
    assert split_text("ab\ncd", 3) == ["ab", "cd"]
    assert split_text("😀😀😀", 4) == ["😀😀", "😀"]
    assert split_text("abcdef", 4) == ["abcd", "ef"]
    assert split_text("", 10) == [""]


def test_asking_for_an_order_offers_the_contact_button_and_a_later_message_removes_it() -> None:
    share = SharePhone("Or share your phone number.", "📱 Share my phone number")
    ask = Reply("order.ask", "Which order?", buttons=(Button("Menu", "menu"),))
    first = render([ask], share_phone=share)
    assert len(first) == 2
    keyboard = first[1].markup
    assert isinstance(keyboard, ReplyKeyboardMarkup) and first[1].offers_contact
    assert keyboard.keyboard[0][0].request_contact
    assert keyboard.keyboard[0][0].text == "📱 Share my phone number"
    later = render([Reply("identity.thanks", "Thanks"), Reply("menu.prompt", "Menu?",
                                                              buttons=(Button("M", "menu"),))],
                   remove_keyboard=True)
    assert isinstance(later[0].markup, ReplyKeyboardRemove) and later[0].removes_keyboard
    assert isinstance(later[1].markup, InlineKeyboardMarkup)
    no_share = render([ask])  # groups: no offer
    assert len(no_share) == 1


def test_a_stale_tap_gets_a_short_notice() -> None:
    stale = Reply("button.stale", "That button belongs to an earlier message.")
    assert callback_answer([stale, Reply("menu.prompt", "x")]) == stale.text
    assert callback_answer([Reply("menu.prompt", "x")]) is None
