"""What each simulated shopper says, and the reply keys each step must get.

A dialogue is a list of steps; a step is either typed text or a tapped button's
payload, plus the exact reply keys the bot must answer with at that point. The
checker compares every answer with its step, so a lost, duplicated or reordered
reply is caught by what it says, not by counting. The last step of each dialogue
redelivers the step before it (the same message id): the answer must be the first
answer again, flagged as a duplicate, and nothing may change.

Business hours are off in the benchmark (always open), so a hand-off's answer
does not depend on the time of day.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from benchmarks.shop import Shopper

MENU = ("menu.prompt",)
GREETING = ("welcome", "menu.prompt")


class Kind(StrEnum):
    TRACK = "track"
    CANCEL = "cancel"
    RETURN = "return"
    HANDOFF = "handoff"
    BARE = "bare"  # the ceiling's requests, not a conversation
    ORDINARY = "ordinary"  # ordinary turns only (`ordinary_dialogue`)
    PEER = "peer"  # the python-telegram-bot peer's shorter script


@dataclass(frozen=True, slots=True)
class Step:
    expect: tuple[str, ...]
    text: str | None = None
    payload: str | None = None
    redeliver: bool = False  # send the previous step's message again

    @property
    def ordinary(self) -> bool:
        """Answered from the session alone, without reading the shop: the turn
        whose Redis cost the 2-round-trip target is about."""
        return self.expect in (GREETING, MENU, ("order.ask",), ("verify.ask_factor",),
                               ("handoff.ask_issue",))


@dataclass(slots=True)
class Dialogue:
    kind: Kind
    shopper: Shopper
    steps: list[Step]
    position: int = 0
    message_ids: list[str] = field(default_factory=list)
    context: dict[str, str] = field(default_factory=dict)  # what a driver keeps (a token)

    @property
    def done(self) -> bool:
        return self.position >= len(self.steps)


def _text(text: str, *expect: str) -> Step:
    return Step(tuple(expect), text=text)


def _tap(payload: str, *expect: str) -> Step:
    return Step(tuple(expect), payload=payload)


def _again(previous: Step) -> Step:
    return Step(previous.expect, previous.text, previous.payload, redeliver=True)


def dialogue(kind: Kind, who: Shopper) -> Dialogue:
    """The script of one conversation, for a shopper whose identity the channel
    does not prove (web chat without a shop signature): order number, then email
    or phone as the second factor."""
    opening = [_text("hi", *GREETING)]
    match kind:
        case Kind.TRACK:
            steps = [
                *opening,
                _tap("m:track", "order.ask"),
                _text(who.shipped, "verify.ask_factor"),
                _text(who.email, "snapshot.header"),
                _tap("menu", *MENU),
            ]
        case Kind.CANCEL:
            steps = [
                *opening,
                _tap("m:cancel", "order.ask"),
                _text(who.placed, "verify.ask_factor"),
                _text(who.email.upper(), "confirm.cancel"),
                _tap("yes", "done.cancel"),
            ]
        case Kind.RETURN:
            steps = [
                *opening,
                _tap("m:rr", "order.ask"),
                _text(who.delivered, "verify.ask_factor"),
                _text(who.phone, "item.pick"),
                _tap("i:1", "rr.pick"),
                _tap("rr:return", "quantity.pick"),
                _tap("q:1", "reason.pick"),
                _tap("r:DAMAGED", "confirm.return"),
                _tap("yes", "done.return"),
            ]
        case Kind.HANDOFF:
            steps = [
                *opening,
                _text("agent", "handoff.ask_issue"),
                _text(f"My parcel {who.shipped} arrived open", "handoff.opened"),
                _text("hello? anyone there?", "handoff.added"),
            ]
        case Kind.BARE | Kind.ORDINARY | Kind.PEER:
            raise ValueError(f"{kind} has a script of its own")
    steps.append(_again(steps[-1]))
    return Dialogue(kind, who, steps)


def proven_dialogue(kind: Kind, who: Shopper) -> Dialogue:
    """The script when the channel proves the shopper's phone (WhatsApp): no
    questions, the shopper's own orders that fit the task are offered at once."""
    opening = [_text("hi", *GREETING)]
    match kind:
        case Kind.TRACK:
            steps = [
                *opening,
                _tap("m:track", "orders.pick"),
                _tap(f"o:{who.shipped}", "snapshot.header"),
                _tap("menu", *MENU),
            ]
        case Kind.CANCEL:
            steps = [*opening, _tap("m:cancel", "confirm.cancel"), _tap("yes", "done.cancel")]
        case Kind.RETURN:
            steps = [
                *opening,
                _tap("m:rr", "item.pick"),
                _tap("i:1", "rr.pick"),
                _tap("rr:return", "quantity.pick"),
                _tap("q:1", "reason.pick"),
                _tap("r:DAMAGED", "confirm.return"),
                _tap("yes", "done.return"),
            ]
        case Kind.HANDOFF:
            return dialogue(kind, who)  # the same words: no order is needed up front
        case Kind.BARE | Kind.ORDINARY | Kind.PEER:
            raise ValueError(f"{kind} has a script of its own")
    steps.append(_again(steps[-1]))
    return Dialogue(kind, who, steps)


ORDINARY_ROUNDS = 8  # menu and back, per ordinary dialogue


def ordinary_dialogue(who: Shopper, *, proven: bool) -> Dialogue:
    """Only ordinary turns (answered from the session alone, `Step.ordinary`): a
    greeting, then back and forth between the menu and the order-number question.
    Where the channel proves the phone, the task's own orders would be read from
    the shop, so that shopper only asks for the menu again."""
    steps = [_text("hi", *GREETING)]
    for _ in range(ORDINARY_ROUNDS):
        if proven:
            steps += [_text("menu", *MENU), _text("menu", *MENU)]
        else:
            steps += [_tap("m:track", "order.ask"), _tap("menu", *MENU)]
    return Dialogue(Kind.ORDINARY, who, steps)


def peer_dialogue(who: Shopper) -> Dialogue:
    """What python-telegram-bot's peer (`benchmarks.ptb_peer`) does: menu, order
    number, snapshot, back to the menu. No second factor and no redelivery (PTB
    keeps no record of updates it has handled)."""
    return Dialogue(Kind.PEER, who, [
        _text("hi", *GREETING),
        _tap("m:track", "order.ask"),
        _text(who.shipped, "snapshot.header"),
        _tap("menu", *MENU),
    ])


def bare_dialogue(who: Shopper, requests: int) -> Dialogue:
    """For the ceiling: `requests` posts that must each answer 200."""
    return Dialogue(Kind.BARE, who, [Step(("200",))] * requests)


def verdict(step: Step, dialogue: Dialogue, keys: tuple[str, ...] | None, duplicate: bool) -> str:
    """ok | lost | duplicated | out_of_order | wrong, for one answer.

    `keys` is None when no answer came (an error status, a timeout)."""
    if keys is None:
        return "lost"
    if keys == step.expect and duplicate == step.redeliver:
        return "ok"
    if duplicate != step.redeliver:
        return "duplicated"
    others = {s.expect for s in dialogue.steps if s is not step}
    if keys in others:
        return "out_of_order"
    return "wrong"
