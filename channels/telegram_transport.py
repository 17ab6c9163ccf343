"""python-telegram-bot's `Bot` over aiohttp: a `BaseRequest` implementation.

PTB lets the HTTP layer under `Bot` be swapped (`Bot(request=...)`, "can be
implemented via different asyncio HTTP libraries"); the Bot API methods, their
parameters, errors (`RetryAfter`, `Forbidden`, `BadRequest`...) and JSON parsing
stay PTB's, in `BaseRequest.post`. Its default, `HTTPXRequest`, spends about a
millisecond of CPU per `sendMessage` here, three quarters of it in httpx; the
outbox sends one or more messages for every Telegram turn, so that is most of a
Telegram turn's cost. aiohttp (already installed: twilio's async client is built
on it) does the same request for a fraction of that.

What it keeps of `HTTPXRequest`'s contract:
- one pooled session of keep-alive connections (`connection_pool_size` of them);
- the four timeouts, per request or by default: `connect_timeout` (a new
  connection), `pool_timeout` (waiting for a free one; aiohttp counts it together
  with connecting), `read_timeout` (between reads of the answer). aiohttp has no
  write timeout: `write_timeout` is accepted and not used (a message is one small
  write). aiohttp's timeouts are timer callbacks on the loop, not a task each;
- a timeout raises `telegram.error.TimedOut`, no connection (or one that broke
  before the answer) `TelegramUnreachable`, any other transport failure
  `NetworkError`: all three are `NetworkError`s, which the sender retries;
- the body is the same url-encoded form (JSON-encoded values) as `HTTPXRequest`
  sends, and multipart when files are attached.
"""

from __future__ import annotations

from typing import cast

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData


class TelegramUnreachable(NetworkError):
    """No answer at all: no connection, or it broke before the answer came."""


class AiohttpRequest(BaseRequest):
    """`BaseRequest` on one `aiohttp.ClientSession` (made in `initialize`)."""

    __slots__ = ("_connect", "_default", "_pool", "_pool_size", "_read", "_session")

    def __init__(
        self,
        *,
        connection_pool_size: int = 16,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read = read_timeout
        self._connect = connect_timeout
        self._pool = pool_timeout
        self._default = self._timeout(read_timeout, connect_timeout, pool_timeout)
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                headers={"User-Agent": self.USER_AGENT},
            )

    async def shutdown(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    @staticmethod
    def _timeout(
        read: float | None, connect: float | None, pool: float | None
    ) -> aiohttp.ClientTimeout:
        waiting = None if connect is None or pool is None else connect + pool
        return aiohttp.ClientTimeout(total=None, connect=waiting, sock_connect=connect,
                                     sock_read=read)

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = BaseRequest.DEFAULT_NONE,
        write_timeout: object = BaseRequest.DEFAULT_NONE,
        connect_timeout: object = BaseRequest.DEFAULT_NONE,
        pool_timeout: object = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """See `BaseRequest.do_request`. A timeout left at `DEFAULT_NONE` is this
        object's own; one given as None waits for ever."""
        if self._session is None:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        unset = BaseRequest.DEFAULT_NONE
        if read_timeout is unset and connect_timeout is unset and pool_timeout is unset:
            timeout = self._default
        else:
            timeout = self._timeout(_given(read_timeout, self._read),
                                    _given(connect_timeout, self._connect),
                                    _given(pool_timeout, self._pool))
        body: aiohttp.FormData | bytes | None = None
        headers = None
        if request_data is not None and request_data.contains_files:
            form = aiohttp.FormData(request_data.json_parameters)
            for name, (filename, content, mime) in request_data.multipart_data.items():
                form.add_field(name, content, filename=filename, content_type=mime)
            body = form
        elif request_data is not None:
            # the form encoded here: aiohttp's FormData for a dict is a tenth of a send
            body = request_data.url_encoded_parameters().encode()
            headers = _FORM
        try:
            async with self._session.request(method, url, data=body, headers=headers,
                                             timeout=timeout) as response:
                return response.status, await response.read()
        except TimeoutError as exc:
            raise TimedOut from exc
        except aiohttp.ClientConnectionError as exc:
            raise TelegramUnreachable(f"aiohttp.{type(exc).__name__}: {exc}") from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {exc}") from exc


_FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _given(value: object, default: float | None) -> float | None:
    """A timeout argument: `default` when it was not passed."""
    return default if value is BaseRequest.DEFAULT_NONE else cast(float | None, value)
