"""The WhatsApp adapter on captured Twilio forms: real signatures, parsing,
numbered rendering, splitting, TwiML and Content templates."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest
from starlette.datastructures import ImmutableMultiDict

from channels import whatsapp
from channels.split import utf16_len
from channels.whatsapp_content import ContentTemplates, out_of_window, plan
from conversation.types import Button, Channel, Identity, LinkButton, Reply
from tests.channel_payloads import twilio_form, twilio_signature

TOKEN = "twilio-auth-token-for-tests"
URL = "https://bot.example.com/webhooks/whatsapp"
NOW = datetime(2026, 11, 17, 5, 30, tzinfo=UTC)
HX = "HX" + "ab" * 16


def form_of(data: dict[str, str]) -> ImmutableMultiDict[str, str]:
    return ImmutableMultiDict(list(data.items()))


def test_real_signatures_verify_and_anything_else_does_not() -> None:
    data = twilio_form("text", Body="नमस्ते 🙏")
    signature = twilio_signature(URL, data, TOKEN)
    assert whatsapp.verify(URL, form_of(data), signature, TOKEN)
    assert not whatsapp.verify(URL, form_of(data), None, TOKEN)
    assert not whatsapp.verify(URL, form_of(data), signature, "another-token")
    assert not whatsapp.verify(URL.replace("https", "http"), form_of(data), signature, TOKEN)
    assert not whatsapp.verify(URL + "?x=1", form_of(data), signature, TOKEN)
    assert not whatsapp.verify(URL, form_of({**data, "Body": "hi"}), signature, TOKEN)


def test_a_text_message_is_a_proven_inbound() -> None:
    data = twilio_form("text", Body="where is my order")
    inbound = whatsapp.parse(form_of(data), NOW)
    assert inbound.channel is Channel.WHATSAPP
    assert inbound.conversation == "whatsapp:+919812345678"
    assert inbound.message_id == data["MessageSid"]
    assert inbound.identity == Identity(phone="+919812345678")
    assert inbound.text == "where is my order"
    assert inbound.payload is None and not inbound.has_media


def test_quick_reply_and_list_taps_are_payloads() -> None:
    button = whatsapp.parse(form_of(twilio_form("button_reply")), NOW)
    assert button.payload == "m:track" and button.text == "Track order"
    listed = whatsapp.parse(form_of(twilio_form("list_reply")), NOW)
    assert listed.payload == "m:refund"


def test_media_and_location_are_flagged() -> None:
    image = whatsapp.parse(form_of(twilio_form("image")), NOW)
    assert image.has_media and image.text == ""
    location = whatsapp.parse(form_of(twilio_form("location")), NOW)
    assert location.has_location and location.text == ""


@pytest.mark.parametrize("change", [{"From": "+919812345678"}, {"From": "whatsapp:123"},
                                    {"MessageSid": ""}, {"MessageSid": "SM<script>"}])
def test_forms_without_a_sender_or_sid_are_malformed(change: dict[str, str]) -> None:
    with pytest.raises(whatsapp.MalformedRequest):
        whatsapp.parse(form_of(twilio_form("text", **change)), NOW)


def test_status_callbacks_parse() -> None:
    status = whatsapp.parse_status(form_of(twilio_form("status_failed")))
    assert status.status == "undelivered"
    assert status.error_code == "63016"
    assert status.conversation == "whatsapp:+919812345678"


def test_options_are_numbered_across_the_replies_of_one_answer() -> None:
    replies = [
        Reply("not_understood", "Sorry, I didn't understand that."),
        Reply("menu.prompt", "What can I help you with?",
              buttons=(Button("Track order", "m:track"), Button("Cancel", "m:cancel"))),
        Reply("offer.person", "Would you rather talk to a person?",
              buttons=(Button("Talk to us", "agent"), Button("Menu", "menu")),
              links=(LinkButton("Help centre", "https://shop.example/help"),)),
    ]
    bodies = whatsapp.numbered(replies)
    assert bodies == [
        "Sorry, I didn't understand that.",
        "What can I help you with?\n1. Track order\n2. Cancel",
        "Would you rather talk to a person?\n3. Talk to us\n4. Menu\n"
        "Help centre: https://shop.example/help",
    ]


def test_long_bodies_are_split_at_1600() -> None:
    text = "\n".join(f"• Item {i}: Kurta set with dupatta 🌸 × 1" for i in range(120))
    bodies = whatsapp.numbered([Reply("snapshot.header", text, buttons=(Button("Menu", "menu"),))])
    assert len(bodies) >= 3
    assert all(utf16_len(body) <= whatsapp.MAX_BODY_CHARS for body in bodies)
    assert bodies[-1].endswith("1. Menu")
    assert sum(body.count("🌸") for body in bodies) == 120


def test_twiml_holds_one_message_per_body_and_escapes_it() -> None:
    xml = whatsapp.twiml(["Tom & Jerry <mugs>", "2. Menu"])
    root = ET.fromstring(xml)
    assert [m.text for m in root.iter("Message")] == ["Tom & Jerry <mugs>", "2. Menu"]
    assert ET.fromstring(whatsapp.twiml([])).tag == "Response"


def test_content_templates_are_used_only_where_they_fit() -> None:
    templates = ContentTemplates(quick_reply={2: HX}, list_picker={6: HX.replace("ab", "cd")},
                                 call_to_action=HX.replace("ab", "ef"))
    replies = [
        Reply("confirm.cancel", "Cancel order #100001?",
              buttons=(Button("Yes, go ahead", "yes"), Button("No", "no"))),
        Reply("menu.prompt", "What can I help you with?",
              buttons=tuple(Button(f"Choice number {i} is too long", f"m:{i}") for i in range(6))),
        Reply("snapshot.header", "Order #100003", links=(LinkButton("Track package",
                                                                    "https://t.example/1"),)),
        Reply("orders.pick", "Which order?", buttons=(Button("#1", "o:1"),)),
    ]
    messages = plan(replies, templates, "Choose")
    quick, listed, cta, text = messages
    assert quick.content_sid == HX
    assert quick.variables == {"1": "Cancel order #100001?", "2": "Yes, go ahead", "3": "yes",
                               "4": "No", "5": "no"}
    assert listed.variables["2"] == "Choose"
    assert listed.variables["3"] == "Choice number 0 is too …"
    assert listed.variables["4"] == "m:0"
    assert cta.variables == {"1": "Order #100003", "2": "Track package", "3": "https://t.example/1"}
    # no template for one choice: numbered text, counting the 8 choices before it
    assert text.body == "Which order?\n9. #1" and text.content_sid is None


def test_out_of_window_template_flattens_the_text() -> None:
    templates = ContentTemplates(out_of_window=HX)
    message = out_of_window([Reply("staff.reply", "Your refund\nwas   approved.")], templates)
    assert message is not None
    assert message.variables == {"1": "Your refund was approved."}
    assert out_of_window([Reply("k", "x")], ContentTemplates()) is None
    assert json.loads(json.dumps(message.variables))  # what content_variables carries
