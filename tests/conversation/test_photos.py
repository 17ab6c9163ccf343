"""Photos in the dialogue: the optional photo of a damaged, defective or wrong item
in a replacement (or a return that goes to staff), and a photo sent while the bot
waits for a hand-off's issue. Real engine, Redis, SQL and a media store in a folder."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from conversation.engine import Engine
from conversation.tickets import TicketStore
from conversation.types import Channel, Inbound
from media.blobs import LocalBlobs
from media.store import MediaStore
from orders.policy import Action, Policy
from records.db import Database
from tests.conversation.chat import Chat
from tests.demo_orders import DELIVERED_RECENT, open_order
from tests.media_files import PHOTO_JPEG

_ids = itertools.count(1)


@pytest.fixture
def media(db: Database, tmp_path: Path) -> MediaStore:
    return MediaStore(db, LocalBlobs(tmp_path / "media"))


@pytest.fixture
def chat(make_engine: Callable[..., Engine], media: MediaStore) -> Chat:
    return Chat(make_engine(media=media))


async def send_photo(chat: Chat, media: MediaStore, caption: str = "") -> str:
    kept = await media.accept(PHOTO_JPEG, conversation=chat.conversation, channel="web")
    chat.last = await chat.engine.handle(Inbound(
        channel=Channel.WEB, conversation=chat.conversation, message_id=f"p{next(_ids)}",
        text=caption, has_media=True, attachments=(kept.id,)))
    return kept.id


async def replace_damaged(chat: Chat) -> None:
    await open_order(chat, "Return or replace", DELIVERED_RECENT)
    await chat.tap("Phone Case, Transparent × 1")
    await chat.tap("Replace it")
    await chat.tap("Arrived damaged")


async def test_a_replacement_for_damage_asks_for_a_photo_and_puts_it_on_the_request(
    chat: Chat, media: MediaStore, db: Database, redis: aioredis.Redis
) -> None:
    await replace_damaged(chat)
    assert chat.keys == ["photo.ask"]
    assert "Phone Case" in chat.text and "Skip" in chat.labels
    photo = await send_photo(chat, media)
    assert chat.keys == ["photo.received", "confirm.replace"]
    await chat.tap("Yes, go ahead")
    assert chat.keys == ["request.opened"]

    [ticket] = await TicketStore(db, redis).list_open()
    assert ticket.kind == "request"
    assert [a.id for a in await media.for_ticket(ticket.number)] == [photo]
    full = await TicketStore(db, redis).get(ticket.id)
    assert full is not None
    [line] = [line for line in full.transcript if line.get("attachments")]
    assert line["attachments"] == photo and line["who"] == "shopper"


@pytest.mark.parametrize("skip", ["Skip", "skip", "1"])  # tapped, typed, its number
async def test_the_photo_can_be_skipped(chat: Chat, skip: str) -> None:
    await replace_damaged(chat)
    if skip == "Skip":
        await chat.tap(skip)
    else:
        await chat.say(skip)
    assert chat.keys == ["confirm.replace"]


async def test_words_instead_of_a_photo_ask_again_and_menu_still_works(chat: Chat) -> None:
    await replace_damaged(chat)
    await chat.say("the corner is cracked")
    assert chat.keys == ["photo.ask_again"] and "Skip" in chat.labels
    await chat.tap("Menu")
    assert chat.keys == ["menu.prompt"]


async def test_no_photo_is_asked_for_a_change_the_shop_carries_out_itself(
    make_engine: Callable[..., Engine], media: MediaStore
) -> None:
    chat = Chat(make_engine(media=media, policy=Policy(timezone="Asia/Kolkata",
                                                       manual=frozenset())))
    await replace_damaged(chat)
    assert chat.keys == ["confirm.replace"]  # nobody would see it: not asked


async def test_no_photo_is_asked_for_a_change_of_mind(
    make_engine: Callable[..., Engine], media: MediaStore
) -> None:
    chat = Chat(make_engine(media=media, policy=Policy(
        timezone="Asia/Kolkata", manual=frozenset({Action.RETURN, Action.REPLACE}))))
    await open_order(chat, "Return or replace", DELIVERED_RECENT)
    await chat.tap("Phone Case, Transparent × 1")
    await chat.tap("Return for a refund")
    await chat.tap("Ordered by mistake")
    assert chat.keys == ["confirm.return"]


async def test_a_photo_before_the_issue_is_kept_for_the_hand_off(
    chat: Chat, media: MediaStore, db: Database, redis: aioredis.Redis
) -> None:
    await chat.say("hi")
    await chat.say("agent")
    assert chat.keys == ["handoff.ask_issue"]
    first = await send_photo(chat, media)
    assert chat.keys == ["photo.for_issue"]
    await chat.say("The lamp arrived with a broken shade")
    assert chat.keys[0] == "handoff.opened"
    second = await send_photo(chat, media, caption="and the box")
    assert chat.keys == ["handoff.added"]

    [ticket] = await TicketStore(db, redis).list_open()
    assert {a.id for a in await media.for_ticket(ticket.number)} == {first, second}
    log = await TicketStore(db, redis).log(ticket.id)
    assert [line["text"] for line in log if line.get("attachments") == second] == ["and the box"]


async def test_a_refused_file_is_answered_and_changes_nothing(chat: Chat) -> None:
    await replace_damaged(chat)
    chat.last = await chat.engine.handle(Inbound(
        channel=Channel.WEB, conversation=chat.conversation, message_id="big",
        has_media=True, media_refused="too_large"))
    assert chat.keys == ["media.refused_size"] and "10 MB" in chat.text
    await chat.say("1")  # still at the photo question: its choices still count
    assert chat.keys == ["confirm.replace"]
