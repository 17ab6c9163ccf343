"""Free text the way shoppers type it: English, Hindi, Hinglish, numbers anywhere."""

from __future__ import annotations

import pytest

from conversation import intents
from conversation.intents import Command
from orders.policy import Action


@pytest.mark.parametrize("text,expected", [
    ("where is my order", Action.TRACK),
    ("Where's my parcel??", Action.TRACK),
    ("mera order kahan hai", Action.TRACK),
    ("मेरा ऑर्डर कहाँ है", Action.TRACK),
    ("I want to cancel", Action.CANCEL),
    ("order radd karo", Action.CANCEL),
    ("ऑर्डर रद्द करना है", Action.CANCEL),
    ("refund kab milega", Action.REFUND),
    ("मुझे रिफंड चाहिए", Action.REFUND),
    ("I'd like to return this", Action.RETURN),
    ("वापसी करनी है", Action.RETURN),
    ("can I exchange it", Action.REPLACE),
    ("change my address", Action.DELIVERY),
    ("let me talk to a real person", Command.AGENT),
    ("good product", None),
    ("", None),
])
def test_intents(text: str, expected: Action | Command | None) -> None:
    assert intents.intent(text) == expected


@pytest.mark.parametrize("text,expected", [
    ("menu", Command.MENU), ("  Menu! ", Command.MENU), ("hi", Command.MENU),
    ("नमस्ते", Command.MENU), ("agent", Command.AGENT), ("HUMAN", Command.AGENT),
    ("एजेंट", Command.AGENT), ("stop", Command.STOP), ("thanks!", Command.THANKS),
    ("stop sending me the wrong size", None), ("menu please show", None),
])
def test_whole_message_commands(text: str, expected: Command | None) -> None:
    assert intents.command(text) == expected


@pytest.mark.parametrize("text,expected", [
    ("100234", "100234"), ("#100234", "100234"), ("order # 100234 please", "100234"),
    ("where is 100234?", "100234"), ("my number is +91 98123 45678", None),
    ("9812345678", None), ("1234", None), ("a@b.co 100234", None), ("१००२३४", "100234"),
])
def test_order_numbers(text: str, expected: str | None) -> None:
    assert intents.order_number(text) == expected


@pytest.mark.parametrize("text,expected", [
    ("1", 1), (" 2. ", 2), ("(3)", 3), ("२", 2), ("12", 12), ("123", None), ("one", None),
])
def test_choice_numbers(text: str, expected: int | None) -> None:
    assert intents.choice_number(text) == expected


def test_second_factors() -> None:
    assert intents.email("it is Priya.Sharma@Example.in.") == "priya.sharma@example.in"
    assert intents.phone_like("call 098123-45678") == "09812345678"
    assert intents.phone_like("100234") is None
    assert intents.yes_or_no("Haan") is True and intents.yes_or_no("nahi") is False
    assert intents.yes_or_no("maybe") is None
