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
- media without a caption, stickers, voice, a location -> `Turn` with the media
  or location flag and no text ("I read text" plus the menu). A caption is text.
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
from dataclasses import dataclass
from typing import Any

from telegram import Message, Update
from telegram.constants import ChatMemberStatus, ChatType

from conversation.types import Channel, Identity, Inbound

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


def interpret(update: Update) -> Event:
    message_id = str(update.update_id)
    if update.message is not None:
        return _message(update.message, message_id)
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


def _message(message: Message, message_id: str) -> Event:
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
    if message.effective_attachment is not None:
        return turn(text=message.caption or "", has_media=True)
    return Ignored("service message")


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
