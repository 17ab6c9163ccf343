"""Which language the shopper writes in, message by message, and choosing one.

Devanagari is Hindi; a sentence in plain English is English; Hindi in Latin letters
(Hinglish) is asked about once ("continue in Hindi?"). Numbers, emails, one-word
answers and button taps say nothing, so "yes" or an order number never flips the
conversation. A language the shopper chose ("English", "हिंदी", the menu's
Language button) sticks until they choose again: detection no longer switches it.
"""

from __future__ import annotations

import re
from enum import StrEnum

from .catalogue import T
from .effects import Message, Option
from .intents import looks_like_devanagari, normalise
from .session import Step
from .turn import Turn, reprompt

LANGUAGE_PAYLOAD = "lang"
"""The menu's Language button: offers the languages; `lang:<code>` chooses one."""


class Written(StrEnum):
    HINDI = "hi"
    ENGLISH = "en"
    HINGLISH = "hinglish"


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_WORD = re.compile(r"[a-z']+")
_EMAIL_OR_LINK = re.compile(r"\S+@\S+|\S+://\S+|www\.\S+")

# function words no sentence of Hindi in Latin letters uses
_ENGLISH = _words("""
a an the is are was were am be been my me i i'm it it's its this that these those where when
what why how which who you your yours our we they he she his her them to of for from with
without on in at by about into not no don't doesn't didn't can't cannot won't isn't haven't
hasn't wasn't have has had will would should could can do does did please want need still yet
and or but if so just any some there here order parcel package item items delivery refund
return cancel arrived received got get tell show help yesterday today tomorrow week days
""")

# words that mark Hindi written in Latin letters
_HINGLISH = _words("""
hai hain ho hoga hogi hua hui hue mera meri mere mujhe maine mai mein main humara hamara
kahan kaha kab kya kyu kyun kaise kitna kitne kitni kaun nahi nahin nhi na mat karo kardo
krdo kar karna karni karke kiya kijiye dijiye dena de do diya di chahiye chaiye aur ya ko ka
ki ke se par pe tak abhi bhi bhai bhaiya yaar ji haan han accha acha theek thik ye yeh woh wo
aap aapka aapki apna apni paisa paise wapas wapis raha rahi rahe gaya gayi gaye mila mili
jaldi batao bataye batayein bata samajh aaya aayi aayega aaega aayegi bhej bheja bhejo
""")

# words both languages use: "do", "de", "main" ("main menu"), "me", "ho" and "na" weigh nothing
_AMBIGUOUS = frozenset({"do", "de", "main", "mai", "na", "par", "ho", "ya", "di", "se"})

_CHOICES: dict[str, str] = {
    **dict.fromkeys(("english", "in english", "english please", "english pls", "speak english",
                     "reply in english", "angrezi", "अंग्रेज़ी", "अंग्रेजी", "इंग्लिश"), "en"),
    **dict.fromkeys(("hindi", "in hindi", "hindi please", "hindi pls", "hindi me", "hindi mein",
                     "हिंदी", "हिन्दी", "हिंदी में", "हिन्दी में", "reply in hindi"), "hi"),
    **dict.fromkeys(("language", "change language", "languages", "भाषा", "भाषा बदलें",
                     "bhasha", "/language"), ""),
}


def written_in(text: str) -> Written | None:
    """The language a message is written in, or None when it does not tell."""
    if looks_like_devanagari(text):
        return Written.HINDI
    words = _WORD.findall(_EMAIL_OR_LINK.sub(" ", normalise(text)))
    if len(words) < 2:
        return None
    hinglish = sum(1 for w in words if w in _HINGLISH and w not in _AMBIGUOUS)
    english = sum(1 for w in words if w in _ENGLISH)
    if hinglish >= 2 or (hinglish == 1 and english <= 1):
        return Written.HINGLISH
    if english >= 1 and hinglish == 0:
        return Written.ENGLISH
    return None


def chosen(text: str) -> str | None:
    """A language named as a whole message: its code, "" for "language" (which
    asks), None for any other text."""
    return _CHOICES.get(normalise(text))


def follow(t: Turn, msg: Message) -> None:
    """Switch to the language this message is written in, unless the shopper chose
    one; Hinglish asks once whether to go on in Hindi."""
    s = t.s
    if s.locale_chosen or msg.payload is not None:
        return
    written = written_in(msg.text)
    if written is Written.HINDI and "hi" in t.ctx.languages:
        s.locale = "hi"
    elif written is Written.ENGLISH:
        s.locale = "en"
    elif (written is Written.HINGLISH and s.locale != "hi" and not s.language_asked
          and "hi" in t.ctx.languages):
        s.language_asked = True
        t.say(T("language.hinglish"), options=language_options(t))


def language_options(t: Turn) -> list[Option]:
    """One button per language, each labelled in its own language."""
    return [Option(T(f"language.name.{code}"), f"{LANGUAGE_PAYLOAD}:{code}")
            for code in t.ctx.languages]


def ask(t: Turn) -> None:
    t.say(T("language.ask"), options=language_options(t))


def choose(t: Turn, code: str) -> None:
    """The shopper chose a language: it sticks; the current question is asked again in it."""
    s = t.s
    if code not in t.ctx.languages:
        ask(t)
        return
    s.locale = code
    s.locale_chosen = True
    s.language_asked = True
    t.say(T("language.set"))
    if s.step is not Step.HANDED_OFF:  # with a person, only the bot's own words change
        reprompt(t)
