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
    PICK_QUANTITY --> PICK_VARIANT: exchange (LoadVariants)
    PICK_RETURN_OR_REPLACE --> PICK_VARIANT: exchange (LoadVariants)
    PICK_VARIANT --> CONFIRM: variant (price difference stated)
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

from collections.abc import Callable
from datetime import date, timedelta

from orders import eligibility
from orders.models import (
    Order,
    ReturnReason,
)
from orders.policy import Action

from . import intents, language, understanding
from .cancel_reasons import CANCEL_REASON_PAYLOAD, pick_cancel_reason
from .catalogue import T
from .effects import (
    Carried,
    Classified,
    Classify,
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
    TicketWithdrawn,
    Transition,
    Unsubscribe,
    Unsubscribed,
    Verified,
    Verify,
)
from .exchange import VARIANT_PAYLOAD, pick_variant
from .handoff import (
    BACK_TO_BOT,
    on_handed_off,
    on_issue,
    on_ticket_opened,
    on_withdrawn,
    start_handoff,
)
from .lateness import LATE_PAYLOAD, priority_handoff
from .photos import on_issue_photo, on_photo_answer
from .refund_destination import REFUND_TO_PAYLOAD, pick_refund_destination
from .session import MAX_REMEMBERED_ORDERS, Session, Step
from .suggestions import suggest
from .tasks import confirmed, note_outcome, on_address, on_carried, proceed
from .turn import (
    ACTIONS_BY_PAYLOAD,
    RATING_SCALE,
    SKIP_RATING,
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
        case OrderLoaded(order=Order() as order, variants=variants):
            t.s.order = order.number
            t.variants = variants
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
        case TicketWithdrawn():
            on_withdrawn(t, event)
        case Classified():
            _on_classified(t, event)
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
    language.follow(t, msg)
    if _answered_before_the_step(t, msg):
        return
    payload = _tapped(t, msg)
    if payload is _MISSED:
        return
    if on_photo_answer(t, msg, payload) or on_issue_photo(t, msg):
        return
    if payload is not None:
        _on_payload(t, payload)
    elif msg.has_media and not msg.text.strip():
        t.say(T("media.unsupported"))
        reprompt(t)
    elif (handler := _COMMANDS.get(intents.command(msg.text))) is not None:
        handler(t)
    else:
        _on_text(t, msg.text)


def _answered_before_the_step(t: Turn, msg: Message) -> bool:
    """What is answered the same at any step: a language, a message during a
    hand-off, the rating question's answer, a contact the channel just proved."""
    if _on_language(t, msg):
        return True
    if t.s.step is Step.HANDED_OFF:
        on_handed_off(t, msg)
        return True
    if t.s.step is Step.RATE and _on_rating_answer(t, msg):
        return True
    if msg.newly_proven and not msg.text.strip() and msg.payload is None and not msg.has_media:
        _on_proven(t)
        return True
    return False


def _on_language(t: Turn, msg: Message) -> bool:
    """"English", "हिंदी", "language" or a language button, at any step."""
    payload = msg.payload
    if payload is not None:
        kind, _, code = payload.partition(":")
        if kind != language.LANGUAGE_PAYLOAD:
            return False
    elif (named := language.chosen(msg.text)) is not None:
        code = named
    else:
        return False
    if code:
        language.choose(t, code)
    else:
        language.ask(t)
    return True


def _on_language_button(t: Turn, payload: str, value: str) -> bool:
    """A typed number for a language button (a tap is taken before any step)."""
    if value:
        language.choose(t, value)
    else:
        language.ask(t)
    return True


def _on_rating_answer(t: Turn, msg: Message) -> bool:
    """The one question after a resolved hand-off: a score is recorded (True),
    anything else is answered as at the menu (False)."""
    s = t.s
    score, ticket = _score(s, msg), s.rating_ticket
    s.step, s.rating_ticket = Step.MENU, None
    if _chosen(s, msg) == SKIP_RATING or intents.normalise(msg.text) in _SKIP_WORDS:
        show_menu(t)
        return True
    if score is not None and ticket:
        s.offered = []
        t.effect = RecordRating(ticket, score)
        return True
    return False


_SKIP_WORDS = frozenset({"skip", "no thanks", "later", "छोड़ें", "skip karo", "rehne do"})

_MISSED = "\x00missed"
"""`_tapped`'s answer when a typed number named no offered choice (already answered)."""


def _tapped(t: Turn, msg: Message) -> str | None:
    """The button payload this message means: a tap, or a typed choice number."""
    s = t.s
    if msg.payload is not None or not s.offered:
        return msg.payload
    n = intents.choice_number(msg.text)
    if n is None:
        return None
    if 1 <= n <= len(s.offered):
        return s.offered[n - 1]
    miss(t, T("choice.out_of_range", count=len(s.offered)))
    return _MISSED


def _on_stop(t: Turn) -> None:
    t.s.reset_task()
    t.effect = Unsubscribe(bye=True)  # "stop" ends the shipping updates too


def _on_unsubscribe(t: Turn) -> None:
    t.effect = Unsubscribe()


def _on_never_mind(t: Turn) -> None:
    """"never mind" outside a hand-off: a "no" to a question, else the menu."""
    if t.s.step is Step.CONFIRM:
        _on_declined(t)
    else:
        show_menu(t)


def _on_thanks(t: Turn) -> None:
    t.say(T("thanks.reply"), options=menu_options())


_COMMANDS: dict[intents.Command | None, Callable[[Turn], None]] = {
    intents.Command.MENU: show_menu,
    intents.Command.AGENT: start_handoff,
    intents.Command.THANKS: _on_thanks,
    intents.Command.STOP: _on_stop,
    intents.Command.UNSUBSCRIBE: _on_unsubscribe,
    intents.Command.WITHDRAW: _on_never_mind,
}
"""Whole-message commands, answered the same at every step but a hand-off."""


def _chosen(s: Session, msg: Message) -> str | None:
    """A tapped payload, or the offered one a typed number names; None otherwise."""
    if msg.payload is not None:
        return msg.payload
    n = intents.choice_number(msg.text)
    return s.offered[n - 1] if n is not None and 1 <= n <= len(s.offered) else None


def _score(s: Session, msg: Message) -> int | None:
    """A 1-5 score from a tapped button or its typed number; None for anything else."""
    payload = _chosen(s, msg)
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
    """A button: the ones honoured however old first, then only what was offered."""
    kind, _, value = payload.partition(":")
    if (always := _ALWAYS.get(payload)) is not None:
        always(t)
    elif (routed := _ROUTED.get(kind)) is not None and routed(t, payload, value):
        return
    elif payload not in t.s.offered:
        miss(t, T("button.stale"))
    elif (exact := _OFFERED_EXACT.get(payload)) is not None:
        exact(t)
    elif (offered := _OFFERED.get(kind)) is not None:
        offered(t, value)
        t.effect = LoadOrder(t.s.order or "")
    else:  # offered but unknown: a bug, answered like a stale button
        miss(t, T("button.stale"))


def _on_follow(t: Turn, payload: str, value: str) -> bool:
    """"Keep me posted": only about an order this conversation proved, like `a:`."""
    if value not in t.s.verified:
        return False
    t.s.order = value
    t.effect = Subscribe(value)
    return True


def _on_menu_action(t: Turn, payload: str, value: str) -> bool:
    if value not in ACTIONS_BY_PAYLOAD:
        return False
    _start_action(t, value, keep_order=False)
    return True


def _on_order_action(t: Turn, payload: str, value: str) -> bool:
    """An action button under a snapshot names its order, so an old one still works."""
    name, _, number = value.partition(":")
    if name not in ACTIONS_BY_PAYLOAD:
        return False
    if number and number in t.s.verified:
        t.s.order = number
        _start_action(t, name, keep_order=True)
    else:
        _start_action(t, name, keep_order=False)
    return True


def _on_order_button(t: Turn, payload: str, value: str) -> bool:
    """An order this conversation proved (or the channel's identity listed)."""
    s = t.s
    if value not in s.verified and payload not in s.offered:
        return False
    if s.step not in (Step.PICK_ORDER, Step.ASK_ORDER):
        s.reset_task()  # "back to this order": show it, no task under way
    s.order = value
    s.remember_verified(value)
    t.effect = LoadOrder(value)
    return True


def _on_priority_handoff(t: Turn, payload: str, value: str) -> bool:
    """The late parcel's hand-off, for an order this conversation proved."""
    if value not in t.s.verified:
        return False
    priority_handoff(t, value)
    return True


def _pick_item(t: Turn, value: str) -> None:
    t.s.item = value


def _pick_return_or_replace(t: Turn, value: str) -> None:
    t.s.action = {"replace": Action.REPLACE, "exchange": Action.EXCHANGE}.get(value,
                                                                            Action.RETURN)
    t.s.either_return_or_replace = False


def _pick_quantity(t: Turn, value: str) -> None:
    t.s.quantity = int(value)


def _pick_reason(t: Turn, value: str) -> None:
    t.s.reason = ReturnReason(value)


def _pick_delivery_change(t: Turn, value: str) -> None:
    t.s.step = Step.ASK_ADDRESS if value == "address" else Step.PICK_DATE


def _pick_date(t: Turn, value: str) -> None:
    t.s.new_date = date.fromisoformat(value)


def _on_declined(t: Turn) -> None:
    after_task(t)
    t.say(T("confirm.declined"), options=after_options(t.s))


_ALWAYS: dict[str, Callable[[Turn], None]] = {
    "menu": show_menu,
    "agent": start_handoff,
    BACK_TO_BOT: show_menu,  # a "Back to the bot" after the hand-off ended
    STOP_UPDATES: _on_unsubscribe,  # a notification's button, however old: always honoured
}

_ROUTED: dict[str, Callable[[Turn, str, str], bool]] = {
    "n": _on_follow,
    "m": _on_menu_action,
    "a": _on_order_action,
    "o": _on_order_button,
    language.LANGUAGE_PAYLOAD: _on_language_button,
    LATE_PAYLOAD: _on_priority_handoff,
}
"""Buttons that carry what they need, honoured when not offered just now; each
answers False when the payload does not qualify (then it must have been offered)."""

_OFFERED_EXACT: dict[str, Callable[[Turn], None]] = {"yes": confirmed, "no": _on_declined}

_OFFERED: dict[str, Callable[[Turn, str], None]] = {
    "i": _pick_item,
    "rr": _pick_return_or_replace,
    "q": _pick_quantity,
    "r": _pick_reason,
    "d": _pick_delivery_change,
    "dt": _pick_date,
    CANCEL_REASON_PAYLOAD: pick_cancel_reason,
    REFUND_TO_PAYLOAD: pick_refund_destination,
    VARIANT_PAYLOAD: pick_variant,
}
"""A task's answers: each notes the choice, then the order is loaded to ask what is next."""


def _on_text(t: Turn, text: str) -> None:
    if not _on_answer(t, text):
        _on_free_text(t, text)


def _on_answer(t: Turn, text: str) -> bool:
    """Typed text that answers the question on screen (True), before it is read as a wish."""
    s = t.s
    match s.step:
        case Step.ASK_ISSUE:
            on_issue(t, text)
        case Step.ASK_ADDRESS:
            on_address(t, text)
        case Step.ASK_FACTOR:
            _on_factor(t, text)
        case Step.PICK_QUANTITY if (n := _plain_number(text)) is not None:
            s.quantity = n
            t.effect = LoadOrder(s.order or "")
        case Step.CONFIRM if (answer := intents.yes_or_no(text)) is not None:
            _on_payload(t, "yes" if answer else "no")
        case Step.PICK_CANCEL_REASON if _own_words(text):
            pick_cancel_reason(t, "other")  # their own words: "other" (the words stay out
            t.effect = LoadOrder(s.order or "")  # of the audit log: personal data)
        case _:
            return False
    return True


def _own_words(text: str) -> bool:
    """An answer in the shopper's own words, not a new ask: nothing read, or only a
    tentative guess ("my brother already bought one" is a reason, not a track)."""
    understood = understanding.understand(text)
    return understood.intent is None or understood.tentative


def _on_free_text(t: Turn, text: str) -> None:
    """What the shopper wants, in their words (`understanding`), and which order;
    text understanding does not read goes to the fallback classifier, where there is one."""
    understood = understanding.understand(text)
    if understood.intent is None and understood.order is None and t.ctx.classifier and (
            t.s.step is not Step.ASK_ORDER):
        t.effect = Classify(text)
        return
    _act_on(t, understood)


def _on_classified(t: Turn, event: Classified) -> None:
    intent = understanding.Intent(event.intent) if event.intent else None
    _act_on(t, understanding.Understood(intent, event.order))


def _act_on(t: Turn, understood: understanding.Understood) -> None:
    s = t.s
    number = understood.order
    if understood.tentative and understood.intent is not understanding.Intent.CAPABILITIES:
        if number is None and s.step is not Step.ASK_ORDER and understood.intent is not None:
            suggest(t, understood.intent)  # offered, not acted on
            return
        understood = understanding.Understood(None, number)  # a number alone: as without a guess
    if understood.intent is not None and (
        handler := _INTENT_HANDLERS.get(understood.intent)
    ) is not None and handler(t, number):
        return
    if understood.intent is not None and understood.intent.value in ACTIONS_BY_PAYLOAD:
        keep = s.step is not Step.MENU and not number
        _start_action(t, understood.intent.value, keep_order=keep, number=number)
    elif number and s.step is Step.ASK_ORDER:
        _take_order_number(t, number)
    elif number:
        _start_action(t, "track", keep_order=False, number=number)
    elif s.step is Step.ASK_ORDER:
        miss(t, T("order.not_a_number"))
    else:
        miss(t, T("not_understood"))


def _on_agent_text(t: Turn, number: str | None) -> bool:
    start_handoff(t)
    return True


def _on_subscribe_text(t: Turn, number: str | None) -> bool:
    if number:
        return False  # "notify me about 100234": open that order first
    _subscribe_to_order_in_context(t)
    return True


def _on_late_text(t: Turn, number: str | None) -> bool:
    """"My parcel is late": the order's snapshot, then what to do about the wait."""
    keep = t.s.step is not Step.MENU and not number
    _start_action(t, "track", keep_order=keep, number=number)
    t.s.late_check = True
    return True


def _on_capabilities_text(t: Turn, number: str | None) -> bool:
    t.say(T("capabilities"), options=menu_options())
    return True


_INTENT_HANDLERS: dict[understanding.Intent, Callable[[Turn, str | None], bool]] = {
    understanding.Intent.AGENT: _on_agent_text,
    understanding.Intent.SUBSCRIBE: _on_subscribe_text,
    understanding.Intent.LATE: _on_late_text,
    understanding.Intent.CAPABILITIES: _on_capabilities_text,
}
"""Intents that are not an order action; each answers False to be read as usual."""


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
