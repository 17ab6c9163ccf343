"""What one process shares across requests: the Redis client, the shop, the texts,
the ticket store and the dialogue engine, opened once and closed once.

The web app's lifespan, the terminal chat and the CLI all open them the same way,
so they talk to the same state. Redis may be down when the process starts; the
process starts anyway (`/readyz` says so, chat answers 503) and the one-time
set-up (demo shop, generated web chat secret) runs on the first request that
finds Redis back.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import anyio.to_thread
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.backends import open_backend
from app.inbox.accounts import StaffStore
from app.settings import Settings
from app.valkey_keeper import ValkeyKeeper
from channels.web import TokenSigner
from conversation.catalogue import Catalogue
from conversation.engine import Engine
from conversation.hours import BusinessHours
from conversation.notifier import NoticeDesk, ShopperNotifier
from conversation.outbox import Outbox
from conversation.quiet_hours import QuietHours
from conversation.store import StoreUnavailable
from conversation.subscriptions import Subscriptions
from conversation.tickets import TicketStore
from orders.backend import BackendUnavailable, OrderBackend
from orders.demo import DemoBackend
from orders.loading import load_order_file
from orders.models import Order
from templates import MESSAGES_DIR

log = logging.getLogger(__name__)

REDIS_SOCKET_TIMEOUT_S = 10
"""A Redis call that has not answered by then raises TimeoutError: blocking reads
(the event stream's XREAD) must block for less."""

REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, StoreUnavailable)
"""What a call to an unreachable Redis raises (redis-py wraps socket errors in ConnectionError)."""


@asynccontextmanager
async def open_store(
    settings: Settings,
) -> AsyncIterator[tuple[aioredis.Redis, ValkeyKeeper | None]]:
    """A client for `REDIS_URL`, or for the embedded Valkey in `DATA_DIR` with the
    keeper that restarts it if it dies (`app.valkey_keeper`)."""
    keeper: ValkeyKeeper | None = None
    if settings.redis_url is not None:
        url = settings.redis_url.get_secret_value()
    else:
        keeper = ValkeyKeeper(settings.data_dir)
        url = await keeper.start()
    client = aioredis.Redis.from_url(
        url, socket_connect_timeout=3, socket_timeout=REDIS_SOCKET_TIMEOUT_S
    )
    try:
        yield client, keeper
    finally:
        await client.aclose()
        if keeper is not None:
            await keeper.stop()


@asynccontextmanager
async def open_redis(settings: Settings) -> AsyncIterator[aioredis.Redis]:
    """`open_store` for callers that need only the client."""
    async with open_store(settings) as (client, _):
        yield client


@dataclass
class Resources:
    settings: Settings
    redis: aioredis.Redis
    backend: OrderBackend
    catalogue: Catalogue
    tickets: TicketStore
    engine: Engine
    shop: list[Order]
    notifier: ShopperNotifier
    """`notifier.order_changed(change)`: tell the shoppers kept posted about an order."""
    keeper: ValkeyKeeper | None = None
    """The embedded Valkey's keeper (None with `REDIS_URL`): `/healthz` asks it."""
    _web_chat_secret: str | None = None
    _token_signer: TokenSigner | None = None
    _shop_loaded: bool = False
    _staff_ready: bool = False
    _setup_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def web_chat_secret_key(self) -> str:
        return f"{self.settings.redis_prefix}secret:web-chat"

    async def web_chat_secret(self) -> str:
        """`WEB_CHAT_SECRET`, or the one generated on the first start and kept in
        Redis, so every process (and every restart) signs with the same secret."""
        if self._web_chat_secret is None:
            if self.settings.web_chat_secret is not None:
                self._web_chat_secret = self.settings.web_chat_secret.get_secret_value()
            else:
                fresh = secrets.token_urlsafe(32)
                # SET NX GET: one round trip; returns the older secret if there was one.
                older = await self.redis.set(self.web_chat_secret_key, fresh, nx=True, get=True)
                if isinstance(older, bytes):
                    older = older.decode()
                self._web_chat_secret = older if isinstance(older, str) else fresh
        return self._web_chat_secret

    async def token_signer(self) -> TokenSigner:
        """The web chat's token signer, built once for the secret (itsdangerous's
        serializer is not cheap to build: this was once per request)."""
        if self._token_signer is None:
            self._token_signer = TokenSigner(await self.web_chat_secret())
        return self._token_signer

    async def ready(self) -> None:
        """The one-time set-up; cheap once done. Raises what Redis raises when down."""
        if self._shop_loaded and self._staff_ready and self._web_chat_secret is not None:
            return
        async with self._setup_lock:
            if not self._shop_loaded and not isinstance(self.backend, DemoBackend):
                self._shop_loaded = True  # the merchant's own shop: nothing to load
            if not self._shop_loaded:
                assert isinstance(self.backend, DemoBackend)
                try:
                    stored = await self.backend.load(self.shop, replace=False)
                except BackendUnavailable as exc:  # the demo shop lives in the same Redis
                    raise StoreUnavailable("Redis is unreachable") from exc
                self._shop_loaded = True
                if stored:
                    log.info(
                        "demo shop: loaded %d orders from %s",
                        len(self.shop),
                        self.settings.orders_file,
                    )
                else:
                    log.info("demo shop: already in Redis, with the changes shoppers made")
            if not self._staff_ready:  # the inbox's first admin, from settings, once
                password = self.settings.inbox_admin_password
                await StaffStore(self.redis, self.settings.redis_prefix).bootstrap_admin(
                    self.settings.inbox_admin_email,
                    password.get_secret_value() if password else None)
                self._staff_ready = True
            await self.web_chat_secret()


def log_features(settings: Settings) -> None:
    """One line per channel, so a missing secret is visible at start-up."""
    log.info("channel web chat: on")
    for feature, missing in settings.missing_for_channels().items():
        if missing:
            log.info("channel %s: off (set %s)", feature, ", ".join(missing))
        else:
            log.info("channel %s: on", feature)


@asynccontextmanager
async def open_resources(settings: Settings) -> AsyncIterator[Resources]:
    """Texts and the shop's file are read first, so a broken file stops the start
    with its own error before any server is started."""
    catalogue = await anyio.to_thread.run_sync(Catalogue.load, MESSAGES_DIR)
    shop = await anyio.to_thread.run_sync(load_order_file, settings.orders_file, datetime.now(UTC))
    async with open_store(settings) as (client, keeper), open_backend(
        settings, client, settings.policy()
    ) as backend:
        policy = settings.policy()
        tickets = TicketStore(client, prefix=settings.redis_prefix)
        outbox = Outbox(client, prefix=settings.redis_prefix)
        engine = Engine(
            client,
            backend,
            policy=policy,
            catalogue=catalogue,
            tickets=tickets,
            prefix=settings.redis_prefix,
            idle_timeout=timedelta(minutes=settings.session_idle_minutes),
            hours=BusinessHours.parse(settings.business_hours, settings.timezone),
            outbox=outbox,
            return_policy_url=settings.return_policy_url,
            support_url=settings.support_url,
            notify_staff=settings.inbox_notify_url is not None,
        )
        notifier = ShopperNotifier(
            NoticeDesk(client, outbox, prefix=settings.redis_prefix),
            Subscriptions(client, settings.redis_prefix),
            engine.render,
            quiet=QuietHours.parse(settings.quiet_hours, settings.timezone),
        )
        resources = Resources(settings, client, backend, catalogue, tickets, engine, shop,
                              notifier, keeper)
        try:
            await resources.ready()
        except REDIS_DOWN:
            log.warning("Redis is unreachable; chat answers 503 until it is back")
        yield resources
