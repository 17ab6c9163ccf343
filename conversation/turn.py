"""What every step of the dialogue shares: the context of a turn, the turn being
built, the common buttons, and asking again when the shopper was not understood."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from orders.models import (
    Order,
    Variant,
)
from orders.policy import Action, Policy

from .audit import Note
from .catalogue import T, Text
from .effects import (
    Effect,
    FindOrders,
    Link,
    LoadOrder,
    Option,
    Say,
    Transition,
)
from .hours import BusinessHours
from .session import Session, Step

MISSES_BEFORE_OFFERING_A_PERSON = 2


MENU_ACTIONS = ("track", "cancel", "rr", "refund", "delivery")


ACTIONS_BY_PAYLOAD = {
    "track": Action.TRACK,
    "cancel": Action.CANCEL,
    "rr": Action.RETURN,
    "return": Action.RETURN,
    "replace": Action.REPLACE,
    "refund": Action.REFUND,
    "delivery": Action.DELIVERY,
}



@dataclass(frozen=True, slots=True)
class Context:
    now: datetime
    policy: Policy
    supports: frozenset[Action]
    hours: BusinessHours = field(default_factory=lambda: BusinessHours({}, ZoneInfo("UTC")))
    languages: tuple[str, ...] = ("en",)
    return_policy_url: str | None = None
    support_url: str | None = None
    classifier: bool = False  # a fallback classifier (NLU_URL) reads what the rules did not


STOP_UPDATES = "stop"
"""The payload of "Stop updates" (a notification's button, or the snapshot's when the
conversation is kept posted): honoured at any step, however old."""


class Turn:
    """Collects what one step says and asks for."""

    def __init__(self, session: Session, ctx: Context) -> None:
        self.s = session
        self.ctx = ctx
        self.says: list[Say] = []
        self.effect: Effect | None = None
        self.notes: list[Note] = []  # what happened to an order, for its audit log
        self.variants: tuple[Variant, ...] | None = None  # read for an exchange, this turn

    def say(
        self,
        *lines: Text,
        options: tuple[Option, ...] | list[Option] = (),
        links: tuple[Link, ...] | list[Link] = (),
    ) -> None:
        self.says.append(Say(tuple(lines), tuple(options), tuple(links)))

    def note(self, note: Note) -> None:
        self.notes.append(note)

    def result(self) -> Transition:
        return Transition(self.s, self.says, self.effect, notes=self.notes)


def menu_options() -> list[Option]:
    return [*(Option(T(f"menu.{name}"), f"m:{name}") for name in MENU_ACTIONS), agent_option(),
            Option(T("menu.language"), "lang")]


def agent_option() -> Option:
    return Option(T("menu.agent"), "agent")


def menu_option() -> Option:
    return Option(T("button.menu"), "menu")


def show_menu(t: Turn, *, reset: bool = True) -> None:
    if reset:
        t.s.reset_task()
    t.say(T("menu.prompt"), options=menu_options())


def action_name(action: Action | None, either: bool = False) -> Text:
    if either:
        return T("action.return_or_replace")
    return T(f"action.{action.value}" if action else "action.track")


def ask_order(t: Turn) -> None:
    s = t.s
    s.step = Step.ASK_ORDER
    recent = [Option(T("order.button", number=n), f"o:{n}") for n in reversed(s.verified[-3:])]
    t.say(T("order.ask", action=action_name(s.action, s.either_return_or_replace)),
          options=[*recent, menu_option()])


def ask_factor(t: Turn, number: str) -> None:
    t.s.step = Step.ASK_FACTOR
    t.s.candidate = number
    t.say(T("verify.ask_factor", number=number), options=[menu_option()])


def after_task(t: Turn) -> None:
    """The task is over (done, declined or refused); the order stays in context."""
    order = t.s.order
    refusal = t.s.refusal
    t.s.reset_task()
    t.s.order = order
    t.s.refusal = refusal
    t.s.step = Step.SNAPSHOT if order else Step.MENU


def after_options(s: Session) -> list[Option]:
    options = [Option(T("button.this_order"), f"o:{s.order}")] if s.order else []
    return [*options, menu_option()]


def money(t: Turn, order: Order, amount: Decimal) -> str:
    return t.ctx.policy.money(amount, order.currency)


def miss(t: Turn, why: Text) -> None:
    t.s.misses += 1
    t.say(why)
    reprompt(t)
    if t.s.misses >= MISSES_BEFORE_OFFERING_A_PERSON:
        offer_person(t)


def offer_person(t: Turn) -> None:
    """"Would you rather talk to a person?", with only the buttons not on screen yet
    (the menu has "Talk to us" already: never the same button twice)."""
    shown = {o.payload for say in t.says for o in say.options}
    if "agent" in shown:
        t.say(T("offer.person_above"))
        return
    t.say(T("offer.person"),
          options=[o for o in (agent_option(), menu_option()) if o.payload not in shown])


def reprompt(t: Turn) -> None:
    """Ask the current question again, from what the session holds."""
    s = t.s
    match s.step:
        case Step.MENU | Step.HANDED_OFF | Step.RATE:
            show_menu(t, reset=False)
        case Step.ASK_ORDER:
            ask_order(t)
        case Step.ASK_FACTOR:
            ask_factor(t, s.candidate or "")
        case Step.ASK_ISSUE:
            t.say(T("handoff.ask_issue"), options=[menu_option()])
        case Step.PICK_ORDER:
            t.effect = FindOrders(s.phone, s.email)
        case _ if s.order:
            t.effect = LoadOrder(s.order)
        case _:
            show_menu(t)


RATING_SCALE = range(1, 6)

SKIP_RATING = "rate:skip"


def rating_question(ticket_id: str) -> list[Say]:
    """What the shopper reads when staff resolve a hand-off: resolved, and one
    question with six buttons, 1 to 5 and "Skip" (which shows the menu); any other
    answer is taken as at the menu, so the shopper simply carries on."""
    return [
        Say((T("handoff.resolved", ticket=ticket_id), T("rate.ask")),
            (*(Option(T("rate.button", score=n), f"rate:{n}") for n in RATING_SCALE),
             Option(T("rate.skip"), SKIP_RATING))),
    ]


def support_links(t: Turn) -> list[Link]:
    """The shop's own help pages, where the merchant has one."""
    return [Link(T("link.support"), t.ctx.support_url)] if t.ctx.support_url else []
