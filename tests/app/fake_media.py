"""Local stand-ins for where providers keep shoppers' files: Twilio's media URLs
(HTTP basic auth, then a redirect to a CDN on another host, which must not get the
credentials) and the Telegram Bot API's `getFile` plus its file route."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from fake_providers import FakeTelegram, FakeTwilio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route


@dataclass
class TwilioMediaFiles:
    """The API host (`api`) and the CDN host (`cdn`) are two servers: files are put
    in `files` by media id."""

    account_sid: str
    auth_token: str
    files: dict[str, bytes] = field(default_factory=dict)
    cdn_url: str = ""
    api_hits: list[str] = field(default_factory=list)
    cdn_hits: list[dict[str, str]] = field(default_factory=list)

    def api_routes(self) -> list[Route]:
        return [Route("/2010-04-01/Accounts/{sid}/Messages/{message}/Media/{media}",
                      self._media, methods=["GET"])]

    def cdn_app(self) -> Starlette:
        return Starlette(routes=[Route("/cdn/{media}", self._cdn, methods=["GET"])])

    def url(self, api_url: str, message: str, media: str) -> str:
        return f"{api_url}/2010-04-01/Accounts/{self.account_sid}/Messages/{message}/Media/{media}"

    async def _media(self, request: Request) -> Response:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return JSONResponse({"code": 20003, "message": "Authenticate"}, status_code=401)
        media = request.path_params["media"]
        self.api_hits.append(media)
        if media not in self.files:
            return JSONResponse({"code": 20404, "message": "Not found"}, status_code=404)
        return RedirectResponse(f"{self.cdn_url}/cdn/{media}", status_code=307)

    async def _cdn(self, request: Request) -> Response:
        self.cdn_hits.append(dict(request.headers))
        data = self.files.get(request.path_params["media"])
        if data is None:
            return Response(status_code=404)
        return Response(data, media_type="image/jpeg")


def twilio_with_media(fake: FakeTwilio, media: TwilioMediaFiles) -> Starlette:
    return Starlette(routes=[*fake.app().routes, *media.api_routes()])


@dataclass
class FakeTelegramWithFiles(FakeTelegram):
    """`getFile` and `/file/bot<token>/<path>` for the files in `files` (by file id);
    `sendPhoto` / `sendDocument` recorded like `sendMessage`."""

    files: dict[str, bytes] = field(default_factory=dict)
    downloads: list[str] = field(default_factory=list)
    uploads: list[tuple[str, dict[str, Any], bytes]] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/file/bot{token}/{path:path}", self._file, methods=["GET"]),
            Route("/bot{token}/{method}", self._call_with_files, methods=["POST"]),
        ])

    async def _call_with_files(self, request: Request) -> Response:
        method = request.path_params["method"]
        if method not in ("sendPhoto", "sendDocument"):
            return await self._call(request)
        form = await request.form()
        params: dict[str, Any] = {}
        data = b""
        for key, value in form.multi_items():
            if isinstance(value, str):
                params[key] = value
            else:
                data = await value.read()
        self.uploads.append((method, params, data))
        bot = {"id": 555000111, "is_bot": True, "first_name": "Order Help"}
        chat = {"id": int(params["chat_id"]), "type": "private"}
        return JSONResponse({"ok": True, "result": {
            "message_id": next(self._ids), "date": 1763370004, "chat": chat, "from": bot}})

    def _answer(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if method == "getFile":
            file_id = str(params["file_id"])
            if file_id not in self.files:
                return 400, {"ok": False, "error_code": 400,
                             "description": "Bad Request: invalid file_id"}
            return 200, {"ok": True, "result": {
                "file_id": file_id, "file_unique_id": file_id[-6:],
                "file_size": len(self.files[file_id]), "file_path": f"photos/{file_id}.jpg"}}
        return super()._answer(method, params)

    async def _file(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return Response(status_code=401)
        file_id = request.path_params["path"].removeprefix("photos/").removesuffix(".jpg")
        self.downloads.append(file_id)
        data = self.files.get(file_id)
        return Response(data, media_type="application/octet-stream") if data is not None \
            else Response(status_code=404)
