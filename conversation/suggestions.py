"""A reading the intent model alone made, and is not sure of (`Understood.tentative`),
is offered, not acted on: "Did you mean…?" with that choice's button and the menu's.

Why: the model reads phrasing no rule knows ("parcel kab tak aayega bhai"), but it
also gives some intent to a greeting, stray HTML or an off-topic line. Acting on
such a guess would start a cancel or a hand-off nobody asked for; one tap on the
offered button costs the shopper little when the guess was right."""

from __future__ import annotations

from .catalogue import T
from .cues import Intent
from .effects import Option
from .turn import MISSES_BEFORE_OFFERING_A_PERSON, Turn, agent_option, menu_option, offer_person

_MENU_ENTRY = {
    Intent.TRACK: "track",
    Intent.LATE: "track",
    Intent.SUBSCRIBE: "track",
    Intent.CANCEL: "cancel",
    Intent.RETURN: "rr",
    Intent.REPLACE: "rr",
    Intent.REFUND: "refund",
    Intent.DELIVERY: "delivery",
}


def suggest(t: Turn, intent: Intent) -> None:
    """Counts as a miss (so a shopper who is not understood twice is offered a person)."""
    t.s.misses += 1
    entry = _MENU_ENTRY.get(intent)
    guess = Option(T(f"menu.{entry}"), f"m:{entry}") if entry else agent_option()
    t.say(T("not_sure"), options=[guess, menu_option()])
    if t.s.misses >= MISSES_BEFORE_OFFERING_A_PERSON:
        offer_person(t)
