"""The dialogue as a pure function: (session, event) -> (session, says, effect).
No Redis, no shop: effects are asserted, results are fed in by hand."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from conversation import machine
from conversation.effects import (
    ActionRequest,
    CarryOut,
    FindOrders,
    LoadOrder,
    Message,
    NotVerified,
    OpenTicket,
    ShopUnavailable,
    TicketKind,
    TicketOpened,
    Verify,
)
from conversation.session import Session, Step
from conversation.turn import Context
from orders.policy import Action, Policy

NOW = datetime(2026, 11, 17, 5, 30, tzinfo=UTC)
CTX = Context(now=NOW, policy=Policy(), supports=frozenset(Action))


def run(session: Session, event):  # type: ignore[no-untyped-def]
    t = machine.step(session, event, CTX)
    return t.session, [s.key for s in t.says], t.effect


@pytest.mark.parametrize("session,message,keys,effect", [
    (Session(), Message("hi"), ["menu.prompt"], None),
    (Session(offered=["m:track"]), Message(payload="m:track"), ["order.ask"], None),
    (Session(phone="+919812345678", offered=["m:cancel"]), Message(payload="m:cancel"), [],
     FindOrders("+919812345678", None)),
    (Session(step=Step.ASK_ORDER, action=Action.TRACK), Message("100234"),
     ["verify.ask_factor"], None),
    (Session(step=Step.ASK_FACTOR, action=Action.TRACK, candidate="100234"),
     Message("a@b.co"), [], Verify("100234", "a@b.co")),
    (Session(step=Step.ASK_ORDER, action=Action.TRACK, verified=["100234"]), Message("100234"),
     [], LoadOrder("100234")),
    (Session(step=Step.CONFIRM, action=Action.CANCEL, order="100234", offered=["yes", "no"]),
     Message("yes"), [], None),
    (Session(step=Step.ASK_ISSUE, order="100234", verified=["100234"]),
     Message("the box was empty"), [],
     OpenTicket(TicketKind.HANDOFF, "100234", True, issue="the box was empty")),
])
def test_transitions(
    session: Session, message: Message, keys: list[str], effect: object
) -> None:
    _, said, did = run(session, message)
    assert said == keys
    if session.step is Step.CONFIRM:
        assert isinstance(did, CarryOut) and did.request.idempotency_key == "cancel:100234:::::"
    else:
        assert did == effect


def test_step_does_not_change_the_session_it_was_given() -> None:
    before = Session(offered=["m:track"])
    run(before, Message(payload="m:track"))
    assert before.step is Step.MENU and before.action is None


def test_three_wrong_factors_lock_the_conversation() -> None:
    session = Session(step=Step.ASK_FACTOR, candidate="100234")
    for left in (2, 1):
        session, keys, _ = run(session, NotVerified())
        assert keys == ["verify.no_match"] and session.factor_failures == 3 - left
    session, keys, _ = run(session, NotVerified())
    assert keys == ["verify.too_many"] and session.locked_until and session.locked_until > NOW
    session, keys, effect = run(session, Message("100234"))
    assert keys == ["verify.locked"] and effect is None


def test_hand_off_pauses_and_only_acknowledges_once() -> None:
    session, keys, _ = run(Session(step=Step.ASK_ISSUE), TicketOpened("T-1001", TicketKind.HANDOFF))
    assert session.step is Step.HANDED_OFF and session.ticket == "T-1001"
    session, keys, _ = run(session, Message("hello?"))
    assert keys == ["handoff.added"]
    session, keys, _ = run(session, Message("agent"))
    assert keys == []


def test_shop_down_is_said_plainly_with_a_person_offered() -> None:
    _, keys, _ = run(Session(step=Step.SNAPSHOT, order="100234"), ShopUnavailable())
    assert keys == ["shop.unavailable"]


def test_a_change_the_shop_did_not_confirm_is_not_called_undone() -> None:
    """After the change was sent, the shop may have done it without answering."""
    request = ActionRequest(action=Action.CANCEL, number="100234")
    _, keys, _ = run(Session(step=Step.CONFIRM, order="100234"), ShopUnavailable(request))
    assert keys == ["shop.unconfirmed"]
