"""The `twilio` library's async HTTP client interface over one aiohttp session.

The twilio client builds the REST requests (URL, form, Basic auth) and reads the
answers (`TwilioRestException` with Twilio's status and code); this class only
carries them. twilio ships `AsyncTwilioHttpClient` on aiohttp too, but it ignores
its own `timeout` when a call passes none (every `create_async` call): a stalled
connection would hold an outbox delivery for aiohttp's default five minutes. Here
every request has `timeout` seconds in all, from one pooled keep-alive session
(made on first use, inside the running loop).

A timeout or a transport failure is raised as `TwilioUnreachable` (the sender's
"retry later").
"""

from __future__ import annotations

import logging

import aiohttp
from twilio.http import AsyncHttpClient
from twilio.http.response import Response as TwilioResponse

POOL_SIZE = 16


class TwilioUnreachable(ConnectionError):
    """The request did not get an answer: a timeout or a transport failure."""


class AiohttpTwilioClient(AsyncHttpClient):  # type: ignore[misc]  # untyped library
    def __init__(self, timeout: float = 10.0) -> None:
        super().__init__(logging.getLogger("twilio.http_client"), True, timeout)
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=POOL_SIZE))
        return self._session

    async def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the twilio interface
        allow_redirects: bool = False,
    ) -> TwilioResponse:
        if auth is not None:
            headers = {**(headers or {}), "Authorization": aiohttp.encode_basic_auth(*auth)}
        try:
            async with self._open().request(
                method,
                uri,
                params=params,  # type: ignore[arg-type]  # twilio's values are strings
                data=data,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout or self.timeout),
                allow_redirects=allow_redirects,
            ) as response:
                text = await response.text()
        except TimeoutError as exc:
            raise TwilioUnreachable("Twilio did not answer in time") from exc
        except aiohttp.ClientError as exc:
            raise TwilioUnreachable(f"aiohttp.{type(exc).__name__}") from exc
        return TwilioResponse(response.status, text, response.headers)

    async def aclose(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
