"""Sending WhatsApp messages through Twilio's REST API: the outbox's deliver
function for proactive messages (staff replies, "your request was resolved") and
for turns answered with Content templates.

The `twilio` client is used with its async API over `AiohttpTwilioClient`
(`channels.twilio_transport`): one pooled keep-alive session, a timeout on every
request, no blocking call on the event loop. Its base URL is `client.api.base_url`,
the library's own attribute for the `api.twilio.com` domain, set from `TWILIO_API_URL`, so tests
point it at a local fake.

The 24-hour customer-service window: WhatsApp lets a business send free-form
messages only within 24 hours of the shopper's last message (the webhook records
when that was, in `Reachability`). Outside it, the sender uses the merchant's
approved `out_of_window` template if there is one; otherwise it raises
`Undeliverable` with the reason ("the shopper must write first"), which the outbox
keeps with the dead letter and the app notes on the conversation's open ticket.

Errors: Twilio's 429 and 5xx and network failures are `ChannelUnavailable`
(retried); any other refusal is `Undeliverable` with Twilio's error code (63016:
outside the window).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import redis.asyncio as aioredis
from twilio.base.exceptions import TwilioRestException
from twilio.http import AsyncHttpClient
from twilio.rest import Client

from channels.authorship import signed
from channels.reachability import Reachability
from channels.twilio_transport import TwilioUnreachable
from channels.whatsapp_content import ContentTemplates, WhatsAppMessage, out_of_window, plan
from conversation import metrics
from conversation.outbox import ChannelUnavailable, OutboxMessage, Undeliverable
from conversation.scripts import Command, turn_batch

log = logging.getLogger(__name__)

WINDOW = timedelta(hours=24)
OUTSIDE_WINDOW_CODE = 63016
PROGRESS_TTL_S = 24 * 3600


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def make_client(account_sid: str, auth_token: str, api_url: str, http: AsyncHttpClient) -> Client:
    client = Client(account_sid, auth_token, http_client=http)
    client.api.base_url = api_url
    return client


class WhatsAppSender:
    def __init__(
        self,
        client: Client,
        redis: aioredis.Redis,
        *,
        sender: str,
        status_callback: str | None,
        templates: ContentTemplates | None = None,
        list_button: Callable[[str], Awaitable[str]] | None = None,
        prefix: str = "ohb:",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`sender`: `TWILIO_WHATSAPP_FROM` (`whatsapp:+…`). `list_button(conversation)`:
        the list picker's button label in that shopper's language."""
        self._client = client
        self._redis = redis
        self._from = sender
        self._status_callback = status_callback
        self._templates = templates or ContentTemplates()
        self._list_button = list_button
        self._prefix = prefix
        self._clock = clock
        self.reachability = Reachability(redis, prefix)

    async def deliver(self, message: OutboxMessage) -> None:
        conversation = message.conversation
        if not conversation.startswith("whatsapp:+"):
            raise Undeliverable("not a WhatsApp conversation")
        progress_key = f"{self._prefix}conv:{{{conversation}}}:wa-sent:{message.id}"
        # the window and the parts already sent in one round trip, shared with the
        # other deliveries that read theirs in this turn
        raw_last, raw_done = await turn_batch(self._redis).call(Command((
            "MGET", self.reachability.last_inbound_key(conversation), progress_key)))
        last = None if raw_last is None else datetime.fromtimestamp(float(_text(raw_last)), UTC)
        if last is not None and self._clock() - last < WINDOW:
            label = await self._list_button(conversation) if self._list_button else "Choose"
            messages = plan(signed(message.replies), self._templates, label)
        else:
            template = out_of_window(signed(message.replies), self._templates)
            if template is None:
                why = ("WhatsApp: outside the 24-hour customer-service window and no "
                       "out_of_window template is configured; the shopper must write first")
                raise Undeliverable(why, reason=why)
            messages = [template]
        done = int(raw_done or 0)
        # The count of parts sent is written after each but the last, and deleted
        # after the last if it was ever written: a one-part message writes none.
        for index, outgoing in enumerate(messages):
            if index < done:
                continue  # sent by an earlier attempt
            await self._send(conversation, outgoing, message.id)
            if index < len(messages) - 1:
                await self._redis.set(progress_key, index + 1, ex=PROGRESS_TTL_S)
        if raw_done is not None or len(messages) > 1:
            await self._redis.delete(progress_key)

    async def _send(self, to: str, outgoing: WhatsAppMessage, outbox_id: str) -> None:
        fields: dict[str, str] = {"from_": self._from, "to": to}
        if self._status_callback:
            # the outbox id rides in the URL (Twilio signs it with the form), so the
            # callback can update that staff message's delivery state
            fields["status_callback"] = (f"{self._status_callback}?"
                                         f"{urlencode({'outbox': outbox_id})}")
        if outgoing.content_sid:
            fields["content_sid"] = outgoing.content_sid
            fields["content_variables"] = json.dumps(outgoing.variables, ensure_ascii=False)
        else:
            fields["body"] = outgoing.body or ""
        extra: dict[str, list[str]] = {}
        if outgoing.media_url:
            extra["media_url"] = [outgoing.media_url]
        try:
            await self._client.messages.create_async(**fields, **extra)
        except TwilioRestException as exc:
            if exc.status == 429:
                metrics.PROVIDER_THROTTLED.labels("twilio").inc()
            if exc.status == 429 or exc.status >= 500:
                raise ChannelUnavailable(f"Twilio answered {exc.status}") from exc
            if exc.code == OUTSIDE_WINDOW_CODE:
                why = ("WhatsApp: outside the 24-hour window (Twilio 63016); the shopper must "
                       "write first")
                raise Undeliverable(why, reason=why) from exc
            why = f"Twilio refused the message (status {exc.status}, code {exc.code})"
            raise Undeliverable(why, reason=why) from exc
        except TwilioUnreachable as exc:
            raise ChannelUnavailable(f"Twilio unreachable ({exc})") from exc
