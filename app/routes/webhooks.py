"""The providers' webhooks: verify -> parse -> engine -> respond, for each channel.

    POST /webhooks/telegram          JSON update; X-Telegram-Bot-Api-Secret-Token
    POST /webhooks/whatsapp          Twilio form; X-Twilio-Signature -> TwiML
    POST /webhooks/whatsapp/status   Twilio status callback; X-Twilio-Signature -> 204

A channel whose secrets are not set answers 404. Verification comes before any
parsing, and a refused request (403) writes nothing. A redelivered update (same
`update_id` / `MessageSid`) gets the first answer from the engine's dedup and
queues nothing new.

How replies leave, and why:
- Telegram cannot take several messages, or tell us about failures, inside the
  webhook's answer, so replies go through the durable outbox: queued (keyed by the
  update id, so a redelivery queues nothing twice) before the 200, under a
  per-conversation lock (`app.in_order`, released by the enqueue), and sent by
  the worker with retries in queue order. Nothing is lost if this process dies
  after answering, and no reply overtakes an earlier one. The webhook itself answers the button tap
  (`answerCallbackQuery` as the response body), so the spinner stops without a
  call of our own.
- WhatsApp answers go inside the TwiML response, the fastest way and one Twilio
  retries as a whole. With interactive Content templates configured they need the
  REST API, so then they take the outbox path like Telegram's, and the TwiML is
  empty.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from starlette.datastructures import ImmutableMultiDict
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.channels import (
    TELEGRAM_WEBHOOK_PATH,
    WHATSAPP_STATUS_PATH,
    WHATSAPP_WEBHOOK_PATH,
    Channels,
    WhatsAppChannel,
)
from app.errors import error_response
from app.in_order import in_order
from app.media_intake import take_in
from app.resources import Resources
from app.routes.body import read_limited
from app.routes.webchat import conversation_tag
from channels import telegram, whatsapp
from channels.media_fetch import fetch_telegram
from channels.telegram_render import callback_answer
from conversation.delivery import DeliveryState, DeliveryStates, twilio_reason
from conversation.store import KeyWrite
from conversation.types import Channel, Inbound, MediaRef, Reply, TurnResult

log = logging.getLogger(__name__)

GROUP_NOTICE_TTL_S = 30 * 24 * 3600
PRIVATE_ONLY = "telegram.private_only"


def _forbidden() -> Response:
    return error_response(403, "forbidden", "the request's signature or token is not valid")


def _malformed(message: str) -> Response:
    return error_response(400, "malformed_body", message)


async def _through_outbox(
    resources: Resources, channels: Channels, inbound: Inbound, also: KeyWrite | None = None
) -> TurnResult:
    """Handle and queue under one lock, so queue order is turn order."""
    async with in_order(resources.redis, channels.outbox, inbound.conversation) as lock:
        result = await resources.engine.handle(inbound, also=also)
        if result.replies:
            await lock.enqueue(
                inbound.channel, inbound.conversation, result.replies,
                dedup_key=f"{inbound.channel.value}:{inbound.message_id}",
            )
    return result


def _logged(channel: str, inbound: Inbound, result: TurnResult) -> None:
    """At DEBUG: a line per turn costs a few per cent of the turn's CPU at INFO."""
    if log.isEnabledFor(logging.DEBUG):  # the tag is a hash: not worth it unless logged
        log.debug("%s %s: %d replies%s", channel, conversation_tag(inbound.conversation),
                  len(result.replies), " (duplicate)" if result.duplicate else "")


# --- Telegram -------------------------------------------------------------------


async def telegram_update(request: Request) -> Response:
    channels: Channels = request.state.channels
    channel = channels.telegram
    if channel is None:
        raise HTTPException(404, "the Telegram channel is not configured")
    if not telegram.verify(request.headers.get(telegram.SECRET_HEADER), channel.secret):
        return _forbidden()
    body = await read_limited(request, telegram.MAX_UPDATE_BYTES)
    resources: Resources = request.state.resources
    try:
        event = telegram.read(body, max_bytes=resources.settings.media_max_bytes)
    except telegram.MalformedUpdate as exc:
        return _malformed(str(exc))
    if isinstance(event, telegram.Unreadable):  # 200: redelivering it would change nothing
        log.warning("telegram: update %d acknowledged and dropped: %s", event.update_id,
                    event.why)
        return Response(status_code=200)
    resources.require_ready()
    match event:
        case telegram.Turn(inbound=inbound, callback_query_id=query_id):
            bot = channel.bot

            async def fetch(ref: MediaRef, limit: int) -> bytes:
                return await fetch_telegram(bot, ref.source, limit)

            inbound = await take_in(inbound, fetch, resources.media, resources.engine.store)
            result = await _through_outbox(resources, channels, inbound)
            _logged("telegram", inbound, result)
            return _telegram_answer(query_id, callback_answer(result.replies))
        case telegram.Reachability(conversation=conversation, reachable=reachable):
            if reachable:
                await channels.reachability.mark_reachable(conversation)
            else:
                await channels.reachability.mark_unreachable(
                    conversation, "blocked: the shopper blocked the bot")
            log.info("telegram %s: %s", conversation_tag(conversation),
                     "reachable again" if reachable else "blocked the bot")
        case telegram.GroupChat(conversation=conversation, locale=locale):
            await _private_only_notice(resources, channels, conversation, locale)
        case telegram.Ignored(why=why, callback_query_id=query_id):
            log.debug("telegram: ignored (%s)", why)
            return _telegram_answer(query_id, None)
    return Response(status_code=200)


def _telegram_answer(callback_query_id: str | None, text: str | None) -> Response:
    """Telegram runs one method given as the webhook's answer: here, the button
    tap's `answerCallbackQuery`, so the client stops its spinner."""
    if callback_query_id is None:
        return Response(status_code=200)
    method: dict[str, str] = {"method": "answerCallbackQuery",
                              "callback_query_id": callback_query_id}
    if text:
        method["text"] = text
    return JSONResponse(method)


async def _private_only_notice(
    resources: Resources, channels: Channels, conversation: str, locale: str | None
) -> None:
    """Say once per group (per month) that the bot helps in private chats only."""
    key = f"{resources.settings.redis_prefix}conv:{{{conversation}}}:group-notice"
    if await resources.redis.set(key, 1, nx=True, ex=GROUP_NOTICE_TTL_S):
        reply = Reply(PRIVATE_ONLY, channels.text(locale, PRIVATE_ONLY))
        await channels.outbox.enqueue(Channel.TELEGRAM, conversation, [reply])


# --- WhatsApp -------------------------------------------------------------------


async def _signed_form(request: Request, channel: WhatsAppChannel) -> ImmutableMultiDict[str, str]:
    """The form, once its signature over PUBLIC_URL + path + raw query checks out.
    None of it is read before that."""
    signature = request.headers.get(whatsapp.SIGNATURE_HEADER)
    if not signature:
        raise _Refused
    body = await read_limited(request, whatsapp.MAX_FORM_BYTES)
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError as exc:
        raise _Refused from exc
    form: ImmutableMultiDict[str, str] = ImmutableMultiDict(pairs)
    settings = request.state.resources.settings
    query = request.scope.get("query_string", b"").decode("latin-1")
    url = settings.public_url + request.url.path + (f"?{query}" if query else "")
    if not whatsapp.verify(url, form, signature, channel.auth_token):
        raise _Refused
    return form


class _Refused(Exception):
    """A missing or wrong Twilio signature (answered 403 here, not in app.errors)."""


def _whatsapp_channel(request: Request) -> WhatsAppChannel:
    channel = request.state.channels.whatsapp
    if channel is None:
        raise HTTPException(404, "the WhatsApp channel is not configured")
    assert isinstance(channel, WhatsAppChannel)
    return channel


async def whatsapp_message(request: Request) -> Response:
    channel = _whatsapp_channel(request)
    try:
        form = await _signed_form(request, channel)
    except _Refused:
        return _forbidden()
    now = datetime.now(UTC)
    try:
        inbound = whatsapp.parse(form, now)
    except whatsapp.MalformedRequest as exc:
        return _malformed(str(exc))
    resources: Resources = request.state.resources
    channels: Channels = request.state.channels
    resources.require_ready()

    async def fetch(ref: MediaRef, limit: int) -> bytes:
        return await channel.media.fetch(ref.source, limit)

    inbound = await take_in(inbound, fetch, resources.media, resources.engine.store)
    # Written as the turn begins, so a reply sent through the REST API finds the
    # window open; in the turn's first round trip, not one of its own.
    opened = channels.reachability.inbound_write(inbound.conversation, now)
    if channel.templates.interactive:
        result = await _through_outbox(resources, channels, inbound, opened)
        bodies: list[str] = []
    else:
        result = await resources.engine.handle(inbound, also=opened)
        bodies = whatsapp.numbered(result.replies)
    _logged("whatsapp", inbound, result)
    return Response(whatsapp.twiml(bodies), media_type="application/xml")


async def whatsapp_status(request: Request) -> Response:
    channel = _whatsapp_channel(request)
    try:
        form = await _signed_form(request, channel)
    except _Refused:
        return _forbidden()
    try:
        status = whatsapp.parse_status(form)
    except whatsapp.MalformedRequest as exc:
        return _malformed(str(exc))
    moved = await channel.statuses.record(status, datetime.now(UTC))
    if moved and status.status in ("failed", "undelivered"):
        log.warning("whatsapp: message %s %s (error %s)", status.message_sid, status.status,
                    status.error_code or "-")
    outbox_id = request.query_params.get("outbox") or ""
    state = PROVIDER_STATES.get(status.status)
    if state is not None and OUTBOX_ID.fullmatch(outbox_id):
        resources: Resources = request.state.resources
        reason = (twilio_reason(status.status, status.error_code)
                  if state is DeliveryState.FAILED else None)
        await DeliveryStates(resources.redis, prefix=resources.settings.redis_prefix).reported(
            outbox_id, state, reason)
    return Response(status_code=204)


OUTBOX_ID = re.compile(r"\d{1,20}-\d{1,20}")
PROVIDER_STATES = {"sent": DeliveryState.SENT, "delivered": DeliveryState.DELIVERED,
                   "read": DeliveryState.READ, "failed": DeliveryState.FAILED,
                   "undelivered": DeliveryState.FAILED}


routes = [
    Route(TELEGRAM_WEBHOOK_PATH, telegram_update, methods=["POST"]),
    Route(WHATSAPP_WEBHOOK_PATH, whatsapp_message, methods=["POST"]),
    Route(WHATSAPP_STATUS_PATH, whatsapp_status, methods=["POST"]),
]
