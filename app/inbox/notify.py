"""The staff notification webhook: "a new ticket is waiting", to Slack or anything
that takes Slack's incoming-webhook body, `{"text": "..."}`.

The engine queues one outbox message per new ticket on the `staff_webhook`
channel (conversation `staff:notifications`), so a notification gets what every
outbox message gets: retries with back-off, order, dead letters, and survival of
a crash or restart. This module is that channel's sender: one pooled httpx client
per process, opened and closed with the worker. The body names the ticket id, its
kind, channel and order number, and links to the ticket page; never anything the
shopper wrote, and never their phone or email.

A 2xx is delivered. 429 and 5xx (and network errors) are retried; any other 4xx
(a wrong or revoked URL) will not get better, so it is `Undeliverable` and
dead-lettered at once. The URL carries a secret and is never logged.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from app.settings import Settings
from conversation.outbox import Deliver, DeliveryError, OutboxMessage, Undeliverable
from conversation.types import Channel

log = logging.getLogger(__name__)

TIMEOUT_S = 10.0


def slack_text(message: OutboxMessage, public_url: str) -> str:
    lines = []
    for reply in message.replies:
        links = " ".join(f"<{public_url}{link.url}|{link.label}>" if link.url.startswith("/")
                         else f"<{link.url}|{link.label}>" for link in reply.links)
        lines.append(f"{reply.text} {links}".strip())
    return "\n".join(lines)


def webhook_sender(client: httpx.AsyncClient, url: str, public_url: str) -> Deliver:
    async def deliver(message: OutboxMessage) -> None:
        response = await client.post(url, json={"text": slack_text(message, public_url)})
        if response.is_success:
            return
        if response.status_code == 429 or response.status_code >= 500:
            raise DeliveryError(f"the staff webhook answered {response.status_code}")
        raise Undeliverable(f"the staff webhook answered {response.status_code}")

    return deliver


@asynccontextmanager
async def open_staff_senders(
    settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
) -> AsyncIterator[dict[Channel, Deliver]]:
    """The staff webhook's sender when `INBOX_NOTIFY_URL` is set; else nothing
    (and the engine queues no notifications)."""
    if settings.inbox_notify_url is None:
        yield {}
        return
    async with httpx.AsyncClient(timeout=TIMEOUT_S, transport=transport,
                                 follow_redirects=False) as client:
        url = settings.inbox_notify_url.get_secret_value()
        yield {Channel.STAFF_WEBHOOK: webhook_sender(client, url, settings.public_url)}
