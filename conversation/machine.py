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
    SNAPSHOT --> PICK_DELIVERY_CHANGE: delivery
    PICK_DELIVERY_CHANGE --> ASK_ADDRESS
    PICK_DELIVERY_CHANGE --> PICK_DATE
    ASK_ADDRESS --> CONFIRM
    PICK_DATE --> CONFIRM
    CONFIRM --> SNAPSHOT: yes (CarryOut or OpenTicket request) / no
    MENU --> ASK_ISSUE: agent, or a refusal's hand-off
    ASK_ISSUE --> HANDED_OFF: OpenTicket handoff
    HANDED_OFF --> MENU: staff resolve the ticket
```

Every question is asked by `proceed` from what the session already holds, so a
turn that does not understand the shopper can simply ask again. Buttons are
checked against what was offered: an old or forged payload is answered with the
current choices, never acted on. `menu`, `agent` and `stop` work at every step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from orders import eligibility
from orders.eligibility import Verdict
from orders.models import (
    REPLACEMENT_REASONS,
    Fulfilment,
    Order,
    OrderStatus,
    PackageStatus,
    PaymentMethod,
    RefundStatus,
    ReturnReason,
    ReturnStatus,
)
from orders.policy import Action, Policy

from . import intents
from .catalogue import T, Text
from .effects import (
    ActionRequest,
    Carried,
    CarryOut,
    Event,
    FactorNeeded,
    FindOrders,
    Link,
    LoadOrder,
    Message,
    NotVerified,
    OpenTicket,
    Option,
    OrderLoaded,
    OrdersFound,
    Say,
    ShopRefused,
    ShopUnavailable,
    TicketKind,
    TicketOpened,
    Transition,
    Verified,
    Verify,
)
from .hours import BusinessHours
from .session import Session, Step

MAX_FACTOR_FAILURES = 3
FACTOR_LOCK = timedelta(minutes=15)
MISSES_BEFORE_OFFERING_A_PERSON = 2
MAX_LISTED_ORDERS = 8
MAX_QUANTITY_BUTTONS = 5
DATE_CHOICES = 5
MIN_ADDRESS_LENGTH = 15
MAX_ADDRESS_LENGTH = 300
MIN_ISSUE_LENGTH = 3
MAX_ISSUE_LENGTH = 2000

_ENDED = frozenset({OrderStatus.CANCELLED, OrderStatus.PAYMENT_FAILED, OrderStatus.DELIVERED})
MENU_ACTIONS = ("track", "cancel", "rr", "refund", "delivery")
_ACTIONS_BY_PAYLOAD = {
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


class _Turn:
    """Collects what one step says and asks for."""

    def __init__(self, session: Session, ctx: Context) -> None:
        self.s = session
        self.ctx = ctx
        self.says: list[Say] = []
        self.effect: CarryOut | FindOrders | LoadOrder | Verify | OpenTicket | None = None

    def say(
        self,
        *lines: Text,
        options: tuple[Option, ...] | list[Option] = (),
        links: tuple[Link, ...] | list[Link] = (),
    ) -> None:
        self.says.append(Say(tuple(lines), tuple(options), tuple(links)))

    def result(self) -> Transition:
        return Transition(self.s, self.says, self.effect)


def step(session: Session, event: Event, ctx: Context) -> Transition:
    t = _Turn(session.model_copy(deep=True), ctx)
    match event:
        case Message():
            _on_message(t, event)
        case OrdersFound(orders=orders):
            _on_orders_found(t, orders)
        case OrderLoaded(order=None):
            t.s.reset_task()
            t.s.order = None
            t.say(T("order.gone"), options=menu_options())
        case OrderLoaded(order=order) | Verified(order=order):
            if isinstance(event, Verified):
                t.s.factor_failures = 0
                t.s.candidate = None
                t.s.remember_verified(order.number)
            t.s.order = order.number
            _proceed(t, order)
        case NotVerified(order_locked=locked):
            _on_not_verified(t, locked)
        case FactorNeeded(number=number):
            _ask_factor(t, number)
        case Carried():
            _on_carried(t, event)
        case ShopRefused():
            t.s.refusal = None
            _after_task(t)
            t.say(T("action.refused_by_shop"), options=[_agent_option(), _menu_option()])
        case ShopUnavailable():
            t.say(T("shop.unavailable"), options=[_agent_option(), _menu_option()])
        case TicketOpened():
            _on_ticket_opened(t, event)
    return t.result()


def greeting() -> Say:
    return Say((T("welcome"),))


# ---- messages -----------------------------------------------------------------


def _on_message(t: _Turn, msg: Message) -> None:
    s = t.s
    if intents.looks_like_devanagari(msg.text) and "hi" in t.ctx.languages:
        s.locale = "hi"

    if s.step is Step.HANDED_OFF:
        # a person has the conversation: the runner files the message on the ticket
        if not s.ticket_acknowledged:
            s.ticket_acknowledged = True
            t.say(T("handoff.added", ticket=s.ticket or ""))
        return

    payload = msg.payload
    if payload is None and s.offered and (n := intents.choice_number(msg.text)) is not None:
        if 1 <= n <= len(s.offered):
            payload = s.offered[n - 1]
        else:
            _miss(t, T("choice.out_of_range", count=len(s.offered)))
            return

    if payload is not None:
        _on_payload(t, payload)
        return

    if msg.has_media and not msg.text.strip():
        t.say(T("media.unsupported"))
        _reprompt(t)
        return

    command = intents.command(msg.text)
    if command is intents.Command.MENU:
        _show_menu(t)
    elif command is intents.Command.AGENT:
        _start_handoff(t)
    elif command is intents.Command.THANKS:
        t.say(T("thanks.reply"), options=menu_options())
    elif command is intents.Command.STOP:
        s.reset_task()
        t.say(T("stop.bye"), options=[_menu_option()])
    else:
        _on_text(t, msg.text)


def _on_payload(t: _Turn, payload: str) -> None:
    s = t.s
    kind, _, value = payload.partition(":")
    if payload == "menu":
        _show_menu(t)
    elif payload == "agent":
        _start_handoff(t)
    elif kind == "m" and value in _ACTIONS_BY_PAYLOAD:
        _start_action(t, value, keep_order=False)
    elif kind == "a" and (target := value.partition(":"))[0] in _ACTIONS_BY_PAYLOAD:
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
        _miss(t, T("button.stale"))
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
        _confirmed(t)
    elif payload == "no":
        _after_task(t)
        t.say(T("confirm.declined"), options=_after_options(s))
    else:  # offered but unknown: a bug, answered like a stale button
        _miss(t, T("button.stale"))


def _on_text(t: _Turn, text: str) -> None:
    s = t.s
    match s.step:
        case Step.ASK_ISSUE:
            _on_issue(t, text)
            return
        case Step.ASK_ADDRESS:
            _on_address(t, text)
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
        _start_handoff(t)
    elif isinstance(found, Action):
        keep = s.step is not Step.MENU and not number
        _start_action(t, found.value, keep_order=keep, number=number)
    elif number and s.step is Step.ASK_ORDER:
        _take_order_number(t, number)
    elif number:
        _start_action(t, "track", keep_order=False, number=number)
    elif s.step is Step.ASK_ORDER:
        _miss(t, T("order.not_a_number"))
    else:
        _miss(t, T("not_understood"))


def _plain_number(text: str) -> int | None:
    folded = intents.normalise(text)
    return int(folded) if folded.isdecimal() and 0 < int(folded) < 1000 else None


def _miss(t: _Turn, why: Text) -> None:
    t.s.misses += 1
    t.say(why)
    _reprompt(t)
    if t.s.misses >= MISSES_BEFORE_OFFERING_A_PERSON:
        t.say(T("offer.person"), options=[_agent_option(), _menu_option()])


def _reprompt(t: _Turn) -> None:
    """Ask the current question again, from what the session holds."""
    s = t.s
    match s.step:
        case Step.MENU | Step.HANDED_OFF:
            _show_menu(t, reset=False)
        case Step.ASK_ORDER:
            _ask_order(t)
        case Step.ASK_FACTOR:
            _ask_factor(t, s.candidate or "")
        case Step.ASK_ISSUE:
            t.say(T("handoff.ask_issue"), options=[_menu_option()])
        case Step.PICK_ORDER:
            t.effect = FindOrders(s.phone, s.email)
        case _ if s.order:
            t.effect = LoadOrder(s.order)
        case _:
            _show_menu(t)


# ---- menu and finding the order ----------------------------------------------


def menu_options() -> list[Option]:
    return [Option(T(f"menu.{name}"), f"m:{name}") for name in MENU_ACTIONS] + [_agent_option()]


def _agent_option() -> Option:
    return Option(T("menu.agent"), "agent")


def _menu_option() -> Option:
    return Option(T("button.menu"), "menu")


def _show_menu(t: _Turn, *, reset: bool = True) -> None:
    if reset:
        t.s.reset_task()
    t.say(T("menu.prompt"), options=menu_options())


def _start_action(t: _Turn, name: str, *, keep_order: bool, number: str | None = None) -> None:
    s = t.s
    order = s.order if keep_order else None
    s.reset_task()
    s.refusal = None
    s.action = _ACTIONS_BY_PAYLOAD[name]
    s.either_return_or_replace = name == "rr"
    if s.action not in t.ctx.policy.allowed:
        t.say(T("action.not_offered", action=_action_name(s.action)), options=menu_options())
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
        _ask_order(t)


def _action_name(action: Action | None, either: bool = False) -> Text:
    if either:
        return T("action.return_or_replace")
    return T(f"action.{action.value}" if action else "action.track")


def _ask_order(t: _Turn) -> None:
    s = t.s
    s.step = Step.ASK_ORDER
    recent = [Option(T("order.button", number=n), f"o:{n}") for n in reversed(s.verified[-3:])]
    t.say(T("order.ask", action=_action_name(s.action, s.either_return_or_replace)),
          options=[*recent, _menu_option()])


def _take_order_number(t: _Turn, number: str) -> None:
    s = t.s
    if number in s.verified:
        s.order = number
        t.effect = LoadOrder(number)
    elif _locked(t):
        return
    elif s.phone or s.email:
        t.effect = Verify(number, None)
    else:
        _ask_factor(t, number)


def _ask_factor(t: _Turn, number: str) -> None:
    t.s.step = Step.ASK_FACTOR
    t.s.candidate = number
    t.say(T("verify.ask_factor", number=number), options=[_menu_option()])


def _on_factor(t: _Turn, text: str) -> None:
    s = t.s
    factor = intents.email(text) or intents.phone_like(text)
    if factor is None:
        if (number := intents.order_number(text)) is not None:
            _ask_factor(t, number)  # a different order number: ask for its factor
        else:
            _miss(t, T("verify.factor_format"))
        return
    if _locked(t):
        return
    t.effect = Verify(s.candidate or "", factor)


def _locked(t: _Turn) -> bool:
    s = t.s
    if s.locked_until and s.locked_until > t.ctx.now:
        s.step = Step.MENU
        t.say(T("verify.locked", until=s.locked_until), options=[_agent_option(), _menu_option()])
        return True
    return False


def _on_not_verified(t: _Turn, order_locked: bool) -> None:
    s = t.s
    s.factor_failures += 1
    left = MAX_FACTOR_FAILURES - s.factor_failures
    if order_locked or left <= 0:
        s.locked_until = t.ctx.now + FACTOR_LOCK
        s.candidate = None
        s.step = Step.MENU
        t.say(T("verify.too_many"), options=[_agent_option(), _menu_option()])
    else:
        s.step = Step.ASK_FACTOR
        t.say(T("verify.no_match", left=left), options=[_agent_option(), _menu_option()])


def _on_orders_found(t: _Turn, orders: tuple[Order, ...]) -> None:
    s = t.s
    action = s.action or Action.TRACK
    fitting = [o for o in orders if eligibility.fits(o, action, t.ctx.policy, t.ctx.now)]
    if not fitting:
        s.step = Step.ASK_ORDER
        t.say(T("orders.none_fit", action=_action_name(action, s.either_return_or_replace)),
              options=[_agent_option(), _menu_option()])
    elif len(fitting) == 1:
        s.order = fitting[0].number
        s.remember_verified(s.order)
        _proceed(t, fitting[0])
    else:
        s.step = Step.PICK_ORDER
        options = [
            Option(T("order.pick_button", number=o.number, date=o.placed_at,
                     count=sum(i.quantity for i in o.items)), f"o:{o.number}")
            for o in fitting[:MAX_LISTED_ORDERS]
        ]
        t.say(T("orders.pick", action=_action_name(action, s.either_return_or_replace)),
              options=[*options, _menu_option()])


# ---- with an order in hand ----------------------------------------------------


def _proceed(t: _Turn, order: Order) -> None:
    """Ask the next thing the task needs, or show what it asked for."""
    s = t.s
    match s.action:
        case None | Action.TRACK:
            _snapshot(t, order)
        case Action.REFUND:
            _refund_status(t, order)
        case Action.CANCEL:
            verdict = eligibility.check_cancel(order, t.ctx.policy, t.ctx.now)
            if _refused(t, verdict, order):
                return
            _confirm(t, ActionRequest(Action.CANCEL, order.number), order)
        case Action.RETURN | Action.REPLACE:
            _item_task(t, order)
        case Action.DELIVERY:
            _delivery_task(t, order)


def _refused(t: _Turn, verdict: Verdict, order: Order, item: str | None = None) -> bool:
    """Say why not, and offer a person who will know why too."""
    if verdict.ok:
        return False
    s = t.s
    action = s.action
    reason = T(f"reason.{verdict.reason.value}", **_facts(verdict))
    s.refusal = f"{verdict.reason.value}: {_facts_text(verdict)}"
    _after_task(t)
    lines = [T("refusal.header", action=_action_name(action, s.either_return_or_replace),
               number=order.number)]
    if item:
        lines.append(T("refusal.item", item=item))
    lines.append(reason)
    links = [Link(T("link.return_policy"), url)] if (url := _policy_url(t, verdict)) else []
    t.say(*lines, T("refusal.offer_person"),
          options=[Option(T("button.agent_with_reason"), "agent"), *_after_options(s)],
          links=links)
    return True


def _policy_url(t: _Turn, verdict: Verdict) -> str | None:
    if verdict.reason.value in ("window_closed", "not_returnable"):
        return t.ctx.return_policy_url
    return None


_FACT_WORDS = {
    "window_starts": "window_starts",
    "order_status": "order_status",
    "package_status": "package_status",
    "payment_method": "payment_method",
    "reason": "return_reason",
    "fulfilment": "fulfilment",
    "action": "action",
}


def _facts(verdict: Verdict) -> dict[str, object]:
    """The facts of a verdict as sentence parts: codes become words in the shopper's language."""
    return {
        name: T(f"{_FACT_WORDS[name]}.{value}") if name in _FACT_WORDS else value
        for name, value in verdict.facts.items()
    }


def _facts_text(verdict: Verdict) -> str:
    return "; ".join(f"{k}={v}" for k, v in verdict.facts.items())


def _after_task(t: _Turn) -> None:
    """The task is over (done, declined or refused); the order stays in context."""
    order = t.s.order
    refusal = t.s.refusal
    t.s.reset_task()
    t.s.order = order
    t.s.refusal = refusal
    t.s.step = Step.SNAPSHOT if order else Step.MENU


def _after_options(s: Session) -> list[Option]:
    options = [Option(T("button.this_order"), f"o:{s.order}")] if s.order else []
    return [*options, _menu_option()]


def _money(t: _Turn, order: Order, amount: Decimal) -> str:
    symbol = t.ctx.policy.currency_symbol.get(order.currency)
    return f"{symbol}{amount:,.2f}" if symbol else f"{amount:,.2f} {order.currency}"


def _snapshot(t: _Turn, order: Order) -> None:
    s = t.s
    s.step = Step.SNAPSHOT
    s.action = None
    total = sum((i.unit_price * i.quantity for i in order.items), order.shipping_fee)
    lines = [
        T("snapshot.header", number=order.number, date=order.placed_at,
          status=T(f"order_status.{order.status.value}")),
        *(T("snapshot.item", name=i.name, quantity=i.quantity) for i in order.items),
        T("snapshot.payment", method=T(f"payment_method.{order.payment.method.value}"),
          status=T(f"payment_status.{order.payment.status.value}"),
          amount=_money(t, order, total)),
    ]
    links: list[Link] = []
    count = len(order.packages)
    for index, package in enumerate(order.packages, start=1):
        names = ", ".join(i.name for i in order.items if i.line_id in package.line_ids)
        head = T("snapshot.package", index=index, count=count, items=names,
                 status=T(f"package_status.{package.status.value}"))
        lines.append(head)
        if package.carrier:
            lines.append(T("snapshot.carrier", carrier=package.carrier,
                           tracking=package.tracking_number or "-"))
        if package.events:
            last = max(package.events, key=lambda e: e.at)
            lines.append(T("snapshot.last_event", at=last.at, location=last.location,
                           what=T(f"package_status.{last.status.value}")))
        if package.delivered_at:
            lines.append(T("snapshot.delivered_on", date=package.delivered_at))
        elif package.status is PackageStatus.READY_FOR_PICKUP:
            lines.append(T("snapshot.ready_for_pickup", store=order.pickup_store or ""))
        elif package.status not in (PackageStatus.RETURNED_TO_ORIGIN, PackageStatus.LOST):
            lines.append(T("snapshot.eta", date=package.estimated_delivery))
        if package.tracking_url and order.fulfilment is not Fulfilment.STORE_PICKUP:
            links.append(Link(T("link.track", index=index) if count > 1 else T("link.track_one"),
                              package.tracking_url))
    if not order.packages and order.status not in _ENDED:
        lines.append(T("snapshot.not_shipped"))
    for ret in order.returns:
        lines.append(T("snapshot.return", id=ret.return_id,
                       status=T(f"return_status.{ret.status.value}")))
    for refund in order.refunds:
        lines.append(T("snapshot.refund", amount=_money(t, order, refund.amount),
                       status=T(f"refund_status.{refund.status.value}")))
    t.say(*lines, options=_order_actions(t, order), links=links)



def _order_actions(t: _Turn, order: Order) -> list[Option]:
    """Only the actions that fit this order now: a compact, honest set of buttons."""
    ctx = t.ctx
    options = []
    for name in ("cancel", "return", "replace", "delivery", "refund"):
        action = _ACTIONS_BY_PAYLOAD[name]
        if eligibility.fits(order, action, ctx.policy, ctx.now):
            options.append(Option(T(f"menu.{name}"), f"a:{name}:{order.number}"))
    return [*options, _agent_option(), _menu_option()]


def _refund_status(t: _Turn, order: Order) -> None:
    verdict = eligibility.check_refund(order)
    if _refused(t, verdict, order):
        return
    lines = [T("refund.header", number=order.number)]
    for refund in order.refunds:
        method = T(f"payment_method.{refund.method.value}")
        amount = _money(t, order, refund.amount)
        if refund.status is RefundStatus.COMPLETED:
            lines.append(T("refund.completed", amount=amount, method=method,
                           date=refund.completed_at or refund.initiated_at or t.ctx.now))
        elif refund.status is RefundStatus.PROCESSING:
            lines.append(T("refund.processing", amount=amount, method=method,
                           date=refund.expected_by or t.ctx.now))
        else:
            lines.append(T("refund.not_started", amount=amount, method=method))
    for ret in order.returns:
        if ret.refund_id is None and ret.status not in (ReturnStatus.REJECTED,
                                                        ReturnStatus.COMPLETED):
            lines.append(T("refund.after_return", id=ret.return_id,
                           status=T(f"return_status.{ret.status.value}")))
        if ret.status is ReturnStatus.REJECTED:
            lines.append(T("refund.return_rejected", id=ret.return_id,
                           why=ret.rejection_reason or "-"))
    if order.payment.method is PaymentMethod.COD:
        lines.append(T("refund.cod_note"))
    _after_task(t)
    t.say(*lines, options=_after_options(t.s))


# ---- return and replacement --------------------------------------------------


def _item_task(t: _Turn, order: Order) -> None:
    s, ctx = t.s, t.ctx
    if s.item is None:
        verdicts = {item.line_id: _item_verdict(t, order, item.line_id) for item in order.items}
        possible = [order.item(line) for line, v in verdicts.items() if v.ok]
        if not possible:
            if len(order.items) == 1:
                _refused(t, verdicts[order.items[0].line_id], order)
            else:
                _refuse_items(t, order, verdicts)
            return
        if len(possible) > 1:
            s.step = Step.PICK_ITEM
            action = T("action.return_or_replace_item") if s.either_return_or_replace else (
                _action_name(s.action))
            t.say(T("item.pick", action=action, number=order.number), options=[
                *(Option(T("item.button", name=i.name, quantity=i.quantity), f"i:{i.line_id}")
                  for i in possible if i), _menu_option()])
            return
        s.item = possible[0].line_id if possible[0] else None
    item = order.item(s.item or "")
    if item is None:
        s.item = None
        _miss(t, T("button.stale"))
        return

    if s.either_return_or_replace:
        can_return = eligibility.check_return(order, item.line_id, 1, ctx.policy, ctx.now).ok
        can_replace = eligibility.check_replacement(order, item.line_id, None, ctx.policy,
                                                    ctx.now).ok
        if can_return and can_replace:
            s.step = Step.PICK_RETURN_OR_REPLACE
            t.say(T("rr.pick", item=item.name), options=[
                Option(T("rr.return"), "rr:return"), Option(T("rr.replace"), "rr:replace"),
                _menu_option()])
            return
        s.action = Action.REPLACE if can_replace else Action.RETURN
        s.either_return_or_replace = False

    if s.quantity is None:
        most = (eligibility.returnable_quantity(order, item.line_id)
                if s.action is Action.RETURN else item.quantity)
        if most > 1:
            s.step = Step.PICK_QUANTITY
            t.say(T("quantity.pick", item=item.name, most=most), options=[
                *(Option(T("quantity.button", n=n), f"q:{n}")
                  for n in range(1, min(most, MAX_QUANTITY_BUTTONS) + 1)), _menu_option()])
            return
        s.quantity = 1

    if s.reason is None:
        reasons = list(ReturnReason) if s.action is Action.RETURN else [
            r for r in ReturnReason if r in REPLACEMENT_REASONS]
        s.step = Step.PICK_REASON
        t.say(T("reason.pick", item=item.name), options=[
            *(Option(T(f"return_reason.{r.value}"), f"r:{r.value}") for r in reasons),
            _menu_option()])
        return

    if s.action is Action.RETURN:
        verdict = eligibility.check_return(order, item.line_id, s.quantity, ctx.policy, ctx.now)
    else:
        verdict = eligibility.check_replacement(order, item.line_id, s.reason, ctx.policy, ctx.now)
        if verdict.ok and s.quantity > item.quantity:
            s.quantity = None
            _miss(t, T("quantity.too_many", most=item.quantity))
            return
    if _refused(t, verdict, order, item.name):
        return
    assert s.action is not None
    _confirm(t, ActionRequest(s.action, order.number, item.line_id, s.quantity, s.reason), order)


def _item_verdict(t: _Turn, order: Order, line_id: str) -> Verdict:
    ctx = t.ctx
    ret = eligibility.check_return(order, line_id, 1, ctx.policy, ctx.now)
    if t.s.action is Action.RETURN and not t.s.either_return_or_replace:
        return ret
    rep = eligibility.check_replacement(order, line_id, None, ctx.policy, ctx.now)
    if t.s.action is Action.REPLACE:
        return rep
    return ret if ret.ok or not rep.ok else rep


def _refuse_items(t: _Turn, order: Order, verdicts: dict[str, Verdict]) -> None:
    s = t.s
    lines: list[Text] = [T("refusal.header", action=_action_name(s.action,
                                                                 s.either_return_or_replace),
                           number=order.number)]
    for line_id, verdict in verdicts.items():
        item = order.item(line_id)
        lines.append(T("refusal.item_reason", item=item.name if item else line_id,
                       reason=T(f"reason.{verdict.reason.value}", **_facts(verdict))))
    s.refusal = "; ".join(f"{line}: {v.reason.value} ({_facts_text(v)})"
                          for line, v in verdicts.items())
    _after_task(t)
    t.say(*lines, T("refusal.offer_person"),
          options=[Option(T("button.agent_with_reason"), "agent"), *_after_options(s)])


# ---- delivery change ----------------------------------------------------------


def _delivery_task(t: _Turn, order: Order) -> None:
    s, ctx = t.s, t.ctx
    if _refused(t, eligibility.check_delivery_change(order, ctx.policy, ctx.now), order):
        return
    if s.step is Step.ASK_ADDRESS and s.new_address is None:
        t.say(T("delivery.ask_address"), options=[_menu_option()])
        return
    if s.step is Step.PICK_DATE and s.new_date is None:
        start = max(ctx.now.date() + timedelta(days=1),
                    min((p.estimated_delivery for p in order.packages), default=ctx.now.date()))
        days = [start + timedelta(days=n) for n in range(DATE_CHOICES)]
        t.say(T("delivery.pick_date"), options=[
            *(Option(T("delivery.date_button", date=d), f"dt:{d.isoformat()}") for d in days),
            _menu_option()])
        return
    if s.new_address is None and s.new_date is None:
        s.step = Step.PICK_DELIVERY_CHANGE
        t.say(T("delivery.pick"), options=[
            Option(T("delivery.address"), "d:address"), Option(T("delivery.date"), "d:date"),
            _menu_option()])
        return
    _confirm(t, ActionRequest(Action.DELIVERY, order.number, address=s.new_address,
                              delivery_date=s.new_date), order)


def _on_address(t: _Turn, text: str) -> None:
    address = " ".join(text.split())
    if not (MIN_ADDRESS_LENGTH <= len(address) <= MAX_ADDRESS_LENGTH) or not any(
        ch.isdigit() for ch in address
    ):
        _miss(t, T("delivery.address_format", most=MAX_ADDRESS_LENGTH))
        return
    t.s.new_address = address
    t.effect = LoadOrder(t.s.order or "")


# ---- confirm and carry out ----------------------------------------------------


def _confirm(t: _Turn, request: ActionRequest, order: Order) -> None:
    s = t.s
    s.step = Step.CONFIRM
    automatic = t.ctx.policy.is_automatic(request.action, t.ctx.supports)
    item = order.item(request.line_id or "")
    summary = T(
        f"confirm.{request.action.value}",
        number=order.number,
        item=item.name if item else "",
        quantity=request.quantity or 0,
        reason=T(f"return_reason.{request.reason.value}") if request.reason else "",
        address=request.address or "",
        date=request.delivery_date or t.ctx.now,
    )
    how = T("confirm.automatic") if automatic else T("confirm.request")
    t.say(summary, how, options=[Option(T("button.yes"), "yes"), Option(T("button.no"), "no")])


def _confirmed(t: _Turn) -> None:
    s = t.s
    if s.action is None or s.order is None:
        _miss(t, T("button.stale"))
        return
    request = ActionRequest(s.action, s.order, s.item, s.quantity, s.reason, s.new_address,
                            s.new_date)
    if t.ctx.policy.is_automatic(request.action, t.ctx.supports):
        t.effect = CarryOut(request)
    else:
        t.effect = OpenTicket(TicketKind.REQUEST, s.order, True, request=request)


def _on_carried(t: _Turn, event: Carried) -> None:
    request, outcome = event.request, event.outcome
    order = outcome.order
    t.s.refusal = None
    _after_task(t)
    item = order.item(request.line_id or "")
    match request.action:
        case Action.CANCEL:
            lines = [T("done.cancel", number=order.number)]
            refunds = [r for r in order.refunds if r.cause.value == "cancellation"]
            if order.payment.method is PaymentMethod.COD or not refunds:
                lines.append(T("done.cancel_nothing_to_refund"))
            else:
                refund = refunds[-1]
                lines.append(T("done.cancel_refund", amount=_money(t, order, refund.amount),
                               method=T(f"payment_method.{refund.method.value}"),
                               date=refund.expected_by or t.ctx.now))
        case Action.RETURN:
            lines = [T("done.return", id=outcome.reference or "", item=item.name if item else "",
                       quantity=request.quantity or 1),
                     T("done.return_pickup"), T("done.return_shipping_fee")]
        case Action.REPLACE:
            lines = [T("done.replace", id=outcome.reference or "",
                       item=item.name if item else ""), T("done.replace_pickup")]
        case _:
            lines = [T("done.delivery_address", address=request.address)
                     if request.address else T("done.delivery_date",
                                               date=request.delivery_date or t.ctx.now)]
    t.say(*lines, options=_after_options(t.s))


# ---- hand-off -----------------------------------------------------------------


def _start_handoff(t: _Turn) -> None:
    s = t.s
    order, refusal = s.order, s.refusal
    s.reset_task()
    s.order, s.refusal = order, refusal
    s.step = Step.ASK_ISSUE
    if order:
        t.say(T("handoff.ask_issue_for_order", number=order), options=[_menu_option()])
    else:
        t.say(T("handoff.ask_issue"), options=[_menu_option()])


def _on_issue(t: _Turn, text: str) -> None:
    s = t.s
    issue = text.strip()
    if len(issue) < MIN_ISSUE_LENGTH:
        _miss(t, T("handoff.issue_too_short"))
        return
    order = s.order or intents.order_number(issue)
    t.effect = OpenTicket(
        TicketKind.HANDOFF,
        order,
        order_verified=bool(order and order in s.verified),
        issue=issue[:MAX_ISSUE_LENGTH],
        refusal=s.refusal,
    )


def _on_ticket_opened(t: _Turn, event: TicketOpened) -> None:
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
        t.say(T("handoff.opened", ticket=event.ticket_id), when)
    else:
        _after_task(t)
        t.say(T("request.opened", ticket=event.ticket_id,
                action=_action_name(event.request.action if event.request else None)), when,
              options=_after_options(s))
