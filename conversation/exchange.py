"""An exchange for another variant (a size, a colour) of the same product, offered
under "Return or replace" where the back-end does exchanges (`Action.EXCHANGE` in
its `supports`) and the item passes `eligibility.check_exchange`.

The steps, each a small function the task runner (`tasks`) calls in turn:
1. `exchange_option`: the "Exchange for another size or colour" button;
2. `ask_variant`: the product's variants are read (`LoadVariants`, answered by
   `OrderLoaded` with the variants) and those in stock are offered as buttons, each with its price
   difference ("Indigo, L · ₹200.00 more");
3. `pick_variant` (a tap) notes the choice; the order and the variants are read
   again, so the confirmation states today's price and stock;
4. `exchange_request`: the item, the new variant and the difference are said before
   the shopper says yes ("The new size costs ₹200.00 more; you will get a payment
   link"); refusals (out of stock, the one-replacement-or-exchange limit, the window)
   say why in words;
5. `exchange_done`: what the shop created, what to pay or what comes back, and a
   payment link button when the shop gave one.
"""

from __future__ import annotations

from decimal import Decimal

from orders import eligibility
from orders.backend import ActionOutcome
from orders.eligibility import Verdict
from orders.models import (
    Order,
    OrderItem,
    PaymentMethod,
    Replacement,
    ReplacementStatus,
    ReturnReason,
    Variant,
)
from orders.policy import Action

from .catalogue import T, Text
from .effects import ActionRequest, Link, LoadVariants, Option
from .session import Session, Step
from .turn import Turn, after_options, after_task, agent_option, menu_option, money

VARIANT_PAYLOAD = "v"
MAX_PAYLOAD_BYTES = 64
"""Telegram's limit on a button's callback data; a longer variant id is not offered."""
MAX_VARIANT_BUTTONS = 8


def offered(t: Turn, order: Order, item: OrderItem) -> bool:
    """Whether this item can be exchanged here: the back-end does exchanges, the
    policy allows them, and the item qualifies (`check_exchange`)."""
    ctx = t.ctx
    return Action.EXCHANGE in ctx.supports and eligibility.check_exchange(
        order, item.line_id, ctx.policy, ctx.now).ok


def exchange_option() -> Option:
    return Option(T("rr.exchange"), "rr:exchange")


def ask_variant(t: Turn, order: Order, item: OrderItem) -> bool:
    """Which variant (True: asked, or reading the variants first); False once chosen
    and the variants are at hand, so the confirmation comes next."""
    s = t.s
    if s.action is not Action.EXCHANGE:
        return False
    if t.variants is None:
        t.effect = LoadVariants(order.number, item.line_id)
        return True
    if s.variant is not None:
        return False
    choices = [v for v in t.variants if v.in_stock and len(
        f"{VARIANT_PAYLOAD}:{v.variant_id}".encode()) <= MAX_PAYLOAD_BYTES]
    if not choices:
        _none_in_stock(t, item)
        return True
    s.step = Step.PICK_VARIANT
    t.say(T("exchange.pick", item=item.name), options=[
        *(Option(T("exchange.variant_button", variant=v.title,
                   difference=_difference_words(t, order, v.unit_price - item.unit_price)),
                 f"{VARIANT_PAYLOAD}:{v.variant_id}")
          for v in choices[:MAX_VARIANT_BUTTONS]),
        menu_option()])
    return True


def _none_in_stock(t: Turn, item: OrderItem) -> None:
    """Nothing in stock to exchange for: say so, and offer the money back instead."""
    after_task(t)
    t.say(T("exchange.none_in_stock", item=item.name),
          options=[Option(T("rr.return"), f"a:return:{t.s.order}"), agent_option(),
                   menu_option()])


def pick_variant(t: Turn, value: str) -> None:
    t.s.variant = value


def exchange_request(t: Turn, order: Order, item: OrderItem
                     ) -> tuple[Verdict, ActionRequest | None]:
    """The request to confirm, with today's price and stock of the chosen variant;
    or the refusal (the task runner says it in words and notes it)."""
    s, ctx = t.s, t.ctx
    variant = next((v for v in t.variants or () if v.variant_id == s.variant), None)
    verdict = eligibility.check_exchange(order, item.line_id, ctx.policy, ctx.now)
    if verdict.ok:
        verdict = eligibility.check_variant(order, item.line_id, variant)
    if not verdict.ok or variant is None:
        return verdict, None
    quantity = s.quantity or 1
    s.variant_title = variant.title
    s.price_difference = str((variant.unit_price - item.unit_price) * quantity)
    s.variant_kind = kind_of(item, variant)
    return verdict, request_from(s, order.number)


def request_from(s: Session, number: str) -> ActionRequest:
    """The exchange the session holds, as a request (the confirmed one is rebuilt so)."""
    return ActionRequest(Action.EXCHANGE, number, s.item, s.quantity or 1,
                         variant_id=s.variant, variant=s.variant_title,
                         price_difference=s.price_difference, kind=s.variant_kind)


def kind_of(item: OrderItem, variant: Variant) -> str:
    """What changes: "size", "colour", or "variant" (both, or other options)."""
    changed = {k for k in item.options.keys() | variant.options.keys()
               if item.options.get(k) != variant.options.get(k)}
    return changed.pop() if changed in ({"size"}, {"colour"}) else "variant"


def _difference_words(t: Turn, order: Order, difference: Decimal) -> Text:
    if difference > 0:
        return T("exchange.diff_more", amount=money(t, order, difference))
    if difference < 0:
        return T("exchange.diff_less", amount=money(t, order, -difference))
    return T("exchange.diff_same")


def price_line(t: Turn, request: ActionRequest, order: Order) -> Text:
    """The difference before the yes: who pays what, and how."""
    difference = Decimal(request.price_difference or "0")
    kind = T(f"exchange.kind.{request.kind or 'variant'}")
    if difference > 0:
        return T("exchange.more", kind=kind, amount=money(t, order, difference))
    if difference < 0:
        return _refund_line(t, order, kind, -difference)
    return T("exchange.same", kind=kind)


def _refund_line(t: Turn, order: Order, kind: Text, amount: Decimal) -> Text:
    if order.payment.method is PaymentMethod.COD:
        return T("exchange.less_cod", kind=kind, amount=money(t, order, amount))
    return T("exchange.less", kind=kind, amount=money(t, order, amount),
             method=T(f"payment_method.{order.payment.method.value}"))


def exchange_done(t: Turn, request: ActionRequest, outcome: ActionOutcome) -> None:
    """What the shop created: its id, the new variant, and the money either way."""
    order = outcome.order
    made = _made(t, request, outcome)
    item = order.item(request.line_id or "")
    lines = [T("done.exchange", id=made.replacement_id, item=item.name if item else "",
               variant=made.new_variant or request.variant or "")]
    money_lines, links = _settling(t, order, made, request.kind)
    t.say(*lines, *money_lines, T("done.replace_pickup"), options=after_options(t.s),
          links=links)


def _made(t: Turn, request: ActionRequest, outcome: ActionOutcome) -> Replacement:
    """The exchange as the shop recorded it; as confirmed, if the shop's order does
    not show it (yet)."""
    asked = Replacement(
        replacement_id=outcome.reference or "", line_id=request.line_id or "",
        quantity=request.quantity or 1, reason=ReturnReason.OTHER,
        status=ReplacementStatus.REQUESTED, created_at=t.ctx.now, new_variant=request.variant,
        price_difference=Decimal(request.price_difference or "0"))
    return next((r for r in outcome.order.replacements
                 if r.replacement_id == outcome.reference), asked)


def _settling(t: Turn, order: Order, made: Replacement, kind: str | None
              ) -> tuple[list[Text], list[Link]]:
    """The difference after the exchange: pay it (with the shop's link when it gave
    one), or where it is refunded."""
    difference = made.price_difference or Decimal(0)
    if difference > 0 and made.payment_url:
        return ([T("done.exchange_pay", amount=money(t, order, difference))],
                [Link(T("link.pay_difference"), made.payment_url)])
    if difference > 0:
        return [T("done.exchange_pay_link_soon", amount=money(t, order, difference))], []
    if difference < 0:
        return [_refund_line(t, order, T(f"exchange.kind.{kind or 'variant'}"), -difference)], []
    return [], []
