"""The widget's script, the demo shop page that carries it, and who may call the chat
API from another origin (`WEB_ALLOWED_ORIGINS`). The browser tests drive all of it in
Chromium; these check the HTTP contract."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pydantic
import pytest
import redis.asyncio as aioredis
from app_harness import IDENTITY_SECRET, auth, make_settings, running, start_session

from app.resources import REDIS_SOCKET_TIMEOUT_S
from app.routes import pushes
from app.settings import Settings
from channels.web import sign_customer
from templates import WIDGET_FILE

SHOP = "https://shop.example.com"
ELSEWHERE = "https://evil.example.net"
WIDGET_BUDGET_BYTES = 40 * 1024  # 30 KB before the attach button (issue 18)


# --- GET /widget.js -----------------------------------------------------------------


async def test_the_widget_is_served_as_a_small_cacheable_script(api: httpx.AsyncClient) -> None:
    response = await api.get("/widget.js")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "max-age=3600" in response.headers["cache-control"]
    assert response.headers["cache-control"].startswith("public")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cross-origin-resource-policy"] == "cross-origin"
    assert response.content == WIDGET_FILE.read_bytes()
    assert len(response.content) < WIDGET_BUDGET_BYTES

    again = await api.get("/widget.js", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""


def test_the_widget_never_parses_what_it_shows_as_html() -> None:
    source = WIDGET_FILE.read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in source, sink
    assert "textContent" in source
    assert 'rel: "noopener noreferrer"' in source


# --- the demo shop page -------------------------------------------------------------


def _widget_tag(page: str) -> str:
    tags = re.findall(r"<script\b[^>]*>", page)
    assert len(tags) == 1, tags  # the widget is the page's only script
    return tags[0]


async def test_the_demo_page_carries_the_widget_under_its_csp(api: httpx.AsyncClient) -> None:
    response = await api.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    nonce = re.search(r"script-src 'nonce-([^']+)'", csp)
    assert nonce is not None
    tag = _widget_tag(response.text)
    assert 'src="/widget.js"' in tag and f'nonce="{nonce.group(1)}"' in tag
    assert "data-customer" not in tag
    assert 'data-locale="en"' in tag
    assert "100003" in response.text  # an order to try

    hindi = await api.get("/", params={"lang": "hi"})
    assert 'data-locale="hi"' in _widget_tag(hindi.text)
    unknown = await api.get("/", params={"lang": "xx"})
    assert 'data-locale="en"' in _widget_tag(unknown.text)


async def test_the_demo_page_signs_in_its_own_demo_customer(api: httpx.AsyncClient) -> None:
    page = (await api.get("/", params={"as": "Priya"})).text
    tag = _widget_tag(page)
    email = "priya.sharma@example.in"
    assert f'data-customer-email="{email}"' in tag
    assert f'data-customer-signature="{sign_customer(email, IDENTITY_SECRET)}"' in tag
    assert "signed in as <b>Priya Sharma</b>" in page


@pytest.mark.parametrize("who", ["nobody", "priya.sharma@example.in", "<script>", ""])
async def test_the_demo_page_signs_nothing_else(api: httpx.AsyncClient, who: str) -> None:
    page = (await api.get("/", params={"as": who})).text
    assert "data-customer" not in _widget_tag(page)
    assert "<script>" not in page.replace(_widget_tag(page), "")


async def test_without_an_identity_secret_the_demo_signs_no_one(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path
) -> None:
    settings = make_settings(redis_url, tmp_path, web_identity_secret=None)
    async with running(settings) as client:
        page = (await client.get("/", params={"as": "priya"})).text
    assert "data-customer" not in _widget_tag(page)
    assert "WEB_IDENTITY_SECRET" in page


# --- WEB_ALLOWED_ORIGINS --------------------------------------------------------------


@pytest.fixture
async def shop_api(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(redis_url, tmp_path, web_allowed_origins=f"{SHOP}/")
    async with running(settings) as client:
        yield client


def _preflight(origin: str, method: str, headers: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": headers,
    }


@pytest.mark.parametrize(
    ("path", "method", "headers"),
    [
        ("/api/chat/sessions", "POST", "content-type"),
        ("/api/chat/messages", "POST", "authorization,content-type"),
        ("/api/chat/events", "GET", "authorization, last-event-id"),
    ],
)
async def test_the_shop_origin_passes_the_preflight(
    shop_api: httpx.AsyncClient, path: str, method: str, headers: str
) -> None:
    response = await shop_api.options(path, headers=_preflight(SHOP, method, headers))
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == SHOP
    assert method in response.headers["access-control-allow-methods"]
    allowed = response.headers["access-control-allow-headers"]
    assert all(h.strip() in allowed for h in headers.split(","))
    assert "access-control-allow-credentials" not in response.headers
    assert int(response.headers["access-control-max-age"]) > 0


async def test_the_shop_origin_reads_answers_and_retry_after(shop_api: httpx.AsyncClient) -> None:
    response = await shop_api.post("/api/chat/sessions", json={}, headers={"Origin": SHOP})
    assert response.status_code == 201
    assert response.headers["access-control-allow-origin"] == SHOP
    assert "Origin" in response.headers["vary"]
    assert "retry-after" in response.headers["access-control-expose-headers"].lower()

    token = response.json()["token"]
    error = await shop_api.post(
        "/api/chat/messages", content=b"{", headers={**auth(token), "Origin": SHOP}
    )
    assert error.status_code == 400  # errors are readable too, so the panel can show them
    assert error.headers["access-control-allow-origin"] == SHOP


async def test_another_origin_gets_no_cors_headers(shop_api: httpx.AsyncClient) -> None:
    token, _ = await start_session(shop_api)
    preflight = await shop_api.options(
        "/api/chat/messages", headers=_preflight(ELSEWHERE, "POST", "authorization,content-type")
    )
    assert preflight.status_code == 403
    assert preflight.json()["error"]["code"] == "origin_not_allowed"
    assert not [h for h in preflight.headers if h.startswith("access-control-")]

    for response in (
        await shop_api.post("/api/chat/sessions", json={}, headers={"Origin": ELSEWHERE}),
        await shop_api.post(
            "/api/chat/messages",
            json={"message_id": "m1", "text": "hi"},
            headers={**auth(token), "Origin": ELSEWHERE},
        ),
    ):
        assert not [h for h in response.headers if h.startswith("access-control-")]


async def test_a_preflight_for_other_methods_or_headers_is_refused(
    shop_api: httpx.AsyncClient,
) -> None:
    for method, headers in (("DELETE", "authorization"), ("POST", "x-custom, authorization")):
        response = await shop_api.options(
            "/api/chat/messages", headers=_preflight(SHOP, method, headers)
        )
        assert response.status_code == 403
        assert "access-control-allow-origin" not in response.headers


async def test_only_the_chat_api_is_shared(shop_api: httpx.AsyncClient) -> None:
    for path in ("/", "/healthz", "/widget.js"):
        response = await shop_api.get(path, headers={"Origin": SHOP})
        assert "access-control-allow-origin" not in response.headers, path


async def test_no_allowed_origins_means_same_origin_only(api: httpx.AsyncClient) -> None:
    preflight = await api.options(
        "/api/chat/sessions", headers=_preflight(SHOP, "POST", "content-type")
    )
    assert "access-control-allow-origin" not in preflight.headers
    response = await api.post("/api/chat/sessions", json={}, headers={"Origin": SHOP})
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize("entry", ["*", "shop.example.com", "https://shop.example.com/path"])
def test_an_allowed_origin_must_be_an_origin(entry: str) -> None:
    with pytest.raises(pydantic.ValidationError, match="is not an origin"):
        Settings(_env_file=None, web_allowed_origins=entry)  # type: ignore[call-arg]


def test_allowed_origins_are_normalised() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        web_allowed_origins="https://Shop.Example.com/, http://localhost:5173",
    )
    assert settings.web_allowed_origins == ["https://shop.example.com", "http://localhost:5173"]


def test_an_idle_event_stream_outlives_the_redis_timeout() -> None:
    """The stream's blocking read lasts one heartbeat; were it longer than the Redis
    client's socket timeout, every idle stream would end in a TimeoutError after 10 s."""
    assert pushes.HEARTBEAT_S < REDIS_SOCKET_TIMEOUT_S
