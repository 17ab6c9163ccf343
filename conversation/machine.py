"""The dialogue: `step(session, event, context) -> Transition`, pure and synchronous.

```mermaid
stateDiagram-v2
    [*] --> MENU
    MENU --> ASK_ORDER: action, identity unknown
    MENU --> PICK_ORDER: action, identity proven (FindOrders)
    ASK_ORDER --> ASK_FACTOR: order number
    ASK_FACTOR --> ASK_FACTOR: no match (limited)
    ASK_FACTOR --> SNAPSHOT: Verified, track
    PICK_ORDER --> SNAPSHOT: LoadOrder, track
    SNAPSHOT --> CONFIRM: cancel
    SNAPSHOT --> PICK_ITEM: return / replace
    PICK_ITEM --> PICK_RETURN_OR_REPLACE
    PICK_ITEM --> PICK_QUANTITY
    PICK_QUANTITY --> PICK_REASON
    PICK_REASON --> CONFIRM
    PICK_REASON --> ASK_PHOTO: damaged, defective or wrong, for staff (photos.py)
    ASK_PHOTO --> CONFIRM: a photo, or Skip
    SNAPSHOT --> PICK_DELIVERY_CHANGE: delivery
    PICK_DELIVERY_CHANGE --> ASK_ADDRESS
    PICK_DELIVERY_CHANGE --> PICK_DATE
    ASK_ADDRESS --> CONFIRM
    PICK_DATE --> CONFIRM
    CONFIRM --> SNAPSHOT: yes (CarryOut or OpenTicket request) / no
    MENU --> ASK_ISSUE: agent, or a refusal's hand-off
    ASK_ISSUE --> HANDED_OFF: OpenTicket handoff
    HANDED_OFF --> RATE: staff resolve the ticket (asks 1-5, shows the menu)
    RATE --> MENU: a score (RecordRating), or anything else, handled as at the menu
```

Every question is asked by `proceed` from what the session already holds, so a
turn that does not understand the shopper can simply ask again. Buttons are
checked against what was offered: an old or forged payload is answered with the
current choices, never acted on. `menu`, `agent` and `stop` work at every step.

This module reads messages and finds the order; `tasks` carries out what the
shopper asked for, `views` shows orders and refusals, `handoff` brings a person
in, and `turn` holds what they share.
"""

from __future__ import annotations

from datetime import date, timedelta

from orders import eligibility
from orders.models import (
    Order,
    ReturnReason,
)
from orders.policy import Action

from . import intents
from .catalogue import T
from .effects import (
    Carried,
    Event,
    FactorNeeded,
    FindOrders,
    LoadOrder,
    Message,
    NotVerified,
    Option,
    OrderLoaded,
    OrdersFound,
    RatingRecorded,
    RecordRating,
    Say,
    ShopRefused,
    ShopUnavailable,
    Subscribe,
    Subscribed,
    TicketOpened,
    Transition,
    Unsubscribe,
    Unsubscribed,
    Verified,
    Verify,
)
from .handoff import on_issue, on_ticket_opened, start_handoff
from .photos import on_issue_photo, on_photo_answer
from .session import MAX_REMEMBERED_ORDERS, Session, Step
from .tasks import confirmed, note_outcome, on_address, on_carried, proceed
from .turn import (
    ACTIONS_BY_PAYLOAD,
    RATING_SCALE,
    STOP_UPDATES,
    Context,
    Turn,
    action_name,
    after_options,
    after_task,
    agent_option,
    ask_factor,
    ask_order,
    menu_option,
    menu_options,
    miss,
    reprompt,
    show_menu,
    support_links,
)

MAX_FACTOR_FAILURES = 3



FACTOR_LOCK = timedelta(minutes=15)


MAX_LISTED_ORDERS = 8


def step(session: Session, event: Event, ctx: Context) -> Transition:
    # a shallow copy is enough: steps replace the session's lists, never change them in place
    t = Turn(session.model_copy(), ctx)
    note_outcome(t, event)  # what the shop did with a change, for the order's audit log
    match event:
        case Message():
            _on_message(t, event)
        case OrdersFound(orders=orders):
            _on_orders_found(t, orders)
        case OrderLoaded(order=None):
            t.s.reset_task()
            t.s.order = None
            t.say(T("order.gone"), options=menu_options())
        case Verified(order=order):
            t.s.factor_failures = 0
            t.s.candidate = None
            t.s.remember_verified(order.number)
            t.s.order = order.number
            proceed(t, order)
        case OrderLoaded(order=Order() as order):
            t.s.order = order.number
            proceed(t, order)
        case NotVerified(order_locked=locked):
            _on_not_verified(t, locked)
        case FactorNeeded(number=number):
            ask_factor(t, number)
        case Carried():
            on_carried(t, event)
        case ShopRefused():
            t.s.refusal = None
            after_task(t)
            t.say(T("action.refused_by_shop"), options=[agent_option(), menu_option()])
        case ShopUnavailable(request=request):
            # after a change was sent, "unreachable" may not be the whole truth: the
            # shop may have done it without answering; the next try finds out which
            t.say(T("shop.unconfirmed") if request is not None else T("shop.unavailable"),
                  options=[agent_option(), menu_option()], links=support_links(t))
        case TicketOpened():
            on_ticket_opened(t, event)
        case RatingRecorded():
            t.say(T("rate.thanks"), options=menu_options())
        case Subscribed(number=number):
            if number not in t.s.following:
                t.s.following = [*t.s.following, number][-MAX_REMEMBERED_ORDERS:]
            t.say(T("notify.subscribed", number=number), options=after_options(t.s))
        case Unsubscribed():
            _on_unsubscribed(t, event)
    return t.result()


def greeting() -> Say:
    return Say((T("welcome"),))


def _on_message(t: Turn, msg: Message) -> None:
    s = t.s
    if intents.looks_like_devanagari(msg.text) and "hi" in t.ctx.languages:
        s.locale = "hi"

    if s.step is Step.HANDED_OFF:
        # a person has the conversation: the runner files the message on the ticket
        if msg.payload == STOP_UPDATES or intents.command(msg.text) is intents.Command.UNSUBSCRIBE:
            t.effect = Unsubscribe()  # stopping updates never waits for a person
            return
        if not s.ticket_acknowledged:
            s.ticket_acknowledged = True
            t.say(T("handoff.added", ticket=s.ticket or ""))
        return

    if s.step is Step.RATE:
        # the one question after a resolved hand-off: a score is recorded, anything
        # else is answered as at the menu
        score, ticket = _score(s, msg), s.rating_ticket
        s.step, s.rating_ticket = Step.MENU, None
        if score is not None and ticket:
            s.offered = []
            t.effect = RecordRating(ticket, score)
            return

    if msg.newly_proven and not msg.text.strip() and msg.payload is None and not msg.has_media:
        _on_proven(t)
        return

    payload = msg.payload
    if payload is None and s.offered and (n := intents.choice_number(msg.text)) is not None:
        if 1 <= n <= len(s.offered):
            payload = s.offered[n - 1]
        else:
            miss(t, T("choice.out_of_range", count=len(s.offered)))
            return

    if on_photo_answer(t, msg, payload) or on_issue_photo(t, msg):
        return

    if payload is not None:
        _on_payload(t, payload)
        return

    if msg.has_media and not msg.text.strip():
        t.say(T("media.unsupported"))
        reprompt(t)
        return

    command = intents.command(msg.text)
    if command is intents.Command.MENU:
        show_menu(t)
    elif command is intents.Command.AGENT:
        start_handoff(t)
    elif command is intents.Command.THANKS:
        t.say(T("thanks.reply"), options=menu_options())
    elif command is intents.Command.STOP:
        s.reset_task()
        t.effect = Unsubscribe(bye=True)  # "stop" ends the shipping updates too
    elif command is intents.Command.UNSUBSCRIBE:
        t.effect = Unsubscribe()
    else:
        _on_text(t, msg.text)


def _score(s: Session, msg: Message) -> int | None:
    """A 1-5 score from a tapped button or its typed number; None for anything else."""
    payload = msg.payload
    if payload is None and (n := intents.choice_number(msg.text)) is not None:
        payload = s.offered[n - 1] if 1 <= n <= len(s.offered) else None
    if payload is None or payload not in s.offered or not payload.startswith("rate:"):
        return None
    value = payload.partition(":")[2]
    return int(value) if value.isdecimal() and int(value) in RATING_SCALE else None


def _on_proven(t: Turn) -> None:
    """A shared contact proved who this is: carry on with the task without asking
    for an order number or a second factor."""
    s = t.s
    t.say(T("identity.thanks"))
    if s.action and s.step in (Step.ASK_ORDER, Step.ASK_FACTOR):
        s.candidate = None
        s.step = Step.PICK_ORDER
        t.effect = FindOrders(s.phone, s.email)
    else:
        show_menu(t)


def _on_payload(t: Turn, payload: str) -> None:
    s = t.s
    kind, _, value = payload.partition(":")
    if payload == "menu":
        show_menu(t)
    elif payload == "agent":
        start_handoff(t)
    elif payload == STOP_UPDATES:  # a notification's button, however old: always honoured
        t.effect = Unsubscribe()
    elif kind == "n" and value in s.verified:
        # "keep me posted": only about an order this conversation proved, like `a:`
        s.order = value
        t.effect = Subscribe(value)
    elif kind == "m" and value in ACTIONS_BY_PAYLOAD:
        _start_action(t, value, keep_order=False)
    elif kind == "a" and (target := value.partition(":"))[0] in ACTIONS_BY_PAYLOAD:
        # an action button under a snapshot names its order, so an old one still works
        number = target[2]
        if number and number in s.verified:
            s.order = number
            _start_action(t, target[0], keep_order=True)
        else:
            _start_action(t, target[0], keep_order=False)
    elif kind == "o" and (value in s.verified or payload in s.offered):
        # an order this conversation proved (or the channel's identity listed)
        if s.step not in (Step.PICK_ORDER, Step.ASK_ORDER):
            s.reset_task()  # "back to this order": show it, no task under way
        s.order = value
        s.remember_verified(value)
        t.effect = LoadOrder(value)
    elif payload not in s.offered:
        miss(t, T("button.stale"))
    elif kind == "i":
        s.item = value
        t.effect = LoadOrder(s.order or "")
    elif kind == "rr":
        s.action = Action.REPLACE if value == "replace" else Action.RETURN
        s.either_return_or_replace = False
        t.effect = LoadOrder(s.order or "")
    elif kind == "q":
        s.quantity = int(value)
        t.effect = LoadOrder(s.order or "")
    elif kind == "r":
        s.reason = ReturnReason(value)
        t.effect = LoadOrder(s.order or "")
    elif kind == "d":
        s.step = Step.ASK_ADDRESS if value == "address" else Step.PICK_DATE
        t.effect = LoadOrder(s.order or "")
    elif kind == "dt":
        s.new_date = date.fromisoformat(value)
        t.effect = LoadOrder(s.order or "")
    elif payload == "yes":
        confirmed(t)
    elif payload == "no":
        after_task(t)
        t.say(T("confirm.declined"), options=after_options(s))
    else:  # offered but unknown: a bug, answered like a stale button
        miss(t, T("button.stale"))


def _on_text(t: Turn, text: str) -> None:
    s = t.s
    match s.step:
        case Step.ASK_ISSUE:
            on_issue(t, text)
            return
        case Step.ASK_ADDRESS:
            on_address(t, text)
            return
        case Step.ASK_FACTOR:
            _on_factor(t, text)
            return
        case Step.PICK_QUANTITY if (n := _plain_number(text)) is not None:
            s.quantity = n
            t.effect = LoadOrder(s.order or "")
            return
        case Step.CONFIRM if (answer := intents.yes_or_no(text)) is not None:
            _on_payload(t, "yes" if answer else "no")
            return

    number = intents.order_number(text)
    found = intents.intent(text)
    if found is intents.Command.AGENT:
        start_handoff(t)
    elif found is intents.Command.SUBSCRIBE and not number:
        _subscribe_to_order_in_context(t)
    elif isinstance(found, Action):
        keep = s.step is not Step.MENU and not number
        _start_action(t, found.value, keep_order=keep, number=number)
    elif number and s.step is Step.ASK_ORDER:
        _take_order_number(t, number)
    elif number:
        _start_action(t, "track", keep_order=False, number=number)
    elif s.step is Step.ASK_ORDER:
        miss(t, T("order.not_a_number"))
    else:
        miss(t, T("not_understood"))


def _subscribe_to_order_in_context(t: Turn) -> None:
    """Typed "keep me posted": the order in context, else find the order first."""
    s = t.s
    if s.order and s.order in s.verified:
        t.effect = Subscribe(s.order)
        return
    t.say(T("notify.which_order"))
    _start_action(t, "track", keep_order=False)


def _on_unsubscribed(t: Turn, event: Unsubscribed) -> None:
    s = t.s
    s.following = []
    lines = [T("stop.bye")] if event.bye else []
    lines.append(T("notify.stopped", orders=", ".join(event.orders)) if event.orders
                 else T("notify.none"))
    if s.step is Step.HANDED_OFF:
        t.say(*lines)  # the person who has the conversation stays on
    else:
        t.say(*lines, options=[menu_option()] if event.bye else after_options(s))


def _plain_number(text: str) -> int | None:
    folded = intents.normalise(text)
    return int(folded) if folded.isdecimal() and 0 < int(folded) < 1000 else None


def _start_action(t: Turn, name: str, *, keep_order: bool, number: str | None = None) -> None:
    s = t.s
    order = s.order if keep_order else None
    s.reset_task()
    s.refusal = None
    s.action = ACTIONS_BY_PAYLOAD[name]
    s.either_return_or_replace = name == "rr"
    if s.action not in t.ctx.policy.allowed:
        t.say(T("action.not_offered", action=action_name(s.action)), options=menu_options())
        s.reset_task()
        return
    if number:
        s.order = None
        _take_order_number(t, number)
        return
    if order and order in s.verified:
        s.order = order
        t.effect = LoadOrder(order)
        return
    s.order = None
    if _locked(t):
        return
    if s.phone or s.email:
        s.step = Step.PICK_ORDER
        t.effect = FindOrders(s.phone, s.email)
    else:
        ask_order(t)


def _take_order_number(t: Turn, number: str) -> None:
    s = t.s
    if number in s.verified:
        s.order = number
        t.effect = LoadOrder(number)
    elif _locked(t):
        return
    elif s.phone or s.email:
        t.effect = Verify(number, None)
    else:
        ask_factor(t, number)


def _on_factor(t: Turn, text: str) -> None:
    s = t.s
    factor = intents.email(text) or intents.phone_like(text)
    if factor is None:
        if (number := intents.order_number(text)) is not None:
            ask_factor(t, number)  # a different order number: ask for its factor
        else:
            miss(t, T("verify.factor_format"))
        return
    if _locked(t):
        return
    t.effect = Verify(s.candidate or "", factor)


def _locked(t: Turn) -> bool:
    s = t.s
    if s.locked_until and s.locked_until > t.ctx.now:
        s.step = Step.MENU
        t.say(T("verify.locked", until=s.locked_until), options=[agent_option(), menu_option()])
        return True
    return False


def _on_not_verified(t: Turn, order_locked: bool) -> None:
    s = t.s
    s.factor_failures += 1
    left = MAX_FACTOR_FAILURES - s.factor_failures
    if order_locked or left <= 0:
        s.locked_until = t.ctx.now + FACTOR_LOCK
        s.candidate = None
        s.step = Step.MENU
        t.say(T("verify.too_many"), options=[agent_option(), menu_option()])
    else:
        s.step = Step.ASK_FACTOR
        t.say(T("verify.no_match", left=left), options=[agent_option(), menu_option()])


def _on_orders_found(t: Turn, orders: tuple[Order, ...]) -> None:
    s = t.s
    action = s.action or Action.TRACK
    fitting = [o for o in orders if eligibility.fits(o, action, t.ctx.policy, t.ctx.now)]
    if not fitting:
        s.step = Step.ASK_ORDER
        t.say(T("orders.none_fit", action=action_name(action, s.either_return_or_replace)),
              options=[agent_option(), menu_option()])
    elif len(fitting) == 1:
        s.order = fitting[0].number
        s.remember_verified(s.order)
        proceed(t, fitting[0])
    else:
        s.step = Step.PICK_ORDER
        options = [
            Option(T("order.pick_button", number=o.number, date=o.placed_at,
                     count=sum(i.quantity for i in o.items)), f"o:{o.number}")
            for o in fitting[:MAX_LISTED_ORDERS]
        ]
        t.say(T("orders.pick", action=action_name(action, s.either_return_or_replace)),
              options=[*options, menu_option()])
