"""Showing an order: its snapshot, its refunds, and refusals that say why, in facts."""

from __future__ import annotations

from orders import eligibility
from orders.eligibility import Verdict
from orders.models import (
    Fulfilment,
    Order,
    OrderStatus,
    Package,
    PackageStatus,
    PaymentMethod,
    RefundStatus,
    ReturnStatus,
)
from orders.policy import Action

from .catalogue import T, Text
from .effects import (
    Link,
    Option,
)
from .lateness import answer_late
from .payment_words import payment_lines, retry_links
from .refund_words import expected_by, timing_line
from .session import Step
from .turn import (
    ACTIONS_BY_PAYLOAD,
    STOP_UPDATES,
    Turn,
    action_name,
    after_options,
    after_task,
    agent_option,
    menu_option,
    money,
)

_ENDED = frozenset({OrderStatus.CANCELLED, OrderStatus.PAYMENT_FAILED, OrderStatus.DELIVERED})


def snapshot(t: Turn, order: Order) -> None:
    """The order at a glance: header, items, payment, each package, returns, refunds."""
    s = t.s
    s.step = Step.SNAPSHOT
    s.action = None
    lines = _order_lines(t, order)
    lines.extend(payment_lines(t, order))
    links: list[Link] = retry_links(order)
    package_lines, package_links = _packages(order)
    lines.extend(package_lines)
    links.extend(package_links)
    lines.extend(_money_back_lines(t, order))
    if s.late_check:  # "my parcel is late": the answer to that, instead of every action
        s.late_check = False
        t.say(*lines, links=links)
        answer_late(t, order)
        return
    t.say(*lines, options=_order_actions(t, order), links=links)


def _packages(order: Order) -> tuple[list[Text], list[Link]]:
    """Each package's lines, and its tracking link where there is one."""
    lines: list[Text] = []
    links: list[Link] = []
    packages = order.packages
    if order.status is OrderStatus.CANCELLED:  # a parcel that never left is not news
        packages = [p for p in packages if p.status is not PackageStatus.AT_WAREHOUSE]
    count = len(packages)
    for index, package in enumerate(packages, start=1):
        lines.extend(_package_lines(order, package, index, count))
        if package.tracking_url and order.fulfilment is not Fulfilment.STORE_PICKUP:
            links.append(Link(T("link.track", index=index) if count > 1 else T("link.track_one"),
                              package.tracking_url))
    if not order.packages and order.status not in _ENDED:
        lines.append(T("snapshot.not_shipped"))
    return lines, links


def _order_lines(t: Turn, order: Order) -> list[Text]:
    total = sum((i.unit_price * i.quantity for i in order.items), order.shipping_fee)
    return [
        T("snapshot.header", number=order.number, date=order.placed_at,
          status=T(f"order_status.{order.status.value}")),
        *(T("snapshot.item", name=i.name, quantity=i.quantity) for i in order.items),
        T("snapshot.payment", method=T(f"payment_method.{order.payment.method.value}"),
          status=T(f"payment_status.{order.payment.status.value}"),
          amount=money(t, order, total)),
    ]


def _package_lines(order: Order, package: Package, index: int, count: int) -> list[Text]:
    names = ", ".join(i.name for i in order.items if i.line_id in package.line_ids)
    lines = [T("snapshot.package", index=index, count=count, items=names,
               status=T(f"package_status.{package.status.value}"))]
    if package.carrier:
        lines.append(T("snapshot.carrier", carrier=package.carrier,
                       tracking=package.tracking_number or "-"))
    if package.events:
        lines.append(_last_event(package))
    if package.delivered_at:
        lines.append(T("snapshot.delivered_on", date=package.delivered_at))
    elif package.status is PackageStatus.READY_FOR_PICKUP:
        lines.append(T("snapshot.ready_for_pickup", store=order.pickup_store or ""))
    elif package.status not in (PackageStatus.RETURNED_TO_ORIGIN, PackageStatus.LOST):
        lines.append(T("snapshot.eta", date=package.estimated_delivery))
    return lines


def _last_event(package: Package) -> Text:
    """What the carrier said last: our word for its status, else its own words verbatim."""
    last = max(package.events, key=lambda e: e.at)
    what = (T(f"package_status.{last.status.value}") if last.status is not None
            else last.carrier_status or last.description or "-")
    return T("snapshot.last_event", at=last.at, location=last.location, what=what)


def _money_back_lines(t: Turn, order: Order) -> list[Text]:
    lines = [T("snapshot.return", id=ret.return_id, status=T(f"return_status.{ret.status.value}"))
             for ret in order.returns]
    lines.extend(T("snapshot.refund", amount=money(t, order, refund.amount),
                   status=T(f"refund_status.{refund.status.value}"))
                 for refund in order.refunds)
    return lines


def _order_actions(t: Turn, order: Order) -> list[Option]:
    """Only the actions that fit this order now: a compact, honest set of buttons."""
    ctx = t.ctx
    options = []
    for name in ("cancel", "return", "replace", "delivery", "refund"):
        action = ACTIONS_BY_PAYLOAD[name]
        if eligibility.fits(order, action, ctx.policy, ctx.now):
            options.append(Option(T(f"menu.{name}"), f"a:{name}:{order.number}"))
    if order.number in t.s.following:  # already kept posted: offer the way out instead
        options.append(Option(T("notify.stop_button"), STOP_UPDATES))
    elif worth_following(order):
        options.append(Option(T("button.keep_posted"), f"n:{order.number}"))
    return [*options, agent_option(), menu_option()]


_PACKAGE_ENDS = frozenset({
    PackageStatus.DELIVERED, PackageStatus.RETURNED_TO_ORIGIN, PackageStatus.LOST,
})


def worth_following(order: Order) -> bool:
    """Something may still happen that a shopper would be told about: a package
    not at an end (or none shipped yet) on a live order, or a refund under way."""
    if any(r.status is RefundStatus.PROCESSING for r in order.refunds):
        return True
    if order.status in (OrderStatus.CANCELLED, OrderStatus.PAYMENT_FAILED):
        return False
    return not order.packages or any(p.status not in _PACKAGE_ENDS for p in order.packages)


def refund_status(t: Turn, order: Order) -> None:
    verdict = eligibility.check_refund(order)
    if refused(t, verdict, order):
        return
    lines = [T("refund.header", number=order.number), *_refund_lines(t, order),
             *_return_lines(order)]
    waiting = {r.method.value for r in order.refunds if r.status is not RefundStatus.COMPLETED}
    if order.payment.method is PaymentMethod.COD:
        waiting.add(PaymentMethod.COD.value)
    lines.extend(timing_line(t, method) for method in sorted(waiting))
    after_task(t)
    t.say(*lines, options=after_options(t.s))


def _refund_lines(t: Turn, order: Order) -> list[Text]:
    lines = []
    for refund in order.refunds:
        method = T(f"payment_method.{refund.method.value}")
        amount = money(t, order, refund.amount)
        if refund.status is RefundStatus.COMPLETED:
            lines.append(T("refund.completed", amount=amount, method=method,
                           date=refund.completed_at or refund.initiated_at or t.ctx.now))
        elif refund.status is RefundStatus.PROCESSING:
            start = (refund.initiated_at or t.ctx.now).date()
            lines.append(T("refund.processing", amount=amount, method=method,
                           date=refund.expected_by
                           or expected_by(t, refund.method.value, start)))
        else:
            lines.append(T("refund.not_started", amount=amount, method=method))
    return lines


def _return_lines(order: Order) -> list[Text]:
    """Returns whose refund is still to come, and those rejected (no refund)."""
    lines = []
    for ret in order.returns:
        if ret.refund_id is None and ret.status not in (ReturnStatus.REJECTED,
                                                        ReturnStatus.COMPLETED):
            lines.append(T("refund.after_return", id=ret.return_id,
                           status=T(f"return_status.{ret.status.value}")))
        if ret.status is ReturnStatus.REJECTED:
            lines.append(T("refund.return_rejected", id=ret.return_id,
                           why=ret.rejection_reason or "-"))
    return lines


def refused(t: Turn, verdict: Verdict, order: Order, item: str | None = None) -> bool:
    """Say why not, and offer a person who will know why too."""
    if verdict.ok:
        return False
    s = t.s
    what = action_name(s.action, s.either_return_or_replace)
    cancelling = s.action is Action.CANCEL
    reason = T(f"reason.{verdict.reason.value}", **_facts(verdict))
    s.refusal = f"{verdict.reason.value}: {_facts_text(verdict)}"
    after_task(t)
    lines = [T("refusal.header", action=what, number=order.number)]
    if item:
        lines.append(T("refusal.item", item=item))
    lines.append(reason)
    if cancelling and verdict.reason.value == "already_shipped":
        lines.append(T("refusal.cancel_after_shipping"))
    links = [Link(T("link.return_policy"), url)] if (url := _policy_url(t, verdict)) else []
    t.say(*lines, T("refusal.offer_person"),
          options=[Option(T("button.agent_with_reason"), "agent"), *after_options(s)],
          links=links)
    return True


def _policy_url(t: Turn, verdict: Verdict) -> str | None:
    if verdict.reason.value in ("window_closed", "not_returnable"):
        return t.ctx.return_policy_url
    return None


FACT_WORDS = {
    "window_starts": "window_starts",
    "order_status": "order_status",
    "package_status": "package_status",
    "payment_method": "payment_method",
    "reason": "return_reason",
    "fulfilment": "fulfilment",
    "action": "action",
    "limit": "replacement_limit",
}


def _facts(verdict: Verdict) -> dict[str, object]:
    """The facts of a verdict as sentence parts: codes become words in the shopper's language."""
    return {
        name: T(f"{FACT_WORDS[name]}.{value}") if name in FACT_WORDS else value
        for name, value in verdict.facts.items()
    }


def _facts_text(verdict: Verdict) -> str:
    return "; ".join(f"{k}={v}" for k, v in verdict.facts.items())


def refuse_items(t: Turn, order: Order, verdicts: dict[str, Verdict]) -> None:
    s = t.s
    lines: list[Text] = [T("refusal.header", action=action_name(s.action,
                                                                 s.either_return_or_replace),
                           number=order.number)]
    for line_id, verdict in verdicts.items():
        item = order.item(line_id)
        lines.append(T("refusal.item_reason", item=item.name if item else line_id,
                       reason=T(f"reason.{verdict.reason.value}", **_facts(verdict))))
    s.refusal = "; ".join(f"{line}: {v.reason.value} ({_facts_text(v)})"
                          for line, v in verdicts.items())
    after_task(t)
    t.say(*lines, T("refusal.offer_person"),
          options=[Option(T("button.agent_with_reason"), "agent"), *after_options(s)])
