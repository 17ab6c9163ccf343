"""Photos in a real browser: a shopper attaches a photo in the widget, staff see it
on the ticket page (and get the bytes the shopper sent, less the location), and
send one back, which the widget shows. Chromium through Playwright, against the
app served by uvicorn; the same with the files in a local S3-compatible server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from inbox_harness import ADMIN, ADMIN_PASSWORD, inbox_settings

from app.main import create_app
from tests.browser import launch, needs_chromium
from tests.live import free_socket, serving, url_of
from tests.media_files import LATITUDE, exif_tiff, jpeg_with, png
from tests.s3 import S3

pytestmark = needs_chromium
GPS_AT = 38
PHOTO_WITH_GPS = jpeg_with(exif_tiff())
PHOTO_AS_STAFF_SEE_IT = jpeg_with(exif_tiff()[:GPS_AT] + bytes(len(exif_tiff()) - GPS_AT))

# the image's width once it has loaded (0 if it cannot): an element that is there may
# still be loading, most of all on a busy machine
LOADED_WIDTH = """img => img.complete ? img.naturalWidth : new Promise(done => {
    img.addEventListener("load", () => done(img.naturalWidth), {once: true});
    img.addEventListener("error", () => done(0), {once: true}); })"""


@pytest.fixture(params=["local", "s3"])
async def base_url(request: pytest.FixtureRequest, redis: aioredis.Redis, redis_url: str,
                   tmp_path: Path) -> AsyncIterator[str]:
    store: dict[str, Any] = {}
    if request.param == "s3":
        s3: S3 = request.getfixturevalue("s3_server")
        store = {"media_store_url": f"s3://{s3.new_bucket()}/shop",
                 "media_s3_endpoint": s3.endpoint, "media_s3_region": s3.region,
                 "media_s3_access_key_id": s3.access_key_id,
                 "media_s3_secret_access_key": s3.secret_access_key}
    sock = free_socket()
    settings = inbox_settings(redis_url, tmp_path / "data", worker_in_process=True,
                              public_url=url_of(sock), **store)
    async with serving(create_app(settings), sock=sock, timeout_graceful_shutdown=1) as (
            url, _server):
        yield url


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with launch() as launched:
        yield launched


def watch(page: Any, problems: list[str]) -> Any:
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    return page


async def say(page: Any, text: str) -> None:
    box = page.get_by_role("textbox", name="Message")
    await box.fill(text)
    await box.press("Enter")


async def test_a_photo_attached_in_the_widget_is_on_the_ticket_page_and_one_comes_back(
    browser: Any, base_url: str, tmp_path: Path
) -> None:
    problems: list[str] = []
    shopper = watch(await browser.new_page(viewport={"width": 1200, "height": 800}), problems)
    await shopper.goto(base_url + "/")
    await shopper.get_by_role("button", name="Open chat").click()
    log = shopper.get_by_role("log", name="Conversation")
    await say(shopper, "agent")
    await log.get_by_text("Please describe the problem").wait_for()
    await say(shopper, "My lamp arrived broken, the shade is cracked")
    await log.get_by_text("T-1001").first.wait_for()

    photo = tmp_path / "lamp.jpg"
    photo.write_bytes(PHOTO_WITH_GPS)
    await shopper.locator("ohb-chat input[type=file]").set_input_files(str(photo))
    await shopper.locator("ohb-chat .pending").get_by_text("lamp.jpg").wait_for()
    assert await shopper.get_by_role("textbox", name="Message").get_attribute(
        "placeholder") == "Add a message (optional)"
    await say(shopper, "this is how it arrived")
    await log.get_by_text("was added to request T-1001").wait_for()
    mine = shopper.locator("ohb-chat .row.me img.shot")
    await mine.wait_for()
    # 48x32 turned upright by its EXIF orientation (kept: only the location went)
    assert await mine.evaluate(LOADED_WIDTH) == 32
    assert await shopper.locator("ohb-chat .pending").is_hidden()

    staff = watch(await browser.new_page(viewport={"width": 1360, "height": 900}), problems)
    await staff.goto(base_url + "/inbox")
    await staff.fill("#email", ADMIN)
    await staff.fill("#password", ADMIN_PASSWORD)
    await staff.get_by_role("button", name="Log in").click()
    await staff.wait_for_url(base_url + "/inbox")
    await staff.goto(base_url + "/inbox/tickets/T-1001")
    line = staff.locator(".transcript .line.shopper", has_text="this is how it arrived")
    thumb = line.locator("a.thumb img")
    await thumb.wait_for()
    assert await thumb.evaluate(LOADED_WIDTH) == 32
    href = await line.locator("a.thumb").get_attribute("href")
    download = await staff.request.get(base_url + str(href))  # with the staff cookie
    assert download.status == 200
    assert await download.body() == PHOTO_AS_STAFF_SEE_IT
    assert LATITUDE not in await download.body()
    assert download.headers["x-content-type-options"] == "nosniff"
    anonymous = await shopper.request.get(base_url + str(href), max_redirects=0)
    assert anonymous.status == 303  # to the login page: files are for staff

    reply = tmp_path / "label.png"
    reply.write_bytes(png(24, 16))
    await staff.locator("#send-file summary").click()
    await staff.locator("#send-file input[type=file]").set_input_files(str(reply))
    await staff.locator("#send-file input[name=text]").fill("Is this your parcel's label?")
    await staff.get_by_role("button", name="Send file").click()
    await staff.locator(".transcript .line.staff a.thumb img").wait_for()

    theirs = shopper.locator("ohb-chat .row.staff img.shot")
    await theirs.wait_for(timeout=15_000)
    assert await theirs.evaluate(LOADED_WIDTH) == 24
    by = await shopper.locator("ohb-chat .row.staff .by").first.inner_text()
    assert by.startswith("Admin")  # a person sent it, and the widget says who
    await log.get_by_text("Is this your parcel's label?").wait_for()
    assert problems == []
