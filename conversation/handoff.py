"""Handing the conversation to a person: the issue in the shopper's words, a
ticket that carries everything, and an honest word on when someone will answer.

While the ticket waits, no message meets silence: a short acknowledgement (at most
one per `ACK_INTERVAL`) says when a person is expected, with a "Back to the bot"
button. Until a person has replied, the shopper can take the hand-off back ("menu",
"cancel my request", that button, or "stop"); the ticket then closes as withdrawn.
"""

from __future__ import annotations

from datetime import timedelta

from . import intents
from .catalogue import T, Text
from .effects import (
    Message,
    OpenTicket,
    Option,
    TicketKind,
    TicketOpened,
    TicketWithdrawn,
    Unsubscribe,
    WithdrawTicket,
)
from .session import Step
from .turn import (
    STOP_UPDATES,
    Turn,
    action_name,
    after_options,
    after_task,
    menu_option,
    miss,
    show_menu,
    support_links,
)

MIN_ISSUE_LENGTH = 3


MAX_ISSUE_LENGTH = 2000


ACK_INTERVAL = timedelta(minutes=5)
"""While a hand-off waits, "your message was added" at most this often."""

BACK_TO_BOT = "back"
"""The payload of "Back to the bot": takes a hand-off back until a person replied."""


def start_handoff(t: Turn) -> None:
    s = t.s
    order, refusal = s.order, s.refusal
    s.reset_task()
    s.order, s.refusal = order, refusal
    s.step = Step.ASK_ISSUE
    if order:
        t.say(T("handoff.ask_issue_for_order", number=order), options=[menu_option()])
    else:
        t.say(T("handoff.ask_issue"), options=[menu_option()])


def on_issue(t: Turn, text: str) -> None:
    s = t.s
    issue = text.strip()
    if len(issue) < MIN_ISSUE_LENGTH:
        miss(t, T("handoff.issue_too_short"))
        return
    order = s.order or intents.order_number(issue)
    if not s.order and order and intents.normalise(issue).lstrip("#") == order:
        s.order = order  # only the order number: keep it and ask for the issue itself
        t.say(T("handoff.ask_issue_for_order", number=order), options=[menu_option()])
        return
    t.effect = OpenTicket(
        TicketKind.HANDOFF,
        order,
        order_verified=bool(order and order in s.verified),
        issue=issue[:MAX_ISSUE_LENGTH],
        refusal=s.refusal,
    )


def back_option() -> Option:
    return Option(T("button.back_to_bot"), BACK_TO_BOT)


def _when(t: Turn) -> Text:
    """When a person is expected, against business hours."""
    opening = t.ctx.hours.next_opening(t.ctx.now)
    return T("handoff.when_open") if opening is None else T("handoff.when_closed", at=opening,
                                                            time=opening.strftime("%H:%M"))


def on_ticket_opened(t: Turn, event: TicketOpened) -> None:
    s = t.s
    when = _when(t)
    if event.kind is TicketKind.HANDOFF:
        s.reset_task()
        s.step = Step.HANDED_OFF
        s.ticket = event.ticket_id
        s.ticket_acked_at = None
        s.ticket_answered = False
        s.refusal = None
        t.say(T("handoff.opened", ticket=event.ticket_id), when, T("handoff.can_withdraw"),
              options=[back_option()], links=support_links(t))
    else:
        after_task(t)
        t.say(T("request.opened", ticket=event.ticket_id,
                action=action_name(event.request.action if event.request else None)), when,
              options=after_options(s))


def on_handed_off(t: Turn, msg: Message) -> None:
    """A message while a person has (or will have) the conversation: the runner has
    filed it on the ticket already; here the shopper may take the hand-off back."""
    payload = msg.payload or _typed_choice(t, msg.text)
    command = intents.command(msg.text) if payload is None else None
    if payload == STOP_UPDATES or command is intents.Command.UNSUBSCRIBE:
        t.effect = Unsubscribe()  # stopping updates never waits for a person
    elif command is intents.Command.STOP:
        _on_stop(t)
    elif payload in ("menu", BACK_TO_BOT) or command is intents.Command.WITHDRAW or (
            payload is None and intents.names_the_menu(msg.text)):
        _on_back(t)
    else:
        _acknowledge(t)


def _on_stop(t: Turn) -> None:
    s = t.s
    if s.ticket and not s.ticket_answered:
        t.effect = WithdrawTicket(s.ticket, bye=True)
    else:
        t.effect = Unsubscribe()  # the person who answered stays on; updates end


def _on_back(t: Turn) -> None:
    s = t.s
    if s.ticket and not s.ticket_answered:
        t.effect = WithdrawTicket(s.ticket)
    else:
        s.ticket_acked_at = t.ctx.now
        t.say(T("handoff.with_person", ticket=s.ticket or ""))


def _typed_choice(t: Turn, text: str) -> str | None:
    n = intents.choice_number(text)
    offered = t.s.offered
    return offered[n - 1] if n is not None and 1 <= n <= len(offered) else None


def _acknowledge(t: Turn) -> None:
    """"Added to your request", at most once per `ACK_INTERVAL`: never silence,
    never a flood."""
    s = t.s
    if s.ticket_acked_at is not None and t.ctx.now - s.ticket_acked_at < ACK_INTERVAL:
        return
    s.ticket_acked_at = t.ctx.now
    if s.ticket_answered:  # the person who answered sees it there
        t.say(T("handoff.added", ticket=s.ticket or ""))
    else:
        t.say(T("handoff.added", ticket=s.ticket or ""), _when(t), options=[back_option()])


def on_withdrawn(t: Turn, event: TicketWithdrawn) -> None:
    s = t.s
    s.reset_task()
    s.ticket, s.ticket_answered, s.ticket_acked_at = None, False, None
    line = (T("handoff.withdrawn", ticket=event.ticket_id) if event.closed
            else T("handoff.already_closed", ticket=event.ticket_id))
    if event.bye:
        t.say(line)
        t.effect = Unsubscribe(bye=True)
    else:
        t.say(line)
        show_menu(t)
