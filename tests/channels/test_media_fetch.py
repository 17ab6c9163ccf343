"""Fetching a shopper's file from Twilio: the credentials go to Twilio's API host
only, redirects are followed to https hosts only, and a file over the limit is
dropped as soon as it passes it. Twilio's side is an httpx mock transport."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from channels.media_fetch import FetchFailed, FetchRefused, TooLarge, TwilioMedia

API = "https://api.twilio.com"
MEDIA = f"{API}/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"
CDN = "https://mms.twiliocdn.example/abc/ME1"


def twilio(handler: Callable[[httpx.Request], httpx.Response]) -> tuple[TwilioMedia,
                                                                        list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(record))
    return TwilioMedia(client, api_url=API, account_sid="AC1", auth_token="secret"), seen


def redirecting(to: str, body: bytes = b"\xff\xd8\xffphoto") -> Callable[[httpx.Request],
                                                                         httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "api.twilio.com":
            if request.headers.get("authorization") != "Basic QUMxOnNlY3JldA==":
                return httpx.Response(401)
            return httpx.Response(307, headers={"location": to})
        return httpx.Response(200, content=body)
    return handler


async def test_the_file_is_fetched_through_the_redirect_without_the_credentials() -> None:
    media, seen = twilio(redirecting(CDN))
    assert await media.fetch(MEDIA, 1000) == b"\xff\xd8\xffphoto"
    api, cdn = seen
    assert api.headers["authorization"].startswith("Basic ")
    assert "authorization" not in cdn.headers and cdn.url == httpx.URL(CDN)


@pytest.mark.parametrize("url", [
    "https://evil.example/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
    "http://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
    "https://api.twilio.com.evil.example/x",
])
async def test_only_twilios_own_api_is_asked(url: str) -> None:
    media, seen = twilio(redirecting(CDN))
    with pytest.raises(FetchRefused):
        await media.fetch(url, 1000)
    assert seen == []  # the credentials went nowhere


async def test_a_redirect_to_plain_http_is_not_followed() -> None:
    media, seen = twilio(redirecting("http://mms.twiliocdn.example/abc/ME1"))
    with pytest.raises(FetchRefused):
        await media.fetch(MEDIA, 1000)
    assert len(seen) == 1


async def test_a_file_over_the_limit_is_dropped() -> None:
    media, _ = twilio(redirecting(CDN, body=b"x" * 5000))
    with pytest.raises(TooLarge):
        await media.fetch(MEDIA, 4096)


async def test_endless_redirects_and_errors_fail_cleanly() -> None:
    media, _ = twilio(lambda r: httpx.Response(302, headers={"location": CDN}))
    with pytest.raises(FetchFailed, match="too many redirects"):
        await media.fetch(MEDIA, 1000)
    media, _ = twilio(lambda r: httpx.Response(404))
    with pytest.raises(FetchFailed, match="404"):
        await media.fetch(MEDIA, 1000)
