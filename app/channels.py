"""The provider channels of one process: Telegram's `Bot` and Twilio's client,
opened once (the web app's lifespan, `python -m app worker`) and closed once, and
the outbox senders built on them.

A channel whose secrets are not set is simply absent (`None`): its webhook answers
404, and its messages wait in the outbox (retried, then dead-lettered) until a
process that has it runs. `log_features` already said so at start-up.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlparse

import httpx
import redis.asyncio as aioredis
from telegram import Bot
from telegram.error import TelegramError
from twilio.rest import Client

from app.resources import outbox_for
from app.settings import Settings
from channels.media_fetch import TwilioMedia
from channels.reachability import Reachability
from channels.telegram_render import SharePhone
from channels.telegram_sender import TelegramSender
from channels.telegram_transport import AiohttpRequest
from channels.twilio_transport import AiohttpTwilioClient
from channels.whatsapp_content import ContentTemplates
from channels.whatsapp_sender import WhatsAppSender, make_client
from channels.whatsapp_status import DeliveryStatuses
from conversation.catalogue import Catalogue
from conversation.keys import Keys
from conversation.outbox import Deliver, Outbox
from conversation.store import SessionStore
from conversation.types import Channel
from templates import MESSAGES_DIR

log = logging.getLogger(__name__)

CHANNEL_MESSAGES_DIR = MESSAGES_DIR / "channels"
"""The channels' own words (the share-contact button, the group notice). Kept apart
from the dialogue's catalogue, whose test requires every key to be one the
dialogue itself can say."""

TELEGRAM_WEBHOOK_PATH = "/webhooks/telegram"
WHATSAPP_WEBHOOK_PATH = "/webhooks/whatsapp"
WHATSAPP_STATUS_PATH = "/webhooks/whatsapp/status"
_BOT_TOKEN = re.compile(r"/bot\d+:[A-Za-z0-9_-]+")


class RedactBotToken(logging.Filter):
    """httpx logs every request's URL at INFO, and a Bot API URL holds the token."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _BOT_TOKEN.sub("/bot[redacted]", str(arg))
                if isinstance(arg, str | httpx.URL) else arg
                for arg in record.args
            )
        return True


def redact_bot_tokens_in_logs() -> None:
    httpx_log = logging.getLogger("httpx")
    if not any(isinstance(f, RedactBotToken) for f in httpx_log.filters):
        httpx_log.addFilter(RedactBotToken())


@dataclass
class TelegramChannel:
    bot: Bot
    secret: str
    sender: TelegramSender


@dataclass
class WhatsAppChannel:
    auth_token: str
    client: Client
    templates: ContentTemplates
    sender: WhatsAppSender
    statuses: DeliveryStatuses
    media: TwilioMedia


@dataclass
class Channels:
    texts: Catalogue
    outbox: Outbox
    reachability: Reachability
    telegram: TelegramChannel | None = None
    whatsapp: WhatsAppChannel | None = None

    def senders(self) -> dict[Channel, Deliver]:
        senders: dict[Channel, Deliver] = {}
        if self.telegram is not None:
            senders[Channel.TELEGRAM] = self.telegram.sender.deliver
        if self.whatsapp is not None:
            senders[Channel.WHATSAPP] = self.whatsapp.sender.deliver
        return senders

    def text(self, locale: str | None, key: str) -> str:
        return self.texts.text(self.texts.language_for(locale), key)


def status_callback_url(public_url: str) -> str | None:
    """Twilio refuses a status callback it cannot reach; a local PUBLIC_URL gets none."""
    host = urlparse(public_url).hostname or ""
    if host in ("localhost", "127.0.0.1", "::1") or host.endswith(".localhost"):
        return None
    return public_url + WHATSAPP_STATUS_PATH


@asynccontextmanager
async def open_channels(settings: Settings, redis: aioredis.Redis) -> AsyncIterator[Channels]:
    prefix = settings.redis_prefix
    texts = Catalogue.load(CHANNEL_MESSAGES_DIR)
    sessions = SessionStore(redis, Keys(prefix))
    channels = Channels(texts, outbox_for(settings, redis), Reachability(redis, prefix))

    async def share_phone(conversation: str) -> SharePhone:
        locale = (await sessions.load(conversation)).locale
        return SharePhone(channels.text(locale, "telegram.share_phone_hint"),
                          channels.text(locale, "telegram.share_phone"))

    async def list_button(conversation: str) -> str:
        return channels.text((await sessions.load(conversation)).locale, "whatsapp.list_button")

    bot: Bot | None = None
    twilio_http: AiohttpTwilioClient | None = None
    media_http: httpx.AsyncClient | None = None
    try:
        token, secret = settings.telegram_bot_token, settings.telegram_webhook_secret
        if token is not None and secret is not None:
            redact_bot_tokens_in_logs()
            bot = make_bot(settings)
            try:
                await bot.initialize()
            except TelegramError as exc:  # never its text: it may quote the token
                log.warning("telegram: getMe failed at start-up (%s); sends will retry",
                            type(exc).__name__)
            channels.telegram = TelegramChannel(
                bot, secret.get_secret_value(),
                TelegramSender(bot, redis, prefix=prefix, share_phone=share_phone,
                               bot_rate=settings.telegram_bot_rate),
            )
        sid, auth, sender = (settings.twilio_account_sid, settings.twilio_auth_token,
                             settings.twilio_whatsapp_from)
        if sid and auth is not None and sender:
            twilio_http = AiohttpTwilioClient()
            client = make_client(sid, auth.get_secret_value(), settings.twilio_api_url,
                                 twilio_http)
            templates = settings.twilio_content_templates
            channels.whatsapp = WhatsAppChannel(
                auth.get_secret_value(), client, templates,
                WhatsAppSender(client, redis, sender=sender,
                               status_callback=status_callback_url(settings.public_url),
                               templates=templates, list_button=list_button, prefix=prefix),
                DeliveryStatuses(redis, prefix),
                TwilioMedia(media_http := httpx.AsyncClient(), api_url=settings.twilio_api_url,
                            account_sid=sid, auth_token=auth.get_secret_value()),
            )
        yield channels
    finally:
        if bot is not None:
            await bot.shutdown()
        if twilio_http is not None:
            await twilio_http.aclose()
        if media_http is not None:
            await media_http.aclose()


def make_bot(settings: Settings) -> Bot:
    """`TELEGRAM_API_URL` + `/bot` is PTB's base URL; PTB appends the token.

    The Bot's HTTP layer is `AiohttpRequest` (`channels.telegram_transport`): PTB's
    Bot API methods and errors over a cheaper transport than its httpx default.

    PTB 22 warns on every 429 that `RetryAfter.retry_after` will become a
    `timedelta`; `PTB_TIMEDELTA` is its documented opt-in to that type now (the
    sender reads both), so a flood of 429s is not also a flood of warnings."""
    assert settings.telegram_bot_token is not None
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    api = settings.telegram_api_url
    return Bot(
        settings.telegram_bot_token.get_secret_value(),
        base_url=f"{api}/bot",
        base_file_url=f"{api}/file/bot",
        request=AiohttpRequest(connection_pool_size=16, connect_timeout=5.0, read_timeout=10.0),
        get_updates_request=AiohttpRequest(connection_pool_size=1),  # never polls: webhook
    )
