"""The channel-neutral messages that cross between channels and the dialogue.

Frozen value objects with no back-pointers: an adapter turns a provider's webhook
into an `Inbound`, the engine answers with `Reply` objects whose words are already
in the shopper's language, and the adapter renders those for its provider.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Channel(StrEnum):
    WEB = "web"
    TELEGRAM = "telegram"
    WHATSAPP = "whatsapp"
    TERMINAL = "terminal"
    # Not a shopper's channel: staff notifications (the inbox's outgoing webhook),
    # so they get the outbox's retries, back-off and dead letters.
    STAFF_WEBHOOK = "staff_webhook"


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the channel proved the shopper is (a phone the provider vouches for,
    a customer id/email the shop signed). Never something the shopper merely typed."""

    phone: str | None = None
    email: str | None = None
    customer_id: str | None = None


@dataclass(frozen=True, slots=True)
class MediaRef:
    """A file the provider says came with a message, not fetched yet: a Twilio
    media URL or a Telegram file id. `content_type`, `filename` and `size` are the
    provider's word, for a quick refusal only; the bytes decide."""

    source: str
    content_type: str | None = None
    filename: str | None = None
    size: int | None = None


@dataclass(frozen=True, slots=True)
class Inbound:
    channel: Channel
    conversation: str = field(metadata={"doc": "stable per shopper and channel, e.g. 'web:abc'"})
    message_id: str = field(metadata={"doc": "the provider's id, used to drop redeliveries"})
    text: str = ""
    payload: str | None = None  # a button's payload, when a button was tapped
    identity: Identity | None = None
    locale: str | None = None
    has_media: bool = False
    has_location: bool = False
    received_at: datetime | None = None
    media: tuple[MediaRef, ...] = ()  # what the adapter saw; the app fetches it
    attachments: tuple[str, ...] = ()  # the files kept (ids in the media store)
    media_refused: str | None = None  # why a file was not kept: too_large|unsupported|unavailable


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    payload: str


@dataclass(frozen=True, slots=True)
class LinkButton:
    label: str
    url: str


@dataclass(frozen=True, slots=True)
class SharedFile:
    """A file for the shopper (staff sent it): a signed link their channel fetches
    it from (Telegram and Twilio fetch by URL; the widget shows it), and what it is."""

    id: str
    url: str
    content_type: str
    size: int
    name: str

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")


@dataclass(frozen=True, slots=True)
class Reply:
    """One message to the shopper. `key` is the catalogue key it was made from
    (tests and analytics use it); `text` is already in the shopper's language.
    `author` names the person who wrote it, so every channel shows who is speaking."""

    key: str
    text: str
    buttons: tuple[Button, ...] = ()
    links: tuple[LinkButton, ...] = ()
    author: str | None = None  # a person's display name (a staff reply); None: the bot
    file: SharedFile | None = None


@dataclass(frozen=True, slots=True)
class TurnResult:
    """What one inbound message produced. `duplicate` means the message id was seen
    before; `replies` then repeats the first answer so a retried request gets it again."""

    replies: tuple[Reply, ...]
    duplicate: bool = False
    handed_off: bool = False
