"""The Telegram adapter, outbound half: `Reply` objects -> Bot API messages.

- HTML parse mode, with every text escaped (`html.escape`): item names, addresses
  and anything else that came from data may hold `<`, `>` or `&`, and one stray `<`
  would make Telegram refuse the whole message. The bot adds no markup of its own,
  so escaping is all there is to it (and a plain-text copy is kept for the sender's
  fallback when Telegram still cannot parse it).
- Buttons become an inline keyboard, one button per row (labels such as
  "#100003 · 19 Nov 2026 · 1 item(s)" are too long to share a row on a phone). The
  callback data is the dialogue's payload as it is: short ASCII such as `o:100234`,
  never anything the shopper typed. A payload over `MAX_CALLBACK_DATA` bytes is a
  bug in the dialogue; that one button is left out (and logged) rather than the
  whole message refused.
- Links become URL buttons (http and https only; anything else goes in the text).
- A text over `MAX_MESSAGE_CHARS` is split; the keyboard goes on the last piece,
  under the choices it belongs to.
- When the dialogue asks for an order number (`order.ask`) in a private chat, a
  second message offers a reply-keyboard button that shares the shopper's own
  number (`request_contact`), which proves who they are. A later message without
  an inline keyboard takes that keyboard away again (`ReplyKeyboardRemove`): a
  message carries one keyboard only, so removal waits for one that has none.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlparse

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from telegram.constants import InlineKeyboardButtonLimit, MessageLimit

from channels.split import split_text
from conversation.types import Reply, SharedFile

log = logging.getLogger(__name__)

MAX_CALLBACK_DATA = int(InlineKeyboardButtonLimit.MAX_CALLBACK_DATA)  # 64 bytes of UTF-8
MAX_MESSAGE_CHARS = int(MessageLimit.MAX_TEXT_LENGTH)  # 4096, after entity parsing
MAX_CALLBACK_ANSWER_CHARS = 200
MAX_CAPTION_CHARS = int(MessageLimit.CAPTION_LENGTH)  # 1024
ASKS_FOR_ORDER = "order.ask"  # the reply after which the share-contact button is offered

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove


@dataclass(frozen=True, slots=True)
class SharePhone:
    """The words of the share-contact offer, in the shopper's language."""

    hint: str
    label: str


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One `sendMessage`: `text` is HTML-escaped, `plain` the same words unescaped."""

    text: str
    plain: str
    markup: Markup | None = None
    offers_contact: bool = False
    removes_keyboard: bool = False
    file: SharedFile | None = None  # sent as a photo or document, `text` its caption


def pack_callback_data(payload: str) -> str | None:
    """The payload as callback data, or None when it would not fit."""
    if not payload or len(payload.encode()) > MAX_CALLBACK_DATA:
        return None
    return payload


def render(
    replies: Sequence[Reply],
    *,
    share_phone: SharePhone | None = None,
    remove_keyboard: bool = False,
) -> list[Outgoing]:
    """`share_phone`: offer the contact button after `order.ask` (private chats
    only: the caller passes None elsewhere). `remove_keyboard`: an earlier offer is
    still on the shopper's screen; the first message that can carries the removal."""
    messages: list[Outgoing] = []
    for reply in replies:
        messages.extend(_render_one(reply))
        if share_phone is not None and reply.key == ASKS_FOR_ORDER:
            keyboard = ReplyKeyboardMarkup(
                [[KeyboardButton(share_phone.label, request_contact=True)]],
                resize_keyboard=True,
                one_time_keyboard=True,
            )
            hint = share_phone.hint
            messages.append(Outgoing(html.escape(hint, quote=False), hint, keyboard, True))
    if remove_keyboard and not any(m.offers_contact for m in messages):
        for index, message in enumerate(messages):
            if message.markup is None:
                messages[index] = Outgoing(
                    message.text, message.plain, ReplyKeyboardRemove(), removes_keyboard=True
                )
                break
    return messages


def _render_one(reply: Reply) -> list[Outgoing]:
    if reply.file is not None:  # staff's file: the words as its caption when they fit
        if len(reply.text) <= MAX_CAPTION_CHARS and not reply.buttons and not reply.links:
            return [Outgoing(html.escape(reply.text, quote=False), reply.text,
                             file=reply.file)]
        words = _render_one(Reply(reply.key, reply.text, reply.buttons, reply.links))
        return [*words, Outgoing("", "", file=reply.file)]
    text = reply.text or "…"
    rows: list[list[InlineKeyboardButton]] = []
    for button in reply.buttons:
        data = pack_callback_data(button.payload)
        if data is None:
            log.error("telegram: a button payload of %d bytes does not fit callback data",
                      len(button.payload.encode()))
            continue
        rows.append([InlineKeyboardButton(button.label, callback_data=data)])
    extra_lines: list[str] = []
    for link in reply.links:
        if urlparse(link.url).scheme in ("http", "https"):
            rows.append([InlineKeyboardButton(link.label, url=link.url)])
        else:
            extra_lines.append(f"{link.label}: {link.url}")
    if extra_lines:
        text = "\n".join([text, *extra_lines])
    pieces = split_text(text, MAX_MESSAGE_CHARS)
    markup = InlineKeyboardMarkup(rows) if rows else None
    return [
        Outgoing(html.escape(piece, quote=False), piece,
                 markup if index == len(pieces) - 1 else None)
        for index, piece in enumerate(pieces)
    ]


def callback_answer(replies: Sequence[Reply], stale_key: str = "button.stale") -> str | None:
    """The short notice shown on a tapped button: only for a stale one, in the
    shopper's language (the text of the dialogue's own stale-button reply)."""
    for reply in replies:
        if reply.key == stale_key:
            return reply.text[:MAX_CALLBACK_ANSWER_CHARS]
    return None
