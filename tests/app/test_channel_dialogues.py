"""Whole dialogues on Telegram and WhatsApp, through the real webhooks, signatures and
renderers: what was so far only checked through the web chat engine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from app_harness import running
from channel_harness import TelegramShopper, WhatsAppShopper, channel_settings


@pytest.fixture
async def client(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    async with running(channel_settings(redis_url, tmp_path)) as client:
        yield client


@pytest.fixture
def priya(client: httpx.AsyncClient) -> WhatsAppShopper:
    return WhatsAppShopper(client)  # +919812345678: five orders in the demo shop


@pytest.fixture
def telegram(client: httpx.AsyncClient, redis: aioredis.Redis) -> TelegramShopper:
    return TelegramShopper(client, redis)


# ---- language ----------------------------------------------------------------------------------


async def test_whatsapp_first_reply_follows_a_hindi_first_message(priya: WhatsAppShopper) -> None:
    await priya.say("नमस्ते, मेरा ऑर्डर कहाँ है?")
    assert "नमस्ते" in priya.text and "Hello" not in priya.text


async def test_whatsapp_first_reply_follows_an_english_first_message(
    priya: WhatsAppShopper
) -> None:
    await priya.say("Hello, where is my order?")
    assert "ऑर्डर" not in priya.text and "order" in priya.text


async def test_whatsapp_switches_back_to_english_by_name(priya: WhatsAppShopper) -> None:
    await priya.say("नमस्ते")
    await priya.say("English")
    assert "English" in priya.text and "Track order" in priya.text


async def test_telegram_language_button_in_the_menu(telegram: TelegramShopper) -> None:
    await telegram.say("hi")
    await telegram.tap("lang")
    await telegram.tap("lang:hi")
    assert telegram.last.keys[0] == "language.set" and "हिंदी" in telegram.last.text
