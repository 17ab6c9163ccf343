"""The ASGI application: `create_app(settings)` is the one way to build it.

`uvicorn --factory app.main:create_app` (what `python -m app serve` runs) calls it
with no arguments, so settings come from the environment; tests pass their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

import jinja2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.templating import Jinja2Templates
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app import metrics
from app.channels import Channels, open_channels
from app.cors import ChatCORS
from app.errors import exception_handlers
from app.inbox import api as inbox_api
from app.inbox import desk_routes as inbox_desk
from app.inbox import events as inbox_events
from app.inbox import files as inbox_files
from app.inbox import pages as inbox_pages
from app.inbox.notify import open_staff_senders
from app.observe import RequestContext
from app.operating import observing
from app.resources import Resources, log_features, open_resources, outbox_for
from app.routes import health, logistics, pages, pushes, uploads, webchat, webhooks, widget
from app.settings import Settings
from app.worker import default_senders, start_in_process
from templates import PAGES_DIR

log = logging.getLogger(__name__)


_start_up_frozen = False


def freeze_start_up() -> None:
    """Move what start-up made (modules, SQLAlchemy's and the model's tables, the
    catalogue: ~175,000 objects) out of the cyclic collector's reach, once a process.
    A full collection walked them all, ~110 ms on this machine every few thousand
    turns, twice what it was before the records work brought SQLAlchemy and Alembic
    in: ~35 µs a turn on average, and a stall of every request in flight when it
    came. Frozen objects are still freed when their last reference goes; only
    start-up's own cycles that die later are never collected."""
    global _start_up_frozen
    if _start_up_frozen:  # tests start many apps in one process: once is enough
        return
    _start_up_frozen = True
    gc.collect()  # start-up's garbage is not kept for ever
    gc.freeze()


class State(TypedDict):
    """What every request finds in `request.state`."""

    resources: Resources
    channels: Channels


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        log_features(settings)
        async with (
            open_resources(settings) as resources,
            open_channels(settings, resources.redis) as channels,
            open_staff_senders(settings) as staff_senders,
            observing(app, settings, resources.redis),
        ):
            state: State = {"resources": resources, "channels": channels}
            freeze_start_up()
            if not settings.runs_worker_in_process:
                yield state
                return
            senders = {**default_senders(resources.redis, settings.redis_prefix),
                       **channels.senders(), **staff_senders}
            task, stop = start_in_process(
                resources.redis, prefix=settings.redis_prefix, senders=senders,
                outbox=outbox_for(settings, resources.redis),
            )
            try:
                yield state
            finally:
                stop.set()
                with contextlib.suppress(Exception):  # a crash was logged when it happened
                    await asyncio.wait_for(task, timeout=10)

    middleware = [  # outermost first: the client's address is known before anything logs
        Middleware(ProxyHeadersMiddleware,
                   trusted_hosts=[str(n) for n in settings.trusted_proxies]),
        Middleware(RequestContext),
    ]
    if settings.otel_exporter_otlp_endpoint:  # optional: imported only when asked for
        from app import tracing

        middleware[:0] = tracing.middleware(tracing.configure(settings.otel_exporter_otlp_endpoint))
    if settings.web_allowed_origins:  # else the chat API is for the bot's own origin only
        middleware.append(Middleware(ChatCORS, origins=settings.web_allowed_origins))
    app = Starlette(
        routes=[
            *health.routes, *webchat.routes, *pushes.routes, *webhooks.routes, *logistics.routes,
            *widget.routes, *pages.routes, *inbox_pages.routes, *inbox_events.routes,
            *inbox_api.routes, *inbox_desk.routes, *metrics.routes, *uploads.routes,
            *inbox_files.routes,
        ],
        middleware=middleware,
        exception_handlers=exception_handlers(),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.pages = Jinja2Templates(
        env=jinja2.Environment(
            loader=jinja2.FileSystemLoader(PAGES_DIR), autoescape=True, auto_reload=False
        )
    )
    return app
