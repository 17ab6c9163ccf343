"""The channels' own words (templates/messages/channels/) exist in every language
the dialogue speaks, with the same placeholders, and the adapters use only those."""

from __future__ import annotations

import ast
import logging
import string
from pathlib import Path

import httpx

import app.routes.webhooks
import channels
from app.channels import CHANNEL_MESSAGES_DIR, RedactBotToken
from conversation.catalogue import Catalogue
from templates import MESSAGES_DIR

USED_BY = [Path(channels.__file__).parent, Path(app.channels.__file__)]


def test_every_channel_key_exists_in_every_language() -> None:
    texts = Catalogue.load(CHANNEL_MESSAGES_DIR)
    dialogue = Catalogue.load(MESSAGES_DIR)
    assert set(texts.languages) == set(dialogue.languages)
    english = texts.keys("en")
    formatter = string.Formatter()
    for language in texts.languages:
        assert texts.keys(language) == english, language
        for key in english:
            fields = {f for _, f, _, _ in formatter.parse(texts.patterns(language)[key]) if f}
            expected = {f for _, f, _, _ in formatter.parse(texts.patterns("en")[key]) if f}
            assert fields == expected, (language, key)


def test_the_keys_the_code_uses_are_in_the_catalogue() -> None:
    sources = [*USED_BY[0].glob("*.py"), USED_BY[1], Path(app.routes.webhooks.__file__)]
    used = {
        node.value
        for path in sources
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        and node.value.startswith(("telegram.", "whatsapp.")) and " " not in node.value
        and not node.value.endswith(".")
    }
    assert {"telegram.share_phone", "telegram.private_only", "whatsapp.list_button"} <= used
    assert used <= Catalogue.load(CHANNEL_MESSAGES_DIR).keys("en")


def test_bot_tokens_are_redacted_from_httpx_logs() -> None:
    record = logging.LogRecord(
        "httpx", logging.INFO, __file__, 1, 'HTTP Request: %s %s "%s %d %s"',
        ("POST", httpx.URL("https://api.telegram.org/bot123456:AbC-dEf_1/sendMessage"),
         "HTTP/1.1", 200, "OK"), None,
    )
    assert RedactBotToken().filter(record)
    assert "AbC-dEf_1" not in record.getMessage()
    assert "/bot[redacted]/sendMessage" in record.getMessage()
