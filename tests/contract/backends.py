"""THE REGISTRY of order back-ends that the contract scenarios run against.

    BACKENDS = {"demo": demo, "http": http, ...}    (at the bottom of this file)

Every scenario in `tests/contract/test_scenarios.py` runs once per entry, through the
real `Engine`, so each back-end must make the same dialogue come out the same way.

To add a back-end, write a factory and register it under its `ORDER_BACKEND` name:

    @asynccontextmanager
    async def shopify(seed: Seed) -> AsyncIterator[OrderBackend]:
        # 1. seed the shop: a local fake server (`tests.live.serving`) holding
        #    exactly `seed.orders` (the demo shop's orders, dates pinned to the
        #    scenarios' clock: see docs/demo-orders.md for which order shows what);
        # 2. yield the back-end pointed at it, built the way `app.backends` builds it.
        ...

    BACKENDS["shopify"] = shopify   # or add it to the dict literal below

A factory gets a `Seed` (the test's Redis, the orders, the clock, the merchant's
policy) and yields an `OrderBackend`; everything it opens it closes on exit. The
scenarios adapt to `backend.supports`: an action the back-end does not carry out
must come out as a staff request, said as such, with nothing changed at the shop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

import httpx
import redis.asyncio as aioredis

from app.reference_shop import PREFIX as REFERENCE_SHOP_PREFIX
from app.reference_shop import create_reference_shop
from orders.backend import OrderBackend
from orders.demo import DemoBackend
from orders.http_backend import HttpBackend
from orders.models import Order
from orders.overlay import TrackedBackend
from orders.policy import Policy
from tests.live import serving

REFERENCE_SHOP_TOKEN = "contract-test-token"


@dataclass(frozen=True)
class Seed:
    """What a factory seeds its shop with and builds its back-end from."""

    redis: aioredis.Redis
    orders: list[Order]
    clock: Callable[[], datetime]
    policy: Policy


BackendFactory = Callable[[Seed], AbstractAsyncContextManager[OrderBackend]]


@asynccontextmanager
async def demo(seed: Seed) -> AsyncIterator[OrderBackend]:
    """ORDER_BACKEND=demo: the orders in our own Redis."""
    backend = DemoBackend(seed.redis, clock=seed.clock, policy=seed.policy)
    await backend.load(seed.orders)
    yield backend


@asynccontextmanager
async def reference_shop(seed: Seed) -> AsyncIterator[tuple[str, DemoBackend]]:
    """The reference implementation of the order API on a real local server: its
    base URL, and the demo shop behind it (to look at what really changed)."""
    shop = DemoBackend(seed.redis, prefix=REFERENCE_SHOP_PREFIX, clock=seed.clock,
                       policy=seed.policy)
    await shop.load(seed.orders)
    async with serving(create_reference_shop(shop, REFERENCE_SHOP_TOKEN), lifespan="off") as (
        url, _server,
    ):
        yield url, shop


@asynccontextmanager
async def http(seed: Seed) -> AsyncIterator[OrderBackend]:
    """ORDER_BACKEND=http: `HttpBackend` against the reference shop, wrapped as
    `app.backends` wraps it (carrier updates kept beside the shop's orders)."""
    async with reference_shop(seed) as (url, _shop), httpx.AsyncClient(
        timeout=httpx.Timeout(5.0, connect=2.0)
    ) as client:
        inner = HttpBackend(client, url, REFERENCE_SHOP_TOKEN, policy=seed.policy)
        yield TrackedBackend(inner, seed.redis)


@asynccontextmanager
async def shopify(seed: Seed) -> AsyncIterator[OrderBackend]:
    """ORDER_BACKEND=shopify: `ShopifyBackend` against a fake Shopify store holding
    the seed's orders (`tests/fakes/shopify.py`), wrapped as `app.backends` wraps it."""
    from orders.shopify import ShopifyBackend
    from tests.fakes.shopify import FakeShopify

    store = FakeShopify(seed.orders, clock=seed.clock)
    async with serving(store.app(), lifespan="off") as (url, _server), httpx.AsyncClient(
        timeout=httpx.Timeout(5.0, connect=2.0)
    ) as client:
        inner = ShopifyBackend(client, url, store.token, api_version=store.version,
                               policy=seed.policy, clock=seed.clock)
        yield TrackedBackend(inner, seed.redis)


@asynccontextmanager
async def woocommerce(seed: Seed) -> AsyncIterator[OrderBackend]:
    """ORDER_BACKEND=woocommerce: `WooCommerceBackend` against a fake WooCommerce shop
    holding the seed's orders (`tests/fakes/woocommerce.py`), wrapped as `app.backends`
    wraps it. WooCommerce knows no carrier progress (a shipped parcel is "with the
    courier"): in a deployment the carriers' webhooks bring it, kept beside the order
    by `TrackedBackend`. So the newest carrier event of each shipped parcel is put in
    that store here (its documented keys), as those webhooks would have left it."""
    from orders.tracking import CarrierUpdate
    from orders.woocommerce import WooCommerceBackend
    from tests.fakes.woocommerce import FakeWooCommerce

    shop = FakeWooCommerce.seeded(seed.orders, now=seed.clock())
    async with seed.redis.pipeline(transaction=False) as pipe:
        for order in seed.orders:
            for package in order.packages:
                if not package.tracking_number or not package.events:
                    continue
                last = max(package.events, key=lambda e: e.at)
                update = CarrierUpdate(
                    provider="generic", event_id=f"{package.package_id}-last",
                    order_number=order.number, tracking_number=package.tracking_number,
                    carrier=package.carrier, status=last.status,
                    carrier_status=last.carrier_status or (last.status.value if last.status
                                                           else "unknown"),
                    at=last.at, location=last.location, description=last.description,
                )
                pipe.hset(f"ohb:tracking:{{{order.number}}}", update.event_id,
                          update.model_dump_json())
        await pipe.execute()
    async with serving(shop.app(), lifespan="off") as (url, _server), httpx.AsyncClient(
        timeout=httpx.Timeout(5.0, connect=2.0)
    ) as client:
        inner = WooCommerceBackend(client, url, shop.consumer_key, shop.consumer_secret,
                                   policy=seed.policy, clock=seed.clock)
        yield TrackedBackend(inner, seed.redis)


BACKENDS: dict[str, BackendFactory] = {
    "demo": demo,
    "http": http,
    "shopify": shopify,
    "woocommerce": woocommerce,
}
