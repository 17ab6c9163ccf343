"""What this process counts for `GET /metrics`: prometheus_client instruments.

They live in prometheus_client's default registry, defined once here at import, as
its documentation does: counting is one line where something happens
(`metrics.TURNS.labels(...).inc()`), with no object to pass through every layer.
This module imports only prometheus_client and conversation types, so
`conversation/` and `channels/` count without knowing HTTP (`observe.observed_turn`
counts the turns); `app/metrics.py`
serves the numbers, adds those of the other processes (each one publishes its
own to Redis) and the figures read from Redis at scrape time (outbox depth,
tickets by status, the worker's heartbeat).

Labels are closed sets (a channel, an outcome, an action, a reason code): never
a conversation, an order number, or anything a shopper typed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from prometheus_client import Counter, Histogram, disable_created_metrics

disable_created_metrics()  # type: ignore[no-untyped-call]  # the `_created` twin of every counter doubles the output for nothing

TURNS = Counter(
    "orderhelp_turns", "Shopper messages handled, by channel and outcome: answered, "
    "duplicate (a redelivery), with_staff (a person has the conversation), busy, "
    "unavailable (Redis), error", ["channel", "outcome"])
TURN_SECONDS = Histogram(
    "orderhelp_turn_seconds", "Time to handle one shopper message, from the engine's start "
    "to its answer (shop API calls included)", ["channel"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
WEBHOOK_REFUSED = Counter(
    "orderhelp_webhook_refused", "Webhook calls refused because their signature or token "
    "did not verify (401/403)", ["webhook"])
STORE_ERRORS = Counter(
    "orderhelp_store_errors", "Calls that found a store unreachable or failing",
    ["store"])  # redis, database
DELIVERIES = Counter(
    "orderhelp_deliveries", "Outbox delivery attempts by result: sent, retried (failed, "
    "tried again later), rate_limited (held for the provider's or a chat's pace), failed "
    "(refused for good, e.g. the shopper blocked the bot), dead_lettered (retries used up)",
    ["channel", "result"])
PROVIDER_THROTTLED = Counter(
    "orderhelp_provider_throttled", "429 answers from a provider's API", ["provider"])
TICKETS_OPENED = Counter(
    "orderhelp_tickets_opened", "Tickets opened: hand-offs to a person and requests for "
    "staff", ["kind", "channel"])
CHANGES = Counter(
    "orderhelp_changes", "Order changes by result (carried_out, not_eligible, "
    "shop_refused, shop_unavailable, requested, approved, declined); reason: the "
    "eligibility code of a refusal", ["action", "result", "reason"])
NOTIFICATIONS = Counter(
    "orderhelp_notifications", "Shipping notifications queued for shoppers", ["channel"])

_COUNTED_CHANGES = frozenset({  # `audit.What` values (audit imports this module)
    "carried_out", "not_eligible", "shop_refused", "shop_unavailable", "requested",
    "approved", "declined",
})


class Noted(Protocol):
    @property
    def action(self) -> str: ...
    @property
    def what(self) -> str: ...
    @property
    def detail(self) -> str: ...


def count_changes(entries: Iterable[Noted]) -> None:
    """The outcomes among audit entries as they are written (a retried turn may
    count twice; the audit log itself keeps a change once)."""
    for entry in entries:
        if entry.what in _COUNTED_CHANGES:
            reason = entry.detail if entry.what == "not_eligible" else ""
            CHANGES.labels(entry.action, str(entry.what), reason).inc()
