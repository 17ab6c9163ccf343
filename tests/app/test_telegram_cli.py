"""`python -m app telegram ...` tells "cannot reach Telegram" apart from "Telegram refused"."""

from __future__ import annotations

from pathlib import Path

import pytest
from channel_harness import channel_settings
from fake_providers import FakeTelegram

from app.telegram_cli import run as telegram_command


async def test_set_webhook_says_it_cannot_reach_telegram_when_nothing_answers(
    redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = channel_settings(redis_url, tmp_path)  # the Bot API URL is a closed port
    assert await telegram_command(settings, "set-webhook") == 1
    said = capsys.readouterr().err
    assert "cannot reach Telegram" in said
    assert "refused" not in said
    assert settings.telegram_api_url in said


async def test_a_refused_token_is_still_reported_as_refused(
    redis_url: str, tmp_path: Path, telegram_api: FakeTelegram,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = channel_settings(redis_url, tmp_path, telegram_api_url=telegram_api.url,
                                telegram_bot_token="999:not-the-fakes-token")
    assert await telegram_command(settings, "webhook-info") == 1
    said = capsys.readouterr().err
    assert "Telegram refused" in said
    assert "not-the-fakes-token" not in said
