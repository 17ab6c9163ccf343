"""The tasks on an order in hand: each asks only for what it still needs, checks
eligibility, asks for confirmation, and reports what the shop did."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from orders import eligibility
from orders.eligibility import Verdict
from orders.models import (
    REPLACEMENT_REASONS,
    Order,
    OrderItem,
    PaymentMethod,
    ReturnReason,
)
from orders.policy import Action

from . import exchange
from .audit import Note, What, carried_once
from .cancel_reasons import ask_cancel_reason
from .catalogue import T, Text
from .effects import (
    ActionRequest,
    Carried,
    CarryOut,
    Event,
    LoadOrder,
    OpenTicket,
    Option,
    ShopRefused,
    ShopUnavailable,
    TicketKind,
    TicketOpened,
)
from .photos import ask_photo
from .refund_destination import ask_refund_destination
from .refund_words import expected_by, timing_line
from .session import Step
from .summaries import confirm_details, paid
from .turn import Turn, action_name, after_options, after_task, menu_option, miss, money
from .views import refund_status, refuse_items, refused, snapshot

MAX_QUANTITY_BUTTONS = 5


DATE_CHOICES = 5


MIN_ADDRESS_LENGTH = 15


MAX_ADDRESS_LENGTH = 300


CHANGES = frozenset({Action.CANCEL, Action.RETURN, Action.REPLACE, Action.DELIVERY,
                     Action.EXCHANGE})
"""The actions that change an order: each is kept in the order's audit log."""

_TASK_STEPS = frozenset({
    Step.PICK_ITEM, Step.PICK_RETURN_OR_REPLACE, Step.PICK_QUANTITY, Step.PICK_REASON,
    Step.PICK_DELIVERY_CHANGE, Step.ASK_ADDRESS, Step.PICK_DATE, Step.CONFIRM,
    Step.PICK_CANCEL_REASON, Step.PICK_REFUND_TO, Step.ASK_PHOTO, Step.PICK_VARIANT,
})


def proceed(t: Turn, order: Order) -> None:
    """Ask the next thing the task needs, or show what it asked for."""
    s = t.s
    if s.action in CHANGES and s.step not in _TASK_STEPS:  # a change, asked just now
        t.note(Note(order.number, _audited(t), What.ASKED))
    match s.action:
        case None | Action.TRACK:
            snapshot(t, order)
        case Action.REFUND:
            refund_status(t, order)
        case Action.CANCEL:
            verdict = eligibility.check_cancel(order, t.ctx.policy, t.ctx.now)
            if _refused(t, verdict, order) or ask_cancel_reason(t, order):
                return
            _confirm(t, ActionRequest(Action.CANCEL, order.number,
                                      cancel_reason=s.cancel_reason), order)
        case Action.RETURN | Action.REPLACE | Action.EXCHANGE:
            _item_task(t, order)
        case Action.DELIVERY:
            _delivery_task(t, order)


def _item_task(t: Turn, order: Order) -> None:
    """A return or replacement: the item, which of the two, how many, why, then confirm."""
    if t.s.item is None and not _choose_item(t, order):
        return
    item = order.item(t.s.item or "")
    if item is None:
        t.s.item = None
        miss(t, T("button.stale"))
        return
    for ask in _ITEM_QUESTIONS:
        if ask(t, order, item):
            return
    _confirm_item(t, order, item)


def _choose_item(t: Turn, order: Order) -> bool:
    """Settle which item, when only one fits; else ask, or refuse (False)."""
    s = t.s
    verdicts = {item.line_id: _item_verdict(t, order, item.line_id) for item in order.items}
    possible = [i for line, v in verdicts.items() if v.ok and (i := order.item(line))]
    if not possible:
        if len(order.items) == 1:
            _refused(t, verdicts[order.items[0].line_id], order)
        else:
            codes = sorted({v.reason.value for v in verdicts.values()})
            t.note(Note(order.number, _audited(t), What.NOT_ELIGIBLE, ", ".join(codes)))
            refuse_items(t, order, verdicts)
        return False
    if len(possible) > 1:
        s.step = Step.PICK_ITEM
        action = T("action.return_or_replace_item") if s.either_return_or_replace else (
            action_name(s.action))
        t.say(T("item.pick", action=action, number=order.number), options=[
            *(Option(T("item.button", name=i.name, quantity=i.quantity), f"i:{i.line_id}")
              for i in possible), menu_option()])
        return False
    s.item = possible[0].line_id
    return True


def _ask_return_or_replace(t: Turn, order: Order, item: OrderItem) -> bool:
    """Money back, the same item again, or (where offered) another size or colour:
    asked when more than one is possible, else the one that is."""
    s, ctx = t.s, t.ctx
    if not s.either_return_or_replace:
        return False
    choices = [(action, option) for action, ok, option in (
        (Action.RETURN, eligibility.check_return(order, item.line_id, 1, ctx.policy,
                                                 ctx.now).ok,
         Option(T("rr.return"), "rr:return")),
        (Action.REPLACE, eligibility.check_replacement(order, item.line_id, None, ctx.policy,
                                                       ctx.now).ok,
         Option(T("rr.replace"), "rr:replace")),
        (Action.EXCHANGE, exchange.offered(t, order, item), exchange.exchange_option()),
    ) if ok]
    if len(choices) > 1:
        s.step = Step.PICK_RETURN_OR_REPLACE
        question = T("rr.pick_any", item=item.name) if any(
            a is Action.EXCHANGE for a, _ in choices) else T("rr.pick", item=item.name)
        t.say(question, options=[*(o for _, o in choices), menu_option()])
        return True
    s.action = choices[0][0] if choices else Action.RETURN
    s.either_return_or_replace = False
    return False


def _ask_quantity(t: Turn, order: Order, item: OrderItem) -> bool:
    s = t.s
    if s.quantity is not None:
        return False
    most = (eligibility.returnable_quantity(order, item.line_id)
            if s.action in (Action.RETURN, Action.EXCHANGE) else item.quantity)
    if most <= 1:
        s.quantity = 1
        return False
    s.step = Step.PICK_QUANTITY
    t.say(T("quantity.pick", item=item.name, most=most), options=[
        *(Option(T("quantity.button", n=n), f"q:{n}")
          for n in range(1, min(most, MAX_QUANTITY_BUTTONS) + 1)), menu_option()])
    return True


def _ask_reason(t: Turn, order: Order, item: OrderItem) -> bool:
    s = t.s
    if s.reason is not None or s.action is Action.EXCHANGE:  # any reason: a size, a colour
        return False
    reasons = list(ReturnReason) if s.action is Action.RETURN else [
        r for r in ReturnReason if r in REPLACEMENT_REASONS]
    # "exchange it for a bigger size" reads as a replacement: its reasons are all damage,
    # so where the item can be exchanged, that is offered alongside
    other = [exchange.exchange_option()] if s.action is Action.REPLACE and exchange.offered(
        t, order, item) else []
    s.step = Step.PICK_REASON
    t.say(T("reason.pick", item=item.name), options=[
        *(Option(T(f"return_reason.{r.value}"), f"r:{r.value}") for r in reasons), *other,
        menu_option()])
    return True


_ITEM_QUESTIONS: tuple[Callable[[Turn, Order, OrderItem], bool], ...] = (
    _ask_return_or_replace, _ask_quantity, exchange.ask_variant, _ask_reason,
    ask_refund_destination,
)
"""What a return, replacement or exchange still needs, in order: each asks (True) or passes."""


def _confirm_item(t: Turn, order: Order, item: OrderItem) -> None:
    s, ctx = t.s, t.ctx
    if s.action is Action.EXCHANGE:
        _confirm_exchange(t, order, item)
        return
    quantity = s.quantity or 1
    if s.action is Action.RETURN:
        verdict = eligibility.check_return(order, item.line_id, quantity, ctx.policy, ctx.now)
    else:
        verdict = eligibility.check_replacement(order, item.line_id, s.reason, ctx.policy, ctx.now)
        if verdict.ok and quantity > item.quantity:
            s.quantity = None
            miss(t, T("quantity.too_many", most=item.quantity))
            return
    if _refused(t, verdict, order, item.name) or ask_photo(t, order, item):
        return
    assert s.action is not None
    _confirm(t, ActionRequest(s.action, order.number, item.line_id, s.quantity, s.reason,
                              refund_to=s.refund_to if s.action is Action.RETURN else None),
             order)


def _confirm_exchange(t: Turn, order: Order, item: OrderItem) -> None:
    verdict, request = exchange.exchange_request(t, order, item)
    if not _refused(t, verdict, order, item.name) and request is not None:
        _confirm(t, request, order)


def _item_verdict(t: Turn, order: Order, line_id: str) -> Verdict:
    """Whether this item can go through the task: for "return or replace", the first
    of return, replacement and (where offered) exchange that can; else the return's no."""
    ctx = t.ctx
    checks: dict[Action, Callable[[], Verdict]] = {
        Action.RETURN: lambda: eligibility.check_return(order, line_id, 1, ctx.policy, ctx.now),
        Action.REPLACE: lambda: eligibility.check_replacement(order, line_id, None, ctx.policy,
                                                              ctx.now),
        Action.EXCHANGE: lambda: eligibility.check_exchange(order, line_id, ctx.policy, ctx.now),
    }
    if not t.s.either_return_or_replace and t.s.action in checks:
        return checks[t.s.action]()
    if Action.EXCHANGE not in ctx.supports:
        del checks[Action.EXCHANGE]
    verdicts = [check() for check in checks.values()]
    return next((v for v in verdicts if v.ok), verdicts[0])


def _delivery_task(t: Turn, order: Order) -> None:
    s, ctx = t.s, t.ctx
    if _refused(t, eligibility.check_delivery_change(order, ctx.policy, ctx.now), order):
        return
    if s.step is Step.ASK_ADDRESS and s.new_address is None:
        t.say(T("delivery.ask_address"), options=[menu_option()])
        return
    if s.step is Step.PICK_DATE and s.new_date is None:
        start = max(ctx.now.date() + timedelta(days=1),
                    min((p.estimated_delivery for p in order.packages), default=ctx.now.date()))
        days = [start + timedelta(days=n) for n in range(DATE_CHOICES)]
        t.say(T("delivery.pick_date"), options=[
            *(Option(T("delivery.date_button", date=d), f"dt:{d.isoformat()}") for d in days),
            menu_option()])
        return
    if s.new_address is None and s.new_date is None:
        s.step = Step.PICK_DELIVERY_CHANGE
        t.say(T("delivery.pick"), options=[
            Option(T("delivery.address"), "d:address"), Option(T("delivery.date"), "d:date"),
            menu_option()])
        return
    _confirm(t, ActionRequest(Action.DELIVERY, order.number, address=s.new_address,
                              delivery_date=s.new_date), order)


def on_address(t: Turn, text: str) -> None:
    address = " ".join(text.split())
    if not (MIN_ADDRESS_LENGTH <= len(address) <= MAX_ADDRESS_LENGTH) or not any(
        ch.isdigit() for ch in address
    ):
        miss(t, T("delivery.address_format", most=MAX_ADDRESS_LENGTH))
        return
    t.s.new_address = address
    t.effect = LoadOrder(t.s.order or "")


def _refused(t: Turn, verdict: Verdict, order: Order, item: str | None = None) -> bool:
    """`views.refused`, noting the refusal's reason code in the order's audit log."""
    action = _audited(t)
    if not refused(t, verdict, order, item):
        return False
    t.note(Note(order.number, action, What.NOT_ELIGIBLE, verdict.reason.value))
    return True


def _audited(t: Turn) -> str:
    """The action's name in the audit log."""
    s = t.s
    if s.either_return_or_replace:
        return "return_or_replace"
    return s.action.value if s.action else ""


def _confirm(t: Turn, request: ActionRequest, order: Order) -> None:
    s = t.s
    if s.step is not Step.CONFIRM:  # not when the question is only asked again
        t.note(Note(order.number, request.action.value, What.ELIGIBLE))
    s.step = Step.CONFIRM
    automatic = t.ctx.policy.is_automatic(request.action, t.ctx.supports) and (
        not request.for_staff)
    summary = _summary(t, request, order)
    how = T("confirm.automatic") if automatic else T("confirm.request")
    t.say(summary, *confirm_details(t, request, order), how,
          options=[Option(T("button.yes"), "yes"), Option(T("button.no"), "no")])


def _summary(t: Turn, request: ActionRequest, order: Order) -> Text:
    """The change in one sentence: "Replace 1 × Kurta from order #100008 (damaged)?"."""
    item = order.item(request.line_id or "")
    return T(
        f"confirm.{request.action.value}",
        number=order.number,
        item=item.name if item else "",
        quantity=request.quantity or 0,
        reason=T(f"return_reason.{request.reason.value}") if request.reason else "",
        address=request.address or "",
        date=request.delivery_date or t.ctx.now,
        variant=request.variant or "",
    )


def confirmed(t: Turn) -> None:
    s = t.s
    if s.action is None or s.order is None:
        miss(t, T("button.stale"))
        return
    request = exchange.request_from(s, s.order) if s.action is Action.EXCHANGE else (
        ActionRequest(s.action, s.order, s.item, s.quantity, s.reason, s.new_address,
                      s.new_date, s.cancel_reason,
                      s.refund_to if s.action is Action.RETURN else None))
    t.note(Note(s.order, request.action.value, What.CONFIRMED, _details(request)))
    if t.ctx.policy.is_automatic(request.action, t.ctx.supports) and not request.for_staff:
        t.effect = CarryOut(request)
    else:
        t.effect = OpenTicket(TicketKind.REQUEST, s.order, True, request=request)


def _details(request: ActionRequest) -> str:
    """What was confirmed, in codes: never the address itself (personal data)."""
    parts = [("line {}", request.line_id), ("quantity {}", request.quantity),
             ("{}", request.reason.value if request.reason else None),
             ("new address", request.address), ("new date {}", request.delivery_date),
             ("reason {}", request.cancel_reason), ("refund to {}", request.refund_to),
             ("variant {}", request.variant_id), ("difference {}", request.price_difference)]
    return ", ".join(words.format(value) for words, value in parts if value)


def note_outcome(t: Turn, event: Event) -> None:
    """What became of a confirmed change, for the order's audit log."""
    match event:
        case Carried(request=r, outcome=outcome):
            t.note(Note(r.number, r.action.value, What.CARRIED_OUT, outcome.reference or "",
                        once=carried_once(r.idempotency_key, outcome.reference)))
        case ShopRefused(request=r):
            t.note(Note(r.number, r.action.value, What.SHOP_REFUSED))
        case ShopUnavailable(request=ActionRequest() as r):
            t.note(Note(r.number, r.action.value, What.SHOP_UNAVAILABLE))
        case TicketOpened(kind=TicketKind.REQUEST, request=ActionRequest() as r):
            t.note(Note(r.number, r.action.value, What.REQUESTED, event.ticket_id,
                        once=f"requested:{event.ticket_id}"))


def _cancel_done(t: Turn, order: Order) -> list[Text]:
    """A cancel done: what happens to the money (nothing for cash on delivery)."""
    lines = [T("done.cancel", number=order.number)]
    refunds = [r for r in order.refunds if r.cause.value == "cancellation"]
    if order.payment.method is PaymentMethod.COD:
        lines.append(T("done.cancel_nothing_to_refund"))
    elif not refunds:  # prepaid, and the shop has not recorded the refund yet
        method = T(f"payment_method.{order.payment.method.value}")
        if paid(order):
            lines += [T("done.cancel_refund_soon", method=method),
                      timing_line(t, order.payment.method.value)]
        else:
            lines.append(T("done.cancel_unpaid", method=method))
    else:
        refund = refunds[-1]
        lines.extend((T("done.cancel_refund", amount=money(t, order, refund.amount),
                       method=T(f"payment_method.{refund.method.value}"),
                       date=refund.expected_by or expected_by(
                           t, refund.method.value, t.ctx.now.date())),
                      timing_line(t, refund.method.value)))
    return lines


def on_carried(t: Turn, event: Carried) -> None:
    request, outcome = event.request, event.outcome
    order = outcome.order
    t.s.refusal = None
    after_task(t)
    if request.action is Action.EXCHANGE:
        exchange.exchange_done(t, request, outcome)
        return
    item = order.item(request.line_id or "")
    match request.action:
        case Action.CANCEL:
            lines = _cancel_done(t, order)
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
    t.say(*lines, options=after_options(t.s))
