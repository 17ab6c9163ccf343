"""End to end: a shopper's photo from each channel reaches the ticket, and the bytes
staff download are the bytes the shopper sent, less the location. Against local
fakes of Twilio's media URLs (basic auth, a redirect to a CDN on another host) and of
the Bot API's getFile, with the files kept in a folder or in a local S3-compatible
server (moto). An oversized file and an HTML page called photo.jpg are refused, and
the shopper is told why."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from app_harness import auth, running, start_session
from channel_harness import (
    PUBLIC_URL,
    TELEGRAM_TOKEN,
    TWILIO_SID,
    TWILIO_TOKEN,
    TelegramShopper,
    WhatsAppShopper,
    channel_settings,
)
from fake_media import FakeTelegramWithFiles, TwilioMediaFiles, twilio_with_media
from fake_providers import FakeTwilio
from inbox_harness import ADMIN, ADMIN_PASSWORD, api_login
from sqlalchemy import func, select

from records.db import Database
from records.schema import attachments
from tests.channel_payloads import telegram_update
from tests.live import eventually, serving
from tests.media_files import HTML_AS_JPEG, LATITUDE, PHOTO_JPEG, exif_tiff, jpeg_with, png
from tests.media_files import PDF as PDF_BYTES
from tests.s3 import S3

GPS_AT = 38  # where exif_tiff()'s GPS directory starts: from there on, all of it is GPS
PHOTO_WITH_GPS = jpeg_with(exif_tiff())
PHOTO_AS_STAFF_SEE_IT = jpeg_with(exif_tiff()[:GPS_AT] + bytes(len(exif_tiff()) - GPS_AT))
MEDIA_SID = "MM" + "ab" * 16


@dataclass
class Providers:
    twilio_url: str
    twilio_files: TwilioMediaFiles
    telegram: FakeTelegramWithFiles
    twilio: FakeTwilio


@pytest.fixture
async def providers() -> AsyncIterator[Providers]:
    files = TwilioMediaFiles(TWILIO_SID, TWILIO_TOKEN)
    telegram = FakeTelegramWithFiles(TELEGRAM_TOKEN)
    twilio = FakeTwilio(TWILIO_SID, TWILIO_TOKEN)
    async with (
        serving(twilio_with_media(twilio, files),
                lifespan="off") as (api_url, _api),
        serving(files.cdn_app(), lifespan="off") as (cdn_url, _cdn),
        serving(telegram.app(), lifespan="off") as (telegram_url, _tg),
    ):
        files.cdn_url = cdn_url.replace("127.0.0.1", "localhost")  # another host
        telegram.url = telegram_url
        yield Providers(api_url, files, telegram, twilio)


@pytest.fixture(params=["local", "s3"])
def store_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "local":
        return {}
    s3: S3 = request.getfixturevalue("s3_server")
    return {"media_store_url": f"s3://{s3.new_bucket()}/shop", "media_s3_endpoint": s3.endpoint,
            "media_s3_region": s3.region, "media_s3_access_key_id": s3.access_key_id,
            "media_s3_secret_access_key": s3.secret_access_key}


def settings_for(redis_url: str, tmp_path: Path, providers: Providers,
                 store: dict[str, Any], **overrides: Any) -> Any:
    return channel_settings(
        redis_url, tmp_path, twilio_api_url=providers.twilio_url,
        telegram_api_url=providers.telegram.url, inbox_admin_email=ADMIN,
        inbox_admin_password=ADMIN_PASSWORD, inbox_cookie_secret="test-cookie-secret",
        **store, **overrides)


@pytest.fixture
async def client(redis: aioredis.Redis, redis_url: str, tmp_path: Path, providers: Providers,
                 store_settings: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    async with running(settings_for(redis_url, tmp_path, providers, store_settings)) as client:
        yield client


async def staff_files(client: httpx.AsyncClient, ticket: str) -> list[tuple[dict[str, Any],
                                                                           httpx.Response]]:
    """What staff see on the ticket, in transcript order: each file and its download
    (over https: PUBLIC_URL is https, so the staff cookie is a Secure one)."""
    async with httpx.AsyncClient(transport=client._transport,
                                 base_url="https://testserver") as staff:
        await api_login(staff)
        answer = await staff.get(f"/api/inbox/tickets/{ticket}")
        assert answer.status_code == 200, answer.text
        found = []
        for line in answer.json()["transcript"]:
            for attachment in line["attachments"]:
                found.append((attachment, await staff.get(f"/inbox/files/{attachment['id']}")))
        return found


def assert_served_safely(response: httpx.Response, content_type: str) -> None:
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-disposition"].startswith(("inline; filename=",
                                                               "attachment; filename="))
    assert "sandbox" in response.headers["content-security-policy"]


async def stored_files(db: Database) -> int:
    async with db.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(attachments)))
                   .scalar_one())


async def test_a_whatsapp_photo_reaches_the_ticket_without_its_location(
    client: httpx.AsyncClient, providers: Providers
) -> None:
    shopper = WhatsAppShopper(client)
    await shopper.say("agent")
    await shopper.say("The lamp arrived broken, the shade is cracked")
    assert "T-1001" in shopper.text
    providers.twilio_files.files["ME" + "01" * 16] = PHOTO_WITH_GPS
    url = providers.twilio_files.url(providers.twilio_url, MEDIA_SID, "ME" + "01" * 16)
    await shopper.send("image", MediaUrl0=url, Body="")
    assert "added to request T-1001" in shopper.text

    [(attachment, download)] = await staff_files(client, "T-1001")
    assert attachment["content_type"] == "image/jpeg" and attachment["image"]
    assert_served_safely(download, "image/jpeg")
    assert download.content == PHOTO_AS_STAFF_SEE_IT
    assert LATITUDE not in download.content
    # the credentials went to Twilio's API only, never to the CDN it redirected to
    [cdn_request] = providers.twilio_files.cdn_hits
    assert "authorization" not in cdn_request


async def test_a_whatsapp_photo_is_fetched_once_however_often_the_webhook_comes(
    client: httpx.AsyncClient, providers: Providers, db: Database
) -> None:
    shopper = WhatsAppShopper(client)
    await shopper.say("agent")
    await shopper.say("The lamp arrived broken, the shade is cracked")
    providers.twilio_files.files["ME" + "02" * 16] = png()
    url = providers.twilio_files.url(providers.twilio_url, MEDIA_SID, "ME" + "02" * 16)
    for _ in range(2):  # Twilio retries a webhook it got no answer to in time
        await shopper.send("image", MediaUrl0=url, Body="Here it is",
                           MessageSid="MM" + "cd" * 16)
    assert len(providers.twilio_files.api_hits) == 1
    assert await stored_files(db) == 1
    [(_, download)] = await staff_files(client, "T-1001")
    assert download.content == png()  # no location in it: byte for byte


async def test_media_urls_off_twilios_api_host_are_not_fetched(
    client: httpx.AsyncClient, providers: Providers, db: Database
) -> None:
    shopper = WhatsAppShopper(client)
    await shopper.say("agent")
    await shopper.say("The lamp arrived broken, the shade is cracked")
    providers.twilio_files.files["ME" + "03" * 16] = PHOTO_JPEG
    elsewhere = providers.twilio_files.cdn_url + "/cdn/ME" + "03" * 16
    await shopper.send("image", MediaUrl0=elsewhere, Body="")
    assert "could not download that file" in shopper.text
    assert providers.twilio_files.cdn_hits == [] and await stored_files(db) == 0


async def test_a_telegram_photo_reaches_the_ticket_in_its_largest_size(
    client: httpx.AsyncClient, redis: aioredis.Redis, providers: Providers
) -> None:
    shopper = TelegramShopper(client, redis)
    await shopper.say("agent")
    await shopper.say("Wrong colour: I ordered blue and got red")
    assert "T-1001" in shopper.last.text
    providers.telegram.files.update({"AgACAgUAAxkBAAIBZ2Vx": png(2, 2),
                                     "AgACAgUAAxkBAAIBZ2Vy": PHOTO_WITH_GPS})
    said = await shopper.send("photo")
    assert "added to request T-1001" in said.text
    assert providers.telegram.downloads == ["AgACAgUAAxkBAAIBZ2Vy"]  # 800x600, not 90x67

    [(attachment, download)] = await staff_files(client, "T-1001")
    assert attachment["content_type"] == "image/jpeg"
    assert_served_safely(download, "image/jpeg")
    assert download.content == PHOTO_AS_STAFF_SEE_IT


async def test_a_photo_where_no_person_would_see_it_is_not_even_fetched(
    client: httpx.AsyncClient, redis: aioredis.Redis, providers: Providers, db: Database
) -> None:
    shopper = TelegramShopper(client, redis)
    providers.telegram.files["AgACAgUAAxkBAAIBZ2Vy"] = PHOTO_JPEG
    said = await shopper.send("photo")  # at the menu
    assert said.keys[:2] == ["welcome", "media.unsupported"]
    assert providers.telegram.downloads == [] and await stored_files(db) == 0


async def test_a_telegram_document_reaches_the_ticket_as_a_download(
    client: httpx.AsyncClient, redis: aioredis.Redis, providers: Providers
) -> None:
    shopper = TelegramShopper(client, redis)
    await shopper.say("agent")
    await shopper.say("Please check the invoice, the amount is wrong")
    update = telegram_update("photo", user_id=shopper.user_id)
    message = update["message"]
    del message["photo"]
    message["caption"] = "the invoice"
    message["document"] = {"file_id": "BQACAgUAAxkBAAIBaGVz", "file_unique_id": "AgADxy",
                           "file_name": "invoice (1).pdf", "mime_type": "application/pdf",
                           "file_size": len(PDF_BYTES)}
    providers.telegram.files["BQACAgUAAxkBAAIBaGVz"] = PDF_BYTES
    assert (await shopper.post(update)).status_code == 200
    assert "added to request T-1001" in (await shopper.new_replies()).text

    [(attachment, download)] = await staff_files(client, "T-1001")
    assert attachment["filename"] == "invoice (1).pdf" and not attachment["inline"]
    assert_served_safely(download, "application/pdf")
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.content == PDF_BYTES


async def test_a_web_upload_reaches_the_ticket_with_its_caption(
    client: httpx.AsyncClient
) -> None:
    token, _ = await start_session(client)
    for n, text in enumerate(["agent", "The mug came in pieces"]):
        await client.post("/api/chat/messages", headers=auth(token),
                          json={"message_id": f"w{n}", "text": text})
    uploaded = await client.post("/api/chat/uploads", headers=auth(token),
                                 files={"file": ("IMG_0042.jpg", PHOTO_WITH_GPS, "image/jpeg")})
    assert uploaded.status_code == 201, uploaded.text
    upload = uploaded.json()["upload"]
    answer = await client.post("/api/chat/messages", headers=auth(token), json={
        "message_id": "w9", "upload": upload, "text": "this is how it arrived"})
    assert answer.status_code == 200, answer.text
    assert "added to request T-1001" in answer.json()["replies"][0]["text"]

    [(attachment, download)] = await staff_files(client, "T-1001")
    assert attachment["filename"] == "IMG_0042.jpg"
    assert download.content == PHOTO_AS_STAFF_SEE_IT
    assert attachment["who"] == "shopper"


async def test_an_upload_is_only_its_own_chats(client: httpx.AsyncClient) -> None:
    mine, _ = await start_session(client)
    theirs, _ = await start_session(client)
    uploaded = await client.post("/api/chat/uploads", headers=auth(theirs),
                                 files={"file": ("a.png", png(), "image/png")})
    answer = await client.post("/api/chat/messages", headers=auth(mine), json={
        "message_id": "x1", "upload": uploaded.json()["upload"]})
    assert answer.status_code == 422
    unauthenticated = await client.post("/api/chat/uploads",
                                        files={"file": ("a.png", png(), "image/png")})
    assert unauthenticated.status_code == 401


async def test_staff_files_need_a_login(client: httpx.AsyncClient) -> None:
    token, _ = await start_session(client)
    uploaded = await client.post("/api/chat/uploads", headers=auth(token),
                                 files={"file": ("a.png", png(), "image/png")})
    response = await client.get(f"/inbox/files/{uploaded.json()['upload']}")
    assert response.status_code == 303 and "/inbox/login" in response.headers["location"]


# --- refused files -------------------------------------------------------------------


@pytest.fixture
async def small_limit_client(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path, providers: Providers,
    store_settings: dict[str, Any],
) -> AsyncIterator[httpx.AsyncClient]:
    settings = settings_for(redis_url, tmp_path, providers, store_settings,
                            media_max_bytes=4096)
    async with running(settings) as client:
        yield client


OVERSIZED = PHOTO_JPEG + bytes(5000)  # a JPEG may carry bytes after its end marker


async def test_an_oversized_or_disguised_file_is_refused_on_every_channel(
    small_limit_client: httpx.AsyncClient, redis: aioredis.Redis, providers: Providers,
    db: Database,
) -> None:
    client = small_limit_client
    whatsapp = WhatsAppShopper(client)
    await whatsapp.say("agent")
    await whatsapp.say("The lamp arrived broken, the shade is cracked")
    for media, data, why in (("ME" + "04" * 16, OVERSIZED, "files can be up to 4 KB"),
                             ("ME" + "05" * 16, HTML_AS_JPEG, "PDF files only")):
        providers.twilio_files.files[media] = data
        url = providers.twilio_files.url(providers.twilio_url, MEDIA_SID, media)
        await whatsapp.send("image", MediaUrl0=url, Body="")
        assert why in whatsapp.text and "saved" in whatsapp.text
        assert "added to request" not in whatsapp.text

    telegram = TelegramShopper(client, redis, language="hi")
    await telegram.say("agent")
    providers.telegram.files.update({"AgACAgUAAxkBAAIBZ2Vx": HTML_AS_JPEG,
                                     "AgACAgUAAxkBAAIBZ2Vy": HTML_AS_JPEG})
    said = await telegram.send("photo")
    assert said.keys == ["media.refused_type"]
    assert providers.telegram.downloads == ["AgACAgUAAxkBAAIBZ2Vx"]  # the size under 4 KB
    assert "PDF" in said.text and "फ़ाइल" in said.text  # told in Hindi

    token, _ = await start_session(client, {"locale": "hi"})
    too_big = await client.post("/api/chat/uploads", headers=auth(token),
                                files={"file": ("big.jpg", OVERSIZED, "image/jpeg")})
    assert too_big.status_code == 413
    assert "4 KB" in too_big.json()["error"]["message"]
    assert "फ़ाइल" in too_big.json()["error"]["message"]
    html = await client.post("/api/chat/uploads", headers=auth(token),
                             files={"file": ("photo.jpg", HTML_AS_JPEG, "image/jpeg")})
    assert html.status_code == 415 and html.json()["error"]["code"] == "unsupported"
    assert await stored_files(db) == 0


# --- staff send a file back ----------------------------------------------------------


@pytest.fixture
async def worker_client(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path, providers: Providers,
) -> AsyncIterator[httpx.AsyncClient]:
    settings = settings_for(redis_url, tmp_path, providers, {}, worker_in_process=True)
    async with running(settings) as client:
        yield client


async def send_file(client: httpx.AsyncClient, ticket: str, data: bytes, name: str,
                    text: str = "") -> httpx.Response:
    async with httpx.AsyncClient(transport=client._transport,
                                 base_url="https://testserver") as staff:
        csrf = await api_login(staff)
        return await staff.post(f"/api/inbox/tickets/{ticket}/files", headers=csrf,
                                files={"file": (name, data, "application/octet-stream")},
                                data={"text": text, "reply_id": "r1"})


async def test_staff_send_a_photo_and_a_pdf_back_on_telegram_and_whatsapp(
    worker_client: httpx.AsyncClient, redis: aioredis.Redis, providers: Providers
) -> None:
    client = worker_client
    telegram = TelegramShopper(client, redis)
    await telegram.say("agent")
    await telegram.say("Wrong colour: I ordered blue and got red")
    sent = await send_file(client, "T-1001", PHOTO_WITH_GPS, "label.jpg",
                           "Is this the label on your parcel?")
    assert sent.status_code == 201, sent.text
    await eventually(lambda: len(providers.telegram.uploads) == 1)
    [(method, params, _)] = providers.telegram.uploads
    # the caption names who is speaking, as a staff reply's text does
    assert method == "sendPhoto" and params["caption"] == "Admin: Is this the label on your parcel?"
    link = params["photo"].removeprefix(PUBLIC_URL)
    fetched = await client.get(link)  # what Telegram fetches
    assert fetched.status_code == 200 and fetched.content == PHOTO_AS_STAFF_SEE_IT
    assert (await client.get(link[:-4] + "0000")).status_code == 404  # a forged signature
    staff_line = [line for line in sent.json()["transcript"] if line["who"] == "staff"]
    assert staff_line[-1]["attachments"][0]["content_type"] == "image/jpeg"

    whatsapp = WhatsAppShopper(client)
    await whatsapp.say("agent")
    await whatsapp.say("Where is the invoice for my order?")
    assert "T-1002" in whatsapp.text
    sent = await send_file(client, "T-1002", PDF_BYTES, "invoice.pdf")
    assert sent.status_code == 201, sent.text
    await eventually(lambda: any("MediaUrl" in m for m in providers.twilio.messages))
    [message] = [m for m in providers.twilio.messages if "MediaUrl" in m]
    fetched = await client.get(message["MediaUrl"].removeprefix(PUBLIC_URL))  # Twilio's fetch
    assert fetched.content == PDF_BYTES
    assert fetched.headers["content-disposition"].startswith("attachment;")
    assert message.get("Body") == "Admin", message  # no words: the name alone


async def test_staff_cannot_send_a_page_as_a_file(
    worker_client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    telegram = TelegramShopper(worker_client, redis)
    await telegram.say("agent")
    await telegram.say("Wrong colour: I ordered blue and got red")
    sent = await send_file(worker_client, "T-1001", HTML_AS_JPEG, "x.jpg")
    assert sent.status_code == 415
