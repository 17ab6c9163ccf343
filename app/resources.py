"""What one process shares across requests: the Redis client, the shop, the texts,
the ticket store and the dialogue engine, opened once and closed once.

The web app's lifespan, the terminal chat and the CLI all open them the same way,
so they talk to the same state. Redis may be down when the process starts; the
process starts anyway (`/readyz` says so, chat answers 503), and so may the
records database. The one-time set-up (migrations, the move of an older install's
records out of Redis, the demo shop, the first admin, the generated web chat
secret) runs at start; when Redis or the database is not there yet, a start-up task
retries it until both answer, and until then requests get 503 without doing any
set-up of their own. A database made by a newer release stops the start.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import anyio.to_thread
import redis.asyncio as aioredis

from app.backends import open_backend
from app.inbox.accounts import StaffStore
from app.media import keep_sweeping, media_store
from app.nlu import open_classifier
from app.records_import import import_from_redis
from app.redis_client import redis_client
from app.settings import Settings
from app.valkey_keeper import ValkeyKeeper
from channels.web import TokenSigner
from conversation.activity import keep_rolling_up
from conversation.audit import AuditLog
from conversation.catalogue import Catalogue
from conversation.engine import Engine
from conversation.hours import BusinessHours
from conversation.notifier import NoticeDesk, ShopperNotifier
from conversation.outbox import Outbox
from conversation.quiet_hours import QuietHours
from conversation.scripts import turn_batch
from conversation.store import StoreUnavailable
from conversation.subscriptions import Subscriptions
from conversation.tickets import TicketStore
from media.blobs import BlobsUnavailable
from media.store import MediaStore
from orders.backend import BackendUnavailable, OrderBackend
from orders.demo import DemoBackend
from orders.loading import load_order_file
from orders.models import Order
from orders.redis_errors import REDIS_UNAVAILABLE
from records import migrate
from records.db import Database, DatabaseUnavailable, database_url, redacted
from templates import MESSAGES_DIR

log = logging.getLogger(__name__)

REDIS_SOCKET_TIMEOUT_S = 10
"""A Redis call that has not answered by then raises TimeoutError: blocking reads
(the event stream's XREAD) must block for less."""

REDIS_DOWN: tuple[type[Exception], ...] = (*REDIS_UNAVAILABLE, StoreUnavailable,
                                           DatabaseUnavailable, BlobsUnavailable)
"""What a call to an unreachable store raises (redis-py wraps socket errors in
ConnectionError, and a Redis Cluster mid-failover raises its own errors: see
`orders.redis_errors`; the records database raises DatabaseUnavailable): answered 503."""

SETUP_RETRY_S = (0.5, 1, 2, 5)
"""Pauses between tries of the start-up set-up while Redis or the database is down
(the last one repeats)."""
AUDIT_FLUSH_S = 2
"""How often the audit entries of shoppers' turns, kept in Redis, are moved to SQL
(a page that shows an order's log moves them first anyway)."""


@asynccontextmanager
async def open_records(settings: Settings) -> AsyncIterator[Database]:
    """For commands: the records database, migrated, with an older install's Redis
    records moved in (both once; cheap after that)."""
    async with open_redis(settings) as redis, open_database(settings) as db:
        await migrate.upgrade(db)
        await import_from_redis(redis, db, settings.redis_prefix)
        yield db


class NotReady(StoreUnavailable):
    """The start-up set-up has not finished (Redis or the database not there yet)."""


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[Database]:
    """The records database: `DATABASE_URL`, or SQLite under `DATA_DIR`."""
    configured = settings.database_url.get_secret_value() if settings.database_url else None
    db = Database(database_url(configured, settings.data_dir))
    log.info("records database: %s", redacted(db.url) if configured else db.url)
    try:
        yield db
    finally:
        await db.close()


@asynccontextmanager
async def open_store(
    settings: Settings,
) -> AsyncIterator[tuple[aioredis.Redis, ValkeyKeeper | None]]:
    """A client for `REDIS_URL` (a Redis Cluster client with `REDIS_CLUSTER=true`),
    or for the embedded Valkey in `DATA_DIR` with the keeper that restarts it if it
    dies (`app.valkey_keeper`). Every process opens Redis here."""
    keeper: ValkeyKeeper | None = None
    if settings.redis_url is not None:
        url = settings.redis_url.get_secret_value()
    else:
        keeper = ValkeyKeeper(settings.data_dir)
        url = await keeper.start()
    # the embedded Valkey is never a cluster: REDIS_CLUSTER applies to REDIS_URL only
    client = redis_client(url, cluster=settings.redis_cluster and keeper is None,
                          socket_timeout=REDIS_SOCKET_TIMEOUT_S)
    try:
        yield client, keeper
    finally:
        with suppress(*REDIS_DOWN):  # the last lazy calls (inbox events) go out
            await turn_batch(client).settle()
        await client.aclose()
        if keeper is not None:
            await keeper.stop()


@asynccontextmanager
async def open_redis(settings: Settings) -> AsyncIterator[aioredis.Redis]:
    """`open_store` for callers that need only the client."""
    async with open_store(settings) as (client, _):
        yield client


def outbox_for(settings: Settings, redis: aioredis.Redis) -> Outbox:
    """The outbox as the settings shape it: `OUTBOX_PARTITIONS` streams, and
    `WORKER_CONCURRENCY` conversations delivered at once by a consumer."""
    return Outbox(redis, prefix=settings.redis_prefix,
                  partitions=settings.outbox_partition_count,
                  concurrency=settings.worker_concurrency)


@dataclass
class Resources:
    settings: Settings
    redis: aioredis.Redis
    db: Database
    backend: OrderBackend
    catalogue: Catalogue
    tickets: TicketStore
    engine: Engine
    shop: list[Order]
    notifier: ShopperNotifier
    """`notifier.order_changed(change)`: tell the shoppers kept posted about an order."""
    media: MediaStore
    """Shoppers' photos and files (`media.store`)."""
    keeper: ValkeyKeeper | None = None
    """The embedded Valkey's keeper (None with `REDIS_URL`): `/healthz` asks it."""
    _web_chat_secret: str | None = None
    _token_signer: TokenSigner | None = None
    _migrated: bool = False
    _imported: bool = False
    _shop_loaded: bool = False
    _staff_ready: bool = False
    _setup_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def staff(self) -> StaffStore:
        return StaffStore(self.db)

    @property
    def chat_ready(self) -> bool:
        """What a shopper's turn needs: the demo shop and the web chat secret (Redis)."""
        return self._shop_loaded and self._web_chat_secret is not None

    @property
    def records_ready(self) -> bool:
        """What the inbox needs: migrated tables, older records moved, the first admin."""
        return self._migrated and self._imported and self._staff_ready

    @property
    def is_ready(self) -> bool:
        return self.chat_ready and self.records_ready

    def require_ready(self, *, records: bool = False) -> None:
        """For requests: no I/O; raises `NotReady` (answered 503) while the start-up
        set-up is still waiting for Redis (or, with `records`, the database). A
        shopper's turn needs only Redis: the bot keeps answering while the database
        is away, and only opening a ticket waits for it."""
        if not self.chat_ready or (records and not self.records_ready):
            raise NotReady("starting: waiting for Redis and the records database")

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
        """The one-time set-up; cheap once done. Raises what Redis or the database
        raises when down, and `DatabaseTooNew`."""
        if self.is_ready:
            return
        async with self._setup_lock:
            try:
                await self._ready_chat()
            finally:  # the records too, even when Redis is down: each as far as it gets
                await self._ready_records()

    async def _ready_records(self) -> None:
        if not self._migrated:
            await migrate.upgrade(self.db)
            self._migrated = True
        if not self._imported:
            await import_from_redis(self.redis, self.db, self.settings.redis_prefix)
            self._imported = True
        if not self._staff_ready:  # the inbox's first admin, from settings, once
            password = self.settings.inbox_admin_password
            await self.staff.bootstrap_admin(
                self.settings.inbox_admin_email,
                password.get_secret_value() if password else None)
            self._staff_ready = True

    async def _ready_chat(self) -> None:
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
        await self.web_chat_secret()

    async def keep_trying_setup(self) -> None:
        """The start-up task: `ready()` until Redis and the database both answer."""
        for attempt in range(1_000_000):
            try:
                await self.ready()
            except REDIS_DOWN as exc:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    # cancelled inside `ready()`, whose `finally` then met Redis down:
                    # that error replaced the CancelledError, which must not be lost
                    # (the shutdown would wait on this loop for ever)
                    raise asyncio.CancelledError from exc
                pause = SETUP_RETRY_S[min(attempt, len(SETUP_RETRY_S) - 1)]
                if attempt == 0:
                    log.warning("start-up set-up waits for %s; chat answers 503 until then",
                                "the records database" if isinstance(exc, DatabaseUnavailable)
                                else "Redis")
                await asyncio.sleep(pause)
            else:
                if attempt:
                    log.info("start-up set-up done: Redis and the records database answer")
                return

    async def keep_flushing_audit(self) -> None:
        """Move audit entries kept in Redis during a database outage into SQL."""
        while True:
            await asyncio.sleep(AUDIT_FLUSH_S)
            try:
                await self.engine.audit.flush_pending()
            except REDIS_DOWN:
                continue  # said by whoever needs Redis or the database next
            except Exception:
                log.exception("moving audit entries from Redis to the database failed")


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
    # today in the shop's timezone: from 18:30 UTC India is a day ahead, and a UTC date
    # would leave "delivered 30 days ago" 31 days back there, its return window closed
    shop = await anyio.to_thread.run_sync(load_order_file, settings.orders_file,
                                          datetime.now(ZoneInfo(settings.timezone)))
    async with open_store(settings) as (client, keeper), open_database(settings) as db, \
            open_backend(
        settings, client, settings.policy()
    ) as backend, open_classifier(settings) as classifier:
        policy = settings.policy()
        tickets = TicketStore(db, client, prefix=settings.redis_prefix, desk=settings.desk())
        media = media_store(settings, db)
        outbox = outbox_for(settings, client)
        engine = Engine(
            client,
            backend,
            policy=policy,
            catalogue=catalogue,
            tickets=tickets,
            audit=AuditLog(db, client, prefix=settings.redis_prefix),
            prefix=settings.redis_prefix,
            idle_timeout=timedelta(minutes=settings.session_idle_minutes),
            hours=BusinessHours.parse(settings.business_hours, settings.timezone),
            outbox=outbox,
            return_policy_url=settings.return_policy_url,
            support_url=settings.support_url,
            notify_staff=settings.inbox_notify_url is not None,
            classifier=classifier,
            media=media,
        )
        notifier = ShopperNotifier(
            NoticeDesk(client, outbox, prefix=settings.redis_prefix),
            Subscriptions(client, settings.redis_prefix),
            engine.render,
            quiet=QuietHours.parse(settings.quiet_hours, settings.timezone),
        )
        resources = Resources(settings, client, db, backend, catalogue, tickets, engine, shop,
                              notifier, media, keeper)
        tasks: list[asyncio.Task[None]] = [
            asyncio.create_task(resources.keep_flushing_audit(), name="audit-flush"),
            asyncio.create_task(keep_rolling_up(engine.days, db), name="conversation-days"),
            asyncio.create_task(keep_sweeping(resources.media), name="media-retention")]
        try:
            await resources.ready()
        except REDIS_DOWN:
            tasks.append(asyncio.create_task(resources.keep_trying_setup(), name="setup"))
        try:
            yield resources
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            try:  # what is still waiting goes to the database before the process ends
                await engine.audit.flush_pending()
            except Exception:
                log.warning("audit entries still wait in Redis; the next start moves them")
