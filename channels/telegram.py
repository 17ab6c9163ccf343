"""The Telegram adapter, inbound half: a webhook update in, one `Event` out.

    verify(header, secret)  the secret token Telegram sends with every update,
                            compared in constant time before anything is parsed
    parse(body)             JSON -> `telegram.Update` (python-telegram-bot's own parsing)
    interpret(update)       -> Turn | Reachability | GroupChat | Ignored

Rendering replies is in `telegram_render`, sending them in `telegram_sender`.

What each update becomes, and why:
- a private text message -> `Turn`. `/start <parameter>` (a deep link such as
  `t.me/<bot>?start=100234`) passes the parameter as the text, so an order number
  in the link is taken like a typed one; a bare `/start` is the dialogue's menu.
- a button tap (`callback_query`) -> `Turn` with the payload and the query's id,
  which the route answers (`answerCallbackQuery`) so the client's spinner stops.
  A tap on a button of an old message arrives the same way (its message may be
  "inaccessible"); the dialogue answers a payload it did not offer as stale.
- a shared contact -> proof of the phone only when `contact.user_id` is the
  sender's own id: Telegram then vouches for the number. Anyone else's contact
  (forwarded, or picked from the address book) proves nothing and is answered like
  any attachment ("I read text").
- an edited message -> ignored. The bot answered the original already; answering
  the edit too would answer twice, and could repeat a step (confirm a
  cancellation again) that the shopper did not mean to repeat.
- a photo or a document -> `Turn` with a `MediaRef` to fetch (the largest photo
  size under the media limit); stickers, voice, video -> `Turn` with the media
  flag and `media_refused` (photos and PDFs only). A caption is text. A location
  -> the location flag.
- anything in a group, supergroup or channel -> `GroupChat`: the bot talks about
  orders only in private chats, and says so once per group.
- `my_chat_member` of a private chat -> `Reachability`: "kicked" (PTB calls it
  `ChatMemberStatus.BANNED`) is the shopper blocking the bot; "member" is them
  unblocking or restarting it.
- every other update type -> `Ignored`, still answered 200 so Telegram does not
  send it again.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from telegram import Message, PhotoSize, Update
from telegram.constants import ChatMemberStatus, ChatType

from conversation.types import Channel, Identity, Inbound, MediaRef

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
CONVERSATION_PREFIX = "telegram:"
MAX_UPDATE_BYTES = 256 * 1024  # updates are a few KB; a long message is 4096 characters
START_COMMAND = "/start"
ALLOWED_UPDATES = ("message", "edited_message", "callback_query", "my_chat_member")
"""The update types `set-webhook` asks for: exactly the ones `interpret` handles
(edits are asked for only to be acknowledged and ignored on purpose)."""


class MalformedUpdate(Exception):
    """A verified request whose body is not a Telegram update."""


@dataclass(frozen=True, slots=True)
class Turn:
    inbound: Inbound
    callback_query_id: str | None = None


@dataclass(frozen=True, slots=True)
class Reachability:
    conversation: str
    reachable: bool


@dataclass(frozen=True, slots=True)
class GroupChat:
    conversation: str
    locale: str | None


@dataclass(frozen=True, slots=True)
class Ignored:
    why: str  # for the log; never personal data
    callback_query_id: str | None = None


Event = Turn | Reachability | GroupChat | Ignored


def conversation_of(chat_id: int) -> str:
    return f"{CONVERSATION_PREFIX}{chat_id}"


def chat_id_of(conversation: str) -> int:
    """The chat id in `telegram:<id>`; ValueError for any other conversation."""
    prefix, _, value = conversation.partition(":")
    if prefix + ":" != CONVERSATION_PREFIX:
        raise ValueError("not a Telegram conversation")
    return int(value)


def verify(header: str | None, secret: str) -> bool:
    """PTB compares with `!=`; a constant-time comparison leaks nothing about the
    secret through timing. Bytes, so a non-ASCII header is simply wrong, not an error."""
    if not header:
        return False
    return hmac.compare_digest(header.encode(), secret.encode())


def parse(body: bytes) -> Update:
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise MalformedUpdate("the body is not JSON") from exc
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        raise MalformedUpdate("the body is not a Telegram update")
    try:
        update = Update.de_json(data, None)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise MalformedUpdate("the body is not a Telegram update") from exc
    return update


def interpret(update: Update, *, max_bytes: int | None = None) -> Event:
    """`max_bytes`: the media limit, to pick the largest photo size under it."""
    message_id = str(update.update_id)
    if update.message is not None:
        return _message(update.message, message_id, max_bytes)
    if update.edited_message is not None:
        return Ignored("edited message")
    if (query := update.callback_query) is not None:
        chat = query.message.chat if query.message is not None else None
        if query.data is None or chat is None:
            return Ignored("callback without data or chat", query.id)
        if chat.type != ChatType.PRIVATE:
            return Ignored("callback in a group", query.id)
        inbound = Inbound(
            channel=Channel.TELEGRAM,
            conversation=conversation_of(chat.id),
            message_id=message_id,
            payload=query.data,
            locale=query.from_user.language_code,
        )
        return Turn(inbound, query.id)
    if (member := update.my_chat_member) is not None:
        if member.chat.type != ChatType.PRIVATE:
            return Ignored("membership change in a group")
        status = member.new_chat_member.status
        if status == ChatMemberStatus.BANNED:
            return Reachability(conversation_of(member.chat.id), reachable=False)
        if status == ChatMemberStatus.MEMBER:
            return Reachability(conversation_of(member.chat.id), reachable=True)
        return Ignored("membership change")
    return Ignored("update type not handled")


def _message(message: Message, message_id: str, max_bytes: int | None = None) -> Event:
    chat = message.chat
    sender = message.from_user
    if chat.type != ChatType.PRIVATE:
        if message.text or message.caption:
            return GroupChat(conversation_of(chat.id), sender.language_code if sender else None)
        return Ignored("service message in a group")
    if sender is None:
        return Ignored("message without a sender")

    def turn(**fields: Any) -> Turn:
        return Turn(Inbound(
            channel=Channel.TELEGRAM,
            conversation=conversation_of(chat.id),
            message_id=message_id,
            locale=sender.language_code,
            received_at=message.date,  # PTB 22: timezone-aware UTC
            **fields,
        ))

    if (contact := message.contact) is not None:
        if contact.user_id is not None and contact.user_id == sender.id:
            return turn(identity=Identity(phone=_e164(contact.phone_number)))
        return turn(has_media=True)  # someone else's number proves nothing
    if message.text is not None:
        return turn(text=_start_parameter(message.text))
    if message.location is not None or message.venue is not None:
        return turn(text=message.caption or "", has_location=True)
    if message.photo:
        return turn(text=message.caption or "", has_media=True,
                    media=(_largest_photo(message.photo, max_bytes),))
    if (document := message.document) is not None:
        return turn(text=message.caption or "", has_media=True, media=(MediaRef(
            document.file_id, document.mime_type, document.file_name, document.file_size),))
    if message.effective_attachment is not None:  # stickers, voice, video: not files we take
        return turn(text=message.caption or "", has_media=True, media_refused="unsupported")
    return Ignored("service message")


def _largest_photo(sizes: Sequence[PhotoSize], max_bytes: int | None) -> MediaRef:
    """Telegram sends a photo in several sizes: the largest under the limit (or, if
    none is, the smallest, which is then refused as too large)."""
    by_area = sorted(sizes, key=lambda s: (s.width * s.height, s.file_size or 0))
    fitting = [s for s in by_area
               if max_bytes is None or s.file_size is None or s.file_size <= max_bytes]
    chosen = fitting[-1] if fitting else by_area[0]
    return MediaRef(chosen.file_id, "image/jpeg", None, chosen.file_size)


def _start_parameter(text: str) -> str:
    """`/start 100234` (a deep link) -> `100234`; a bare `/start` stays a command."""
    command, _, parameter = text.partition(" ")
    if command.split("@", 1)[0] == START_COMMAND and parameter.strip():
        return parameter.strip()
    return text


def _e164(phone: str) -> str:
    """Telegram sends the contact's number in international form, often without `+`."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    return f"+{digits}"
