"""Fetching the files shoppers send, from the provider that holds them.

    TwilioMedia(client, api_url, account_sid, auth_token).fetch(url, max_bytes)
    fetch_telegram(bot, file_id, max_bytes)

Twilio serves a message's media at its REST API (`MediaUrlN`, under
`TWILIO_API_URL`) behind HTTP basic auth with the account's credentials, and
answers with a redirect to its CDN. So: the first URL must be on the API's own
host (scheme and host equal `TWILIO_API_URL`'s, else `FetchRefused`: a forged
webhook cannot make us fetch from anywhere else, and the credentials never leave
for another host); redirects are followed by hand, at most `MAX_REDIRECTS`, to
https only (http only when the API itself is http, i.e. a local fake in tests), and
without the credentials. Every read has a timeout and the whole fetch a deadline;
the body is read in pieces and dropped as soon as it passes `max_bytes`
(`TooLarge`), so a huge file costs nothing but the bytes up to the limit.

Telegram gives a file through `getFile` then `TELEGRAM_API_URL/file/bot<token>/<path>`,
both through python-telegram-bot's `Bot` (its base URLs, timeouts and errors).

Errors: `FetchFailed` (the provider did not give the file) and its subclasses
`TooLarge` and `FetchRefused`.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import anyio
import httpx
from telegram import Bot
from telegram.error import TelegramError

MAX_REDIRECTS = 3
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
DEADLINE_S = 60.0


class FetchFailed(Exception):
    """The provider did not give the file (an error, a timeout, a bad redirect)."""


class TooLarge(FetchFailed):
    """The file is larger than the limit."""


class FetchRefused(FetchFailed):
    """The URL is not one we fetch from (another host, not https)."""


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.netloc or "").lower()


class TwilioMedia:
    def __init__(
        self, client: httpx.AsyncClient, *, api_url: str, account_sid: str, auth_token: str
    ) -> None:
        self._client = client
        self._api = _origin(api_url)
        self._auth = httpx.BasicAuth(account_sid, auth_token)

    def allowed(self, url: str) -> bool:
        """Only the Twilio API's own origin is fetched with the credentials."""
        return _origin(url) == self._api

    async def fetch(self, url: str, max_bytes: int) -> bytes:
        if not self.allowed(url):
            raise FetchRefused("a media URL outside the Twilio API")
        secure_only = self._api[0] == "https"
        try:
            with anyio.fail_after(DEADLINE_S):
                for hop in range(MAX_REDIRECTS + 1):
                    auth = self._auth if hop == 0 else None
                    request = self._client.build_request("GET", url, timeout=TIMEOUT)
                    response = await self._client.send(request, auth=auth, stream=True,
                                                       follow_redirects=False)
                    try:
                        if response.is_redirect:
                            target = urljoin(url, response.headers.get("location", ""))
                            scheme, host = _origin(target)
                            if not host or (scheme != "https" and (
                                    secure_only or scheme != "http")):
                                raise FetchRefused("a redirect to a URL that is not https")
                            url = target
                            continue
                        if response.status_code != 200:
                            raise FetchFailed(f"the provider answered {response.status_code}")
                        declared = response.headers.get("content-length", "")
                        if declared.isdigit() and int(declared) > max_bytes:
                            raise TooLarge("over the limit")
                        body = bytearray()
                        async for piece in response.aiter_bytes():
                            body += piece
                            if len(body) > max_bytes:
                                raise TooLarge("over the limit")
                        return bytes(body)
                    finally:
                        await response.aclose()
        except TimeoutError as exc:
            raise FetchFailed("the provider took too long") from exc
        except httpx.HTTPError as exc:
            raise FetchFailed(f"the provider could not be reached ({type(exc).__name__})") from exc
        raise FetchFailed("too many redirects")


async def fetch_telegram(bot: Bot, file_id: str, max_bytes: int) -> bytes:
    try:
        with anyio.fail_after(DEADLINE_S):
            file = await bot.get_file(file_id)
            if file.file_size is not None and file.file_size > max_bytes:
                raise TooLarge("over the limit")
            data = bytes(await file.download_as_bytearray())
    except TimeoutError as exc:
        raise FetchFailed("Telegram took too long") from exc
    except TelegramError as exc:  # never its text: it may quote the token
        raise FetchFailed(f"Telegram did not give the file ({type(exc).__name__})") from exc
    if len(data) > max_bytes:
        raise TooLarge("over the limit")
    return data
