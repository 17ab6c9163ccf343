"""Reading free text: commands, simple intents (English, Hindi, Hinglish), order
numbers, emails and phones. Keyword rules, not a model: predictable and testable,
and every miss is answered with the choices on screen."""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum

from orders.policy import Action


class Command(StrEnum):
    MENU = "menu"
    WITHDRAW = "withdraw"  # take a waiting hand-off back ("cancel my request")
    AGENT = "agent"
    STOP = "stop"
    THANKS = "thanks"
    SUBSCRIBE = "subscribe"  # keep me posted about this order
    UNSUBSCRIBE = "unsubscribe"  # stop the shipping updates (works during a hand-off too)


_MENU_WORDS = ("menu", "main menu", "start", "/start", "/menu", "मेनू", "मेन्यू", "back to menu",
               "show menu", "menu please", "menu dikhao", "मेनू दिखाओ")
"""Asking for the menu by name: unlike a greeting, it takes a waiting hand-off back."""

# whole-message commands, so "stop" inside a sentence is not a command
_COMMANDS: dict[str, Command] = {
    **dict.fromkeys(
        (*_MENU_WORDS, "hi", "hii", "hello", "hey", "hola", "namaste", "namaskar", "नमस्ते",
         "नमस्कार", "good morning", "good evening", "good afternoon"),
        Command.MENU,
    ),
    **dict.fromkeys(
        ("cancel my request", "cancel request", "cancel the request", "cancel my ticket",
         "never mind", "nevermind", "back to the bot", "back to bot", "go back", "i'm fine now",
         "no need", "not needed anymore", "request cancel karo", "request cancel kar do",
         "rehne do", "rehne do bhai", "koi baat nahi", "रहने दो", "रिक्वेस्ट कैंसल करो",
         "अनुरोध रद्द करें", "अनुरोध रद्द करो", "बॉट पर वापस"),
        Command.WITHDRAW,
    ),
    **dict.fromkeys(
        (
            "agent", "human", "person", "talk to us", "talk to a person", "support", "help me",
            "/agent", "एजेंट", "इंसान", "व्यक्ति", "किसी से बात", "किसी से बात करनी है",
        ),
        Command.AGENT,
    ),
    **dict.fromkeys(
        ("thanks", "thank you", "thanks a lot", "thx", "ty", "ok thanks", "great thanks",
         "shukriya", "dhanyavad", "धन्यवाद", "शुक्रिया"),
        Command.THANKS,
    ),
    **dict.fromkeys(("stop", "quit", "exit", "bye", "/stop", "रुको", "बंद करो", "बस"), Command.STOP),
    **dict.fromkeys(
        ("stop updates", "stop update", "unsubscribe", "/unsubscribe", "stop notifications",
         "stop notifying me", "no more updates", "updates band karo", "update band karo",
         "अपडेट बंद करो", "अपडेट बंद करें", "अपडेट बंद", "अपडेट रोको", "अनसब्सक्राइब"),
        Command.UNSUBSCRIBE,
    ),
}

# first match wins, so the more specific intents come first
_INTENTS: tuple[tuple[Action | Command, tuple[str, ...]], ...] = (
    (Command.AGENT, ("speak to", "talk to", "real person", "customer care", "agent", "human",
                     "इंसान", "एजेंट", "बात करनी")),
    (Command.SUBSCRIBE, ("keep me posted", "notify me", "keep me updated", "send me updates",
                         "batate rehna", "update dete rehna", "अपडेट देते रहें", "अपडेट देते रहना",
                         "बताते रहना", "बताते रहें")),
    (Action.REFUND, ("refund", "money back", "paisa wapas", "rifand", "रिफंड", "धनवापसी",
                     "पैसे वापस", "पैसा वापस")),
    (Action.REPLACE, ("replace", "replacement", "exchange", "swap", "badal", "बदल", "एक्सचेंज")),
    (Action.RETURN, ("return", "send back", "wapas", "वापस", "वापसी", "लौटा", "रिटर्न")),
    (Action.CANCEL, ("cancel", "cancellation", "radd", "रद्द", "कैंसल", "कैंसिल")),
    (Action.DELIVERY, ("address", "delivery date", "deliver on", "reschedule", "change delivery",
                       "पता", "डिलीवरी बदल", "डिलीवरी की तारीख")),
    (Action.TRACK, ("where is", "where's", "track", "status", "kahan", "kab aayega", "delivery",
                    "कहाँ", "कहां", "ट्रैक", "स्टेटस", "कब आएगा", "कब तक")),
)

_YES = frozenset({"yes", "y", "yeah", "yep", "ok", "okay", "sure", "confirm", "haan", "ha",
                  "हाँ", "हां", "जी", "ठीक है"})
_NO = frozenset({"no", "n", "nope", "nah", "nahi", "nahin", "नहीं", "ना"})

_ORDER_NUMBER = re.compile(r"(?<![\d+])#?\s?(\d{5,8})(?!\d)")
_EMAIL = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")
_PHONE_CHARS = re.compile(r"[\d+][\d\s().-]{7,}\d")


def normalise(text: str) -> str:
    """Case-fold, NFC, collapse spaces and drop trailing punctuation and emoji."""
    text = unicodedata.normalize("NFC", text).casefold().strip()
    text = re.sub(r"\s+", " ", text)
    return text.strip(" .!?।,;:'\"")


def command(text: str) -> Command | None:
    return _COMMANDS.get(normalise(text))


def names_the_menu(text: str) -> bool:
    """"menu" itself (not "hi"): during a hand-off, a wish to go back to the bot."""
    return normalise(text) in _MENU_WORDS


def intent(text: str) -> Action | Command | None:
    folded = normalise(text)
    for target, words in _INTENTS:
        if any(word in folded for word in words):
            return target
    return None


def yes_or_no(text: str) -> bool | None:
    folded = normalise(text)
    if folded in _YES:
        return True
    if folded in _NO:
        return False
    return None


def order_number(text: str) -> str | None:
    """An order number typed anywhere in a message ("where is #100234?").
    Longer digit runs are phones, not orders, and are not taken."""
    if _EMAIL.search(text):
        return None
    without_phones = _PHONE_CHARS.sub(
        lambda m: " " if len(re.sub(r"\D", "", m.group(0))) >= 10 else m.group(0), text
    )
    match = _ORDER_NUMBER.search(without_phones)
    if not match:
        return None
    return "".join(str(unicodedata.digit(ch)) for ch in match.group(1))  # १००२३४ too


def email(text: str) -> str | None:
    match = _EMAIL.search(text.strip())
    return match.group(0).strip(".,;").casefold() if match else None


def phone_like(text: str) -> str | None:
    match = _PHONE_CHARS.search(text)
    if not match:
        return None
    digits = re.sub(r"[^\d+]", "", match.group(0))
    return digits if len(digits.lstrip("+")) >= 8 else None


def choice_number(text: str) -> int | None:
    """"2", "2.", "#2", "(2)" or a Devanagari digit: a tap on the second option."""
    folded = normalise(text).strip("#()[] ")
    if folded.isdecimal() and len(folded) <= 2:
        return int("".join(str(unicodedata.digit(ch)) for ch in folded))
    return None


def looks_like_devanagari(text: str) -> bool:
    return any("\u0900" <= ch <= "\u097f" for ch in text)
