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
- an update whose fields are not what Telegram documents (a message without a
  chat, a text that is a number, a lone surrogate in a text, a date that is no
  date) -> `Unreadable`: it can never be processed, so it is acknowledged (200; a
  4xx or 5xx would have Telegram redeliver it for a day), logged once without its
  contents, and changes nothing. PTB's `de_json` does not check types, so every
  value passed on is checked here.

`read(body)` does all of it: `MalformedUpdate` (400) only for a body that is not
JSON or not an update at all (no integer `update_id`).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from telegram import Message, PhotoSize, Update
from telegram.constants import ChatMemberStatus, ChatType

from channels import json_body
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


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A verified update that can never be processed; `why` names the problem, never
    the update's contents."""

    update_id: int
    why: str


Event = Turn | Reachability | GroupChat | Ignored | Unreadable


class UnreadableUpdate(Exception):
    """An update (it has an `update_id`) that PTB cannot read, or that holds text
    that is not valid Unicode. `str()` names the problem without its contents."""

    def __init__(self, update_id: int, why: str) -> None:
        super().__init__(why)
        self.update_id = update_id
        self.why = why


def conversation_of(chat_id: int) -> str:
    if isinstance(chat_id, bool) or not isinstance(chat_id, int):
        raise TypeError("a chat id is an integer")
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


def read(body: bytes, *, max_bytes: int | None = None) -> Event:
    """`parse` and `interpret` in one: an `Unreadable` event for an update that can
    never be processed; `MalformedUpdate` for a body that is no update at all."""
    try:
        return interpret(parse(body), max_bytes=max_bytes)
    except UnreadableUpdate as exc:
        return Unreadable(exc.update_id, exc.why)


def parse(body: bytes) -> Update:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deeply
        raise MalformedUpdate("the body is not JSON") from exc
    update_id = data.get("update_id") if isinstance(data, dict) else None
    if isinstance(update_id, bool) or not isinstance(update_id, int):
        raise MalformedUpdate("the body is not a Telegram update")
    if b"\\u" in body and not json_body.is_text(data):
        raise UnreadableUpdate(update_id, "text that is not valid Unicode (a lone surrogate)")
    try:
        update = Update.de_json(data, None)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise UnreadableUpdate(update_id, f"PTB cannot read it ({type(exc).__name__})") from exc
    return update


def interpret(update: Update, *, max_bytes: int | None = None) -> Event:
    """PTB's objects hold whatever the JSON held (`text` may be a number): every
    value passed on is checked, and a field of the wrong type or a missing one makes
    the update `Unreadable`. `max_bytes`: the media limit, to pick the largest photo
    size under it."""
    try:
        return _interpret(update, max_bytes)
    except (AttributeError, TypeError, ValueError) as exc:
        return Unreadable(update.update_id,
                          f"a field is missing or of another type ({type(exc).__name__})")


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("a text field is not a string")
    if not json_body.well_formed(value):
        raise ValueError("a text field is not valid Unicode")
    return value


def _optional_text(value: object) -> str | None:
    return None if value is None else _text(value)


def _optional_size(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("a size is not an integer")
    return value


def _interpret(update: Update, max_bytes: int | None) -> Event:
    message_id = str(update.update_id)
    if update.message is not None:
        return _message(update.message, message_id, max_bytes)
    if update.edited_message is not None:
        return Ignored("edited message")
    if (query := update.callback_query) is not None:
        query_id = _text(query.id)
        if query.message is not None and query.message.chat is None:
            raise TypeError("a callback's message has no chat")
        chat = query.message.chat if query.message is not None else None
        if query.data is None or chat is None:
            return Ignored("callback without data or chat", query_id)
        if _text(chat.type) != ChatType.PRIVATE:
            return Ignored("callback in a group", query_id)
        inbound = Inbound(
            channel=Channel.TELEGRAM,
            conversation=conversation_of(chat.id),
            message_id=message_id,
            payload=_text(query.data),
            locale=_optional_text(query.from_user.language_code),
        )
        return Turn(inbound, query_id)
    if (member := update.my_chat_member) is not None:
        if _text(member.chat.type) != ChatType.PRIVATE:
            return Ignored("membership change in a group")
        status = _text(member.new_chat_member.status)
        if status == ChatMemberStatus.BANNED:
            return Reachability(conversation_of(member.chat.id), reachable=False)
        if status == ChatMemberStatus.MEMBER:
            return Reachability(conversation_of(member.chat.id), reachable=True)
        return Ignored("membership change")
    return Ignored("update type not handled")


def _message(message: Message, message_id: str, max_bytes: int | None = None) -> Event:
    chat = message.chat
    sender = message.from_user
    if chat is None:
        raise TypeError("a message has no chat")
    conversation = conversation_of(chat.id)
    if _text(chat.type) != ChatType.PRIVATE:
        if message.text or message.caption:
            return GroupChat(conversation,
                             _optional_text(sender.language_code) if sender else None)
        return Ignored("service message in a group")
    if sender is None:
        return Ignored("message without a sender")
    locale = _optional_text(sender.language_code)
    caption = _optional_text(message.caption) or ""

    def turn(**fields: Any) -> Turn:
        return Turn(Inbound(
            channel=Channel.TELEGRAM,
            conversation=conversation,
            message_id=message_id,
            locale=locale,
            received_at=message.date,  # PTB 22: timezone-aware UTC
            **fields,
        ))

    if (contact := message.contact) is not None:
        if contact.user_id is not None and contact.user_id == sender.id:
            return turn(identity=Identity(phone=_e164(_text(contact.phone_number))))
        return turn(has_media=True)  # someone else's number proves nothing
    if message.text is not None:
        return turn(text=_start_parameter(_text(message.text)))
    if message.location is not None or message.venue is not None:
        return turn(text=caption, has_location=True)
    if message.photo:
        return turn(text=caption, has_media=True,
                    media=(_largest_photo(message.photo, max_bytes),))
    if (document := message.document) is not None:
        return turn(text=caption, has_media=True, media=(MediaRef(
            _text(document.file_id), _optional_text(document.mime_type),
            _optional_text(document.file_name), _optional_size(document.file_size)),))
    if message.effective_attachment is not None:  # stickers, voice, video: not files we take
        return turn(text=caption, has_media=True, media_refused="unsupported")
    return Ignored("service message")


def _largest_photo(sizes: Sequence[PhotoSize], max_bytes: int | None) -> MediaRef:
    """Telegram sends a photo in several sizes: the largest under the limit (or, if
    none is, the smallest, which is then refused as too large)."""
    by_area = sorted(sizes, key=lambda s: (s.width * s.height, s.file_size or 0))
    fitting = [s for s in by_area
               if max_bytes is None or s.file_size is None or s.file_size <= max_bytes]
    chosen = fitting[-1] if fitting else by_area[0]
    return MediaRef(_text(chosen.file_id), "image/jpeg", None, _optional_size(chosen.file_size))


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
