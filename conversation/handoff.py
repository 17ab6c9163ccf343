"""Handing the conversation to a person: the issue in the shopper's words, a
ticket that carries everything, and an honest word on when someone will answer."""

from __future__ import annotations

from . import intents
from .catalogue import T
from .effects import (
    OpenTicket,
    TicketKind,
    TicketOpened,
)
from .session import Step
from .turn import Turn, action_name, after_options, after_task, menu_option, miss, support_links

MIN_ISSUE_LENGTH = 3


MAX_ISSUE_LENGTH = 2000


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


def on_ticket_opened(t: Turn, event: TicketOpened) -> None:
    s = t.s
    opening = t.ctx.hours.next_opening(t.ctx.now)
    when = T("handoff.when_open") if opening is None else T("handoff.when_closed", at=opening,
                                                             time=opening.strftime("%H:%M"))
    if event.kind is TicketKind.HANDOFF:
        s.reset_task()
        s.step = Step.HANDED_OFF
        s.ticket = event.ticket_id
        s.ticket_acknowledged = False
        s.refusal = None
        t.say(T("handoff.opened", ticket=event.ticket_id), when, links=support_links(t))
    else:
        after_task(t)
        t.say(T("request.opened", ticket=event.ticket_id,
                action=action_name(event.request.action if event.request else None)), when,
              options=after_options(s))
