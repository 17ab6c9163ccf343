"""Which order back-end a deployment talks to (`ORDER_BACKEND`), built once at start-up.

The demo shop keeps its orders in our Redis. The others reach the merchant's shop
over one pooled httpx client (closed at shut-down) and keep carrier updates beside
the shop's orders (`orders.overlay.TrackedBackend`), because a shop's API rarely
takes a carrier's events.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import redis.asyncio as aioredis

from app.observe import outbound_hook
from orders.backend import OrderBackend
from orders.demo import DemoBackend
from orders.policy import Policy

from .settings import Settings

MAX_CONNECTIONS = 20
"""Connections to the shop's API per process: enough for a sale day's bursts,
few enough not to look like an attack to the shop's firewall."""


def _secret(value: object) -> str:
    get = getattr(value, "get_secret_value", None)
    return str(get()) if get is not None else str(value)


@asynccontextmanager
async def open_backend(
    settings: Settings, redis: aioredis.Redis, policy: Policy
) -> AsyncIterator[OrderBackend]:
    kind = settings.order_backend
    if kind == "demo":
        yield DemoBackend(redis, prefix=settings.redis_prefix, policy=policy)
        return
    from orders.overlay import TrackedBackend

    seconds = settings.order_api_timeout
    timeout = httpx.Timeout(seconds, connect=min(2.0, seconds))
    limits = httpx.Limits(
        max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS
    )
    async with httpx.AsyncClient(timeout=timeout, limits=limits,
                                 event_hooks={"request": [outbound_hook]}) as client:
        inner: OrderBackend
        if kind == "http":
            from orders.http_backend import HttpBackend

            assert settings.order_api_url and settings.order_api_token
            inner = HttpBackend(
                client, settings.order_api_url, _secret(settings.order_api_token), policy=policy
            )
        elif kind == "shopify":
            from orders.shopify import ShopifyBackend

            assert settings.shopify_store_url and settings.shopify_access_token
            inner = ShopifyBackend(
                client,
                settings.shopify_store_url,
                _secret(settings.shopify_access_token),
                api_version=settings.shopify_api_version,
                policy=policy,
            )
        elif kind == "woocommerce":
            from orders.woocommerce import WooCommerceBackend

            assert (settings.woocommerce_url and settings.woocommerce_consumer_key
                    and settings.woocommerce_consumer_secret)
            inner = WooCommerceBackend(
                client,
                settings.woocommerce_url,
                _secret(settings.woocommerce_consumer_key),
                _secret(settings.woocommerce_consumer_secret),
                policy=policy,
            )
        else:  # pragma: no cover - Settings allows only the kinds above
            raise ValueError(f"unknown ORDER_BACKEND {kind!r}")
        yield TrackedBackend(inner, redis, prefix=settings.redis_prefix)
