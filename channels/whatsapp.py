"""The WhatsApp adapter (through Twilio): a signed form in, an `Inbound` out;
replies out as numbered text, in TwiML or through the REST API.

    verify(url, form, signature, auth_token)  Twilio's own `RequestValidator`
    parse(form, now)                          -> Inbound
    parse_status(form)                        -> DeliveryStatus (status callbacks)
    numbered(replies)                         -> message bodies (numbered choices, links)
    twiml(bodies)                             -> the webhook's answer

The signature covers the URL Twilio called. Behind a TLS-terminating proxy that is
not the URL this process sees (`http://` instead of `https://`, another host), so
the caller builds it from the `PUBLIC_URL` setting plus the path and the raw query,
exactly as received (re-encoding a query would change what was signed).

The sender's number (`From`, `whatsapp:+<E.164>`) is proven by WhatsApp: it is the
conversation key and the shopper's identity. Choices are written as numbered lines,
numbered across all the replies of one answer (1..n in the order they appear),
because the dialogue remembers every option of the turn in that order: a shopper
who types "4" means the fourth, wherever it was shown. Taps on interactive
messages come back as `ButtonPayload` (quick replies) or `ListId` (list pickers)
and are passed on as payloads. Nothing from the form is ever logged.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from channels.split import split_text
from conversation.types import Channel, Identity, Inbound, MediaRef, Reply

SIGNATURE_HEADER = "X-Twilio-Signature"
ADDRESS_PREFIX = "whatsapp:"
MAX_BODY_CHARS = 1600  # Twilio refuses longer bodies (errors 21617, 21658)
MAX_FORM_BYTES = 64 * 1024
MAX_PAYLOAD_CHARS = 200
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
SID = re.compile(r"^[A-Za-z]{2}[0-9a-fA-F]{32}$")
MAX_MEDIA = 10  # Twilio's own limit per message
NOT_FILES = frozenset({"text/vcard", "text/x-vcard"})  # a shared contact, not a file


class MalformedRequest(Exception):
    """A signed request without the fields every Twilio message webhook has."""


class Form(Protocol):
    """Starlette's `FormData`/`ImmutableMultiDict`: what the validator can read
    (`getlist` for repeated keys) and what `parse` reads."""

    def get(self, key: str, /) -> str | None: ...

    def getlist(self, key: str) -> list[str]: ...

    def __contains__(self, key: object) -> bool: ...


@dataclass(frozen=True, slots=True)
class DeliveryStatus:
    message_sid: str
    status: str
    conversation: str | None
    error_code: str | None


def verify(url: str, form: Form, signature: str | None, auth_token: str) -> bool:
    if not signature:
        return False
    return bool(RequestValidator(auth_token).validate(url, form, signature))


def conversation_of(address: str) -> str:
    """`whatsapp:+919812345678` is already the conversation key; checked, not trusted."""
    phone = address.removeprefix(ADDRESS_PREFIX)
    if not address.startswith(ADDRESS_PREFIX) or not E164.match(phone):
        raise MalformedRequest("From is not a WhatsApp address")
    return address


def phone_of(conversation: str) -> str:
    return conversation.removeprefix(ADDRESS_PREFIX)


def parse(form: Form, now: datetime) -> Inbound:
    conversation = conversation_of(form.get("From") or "")
    sid = form.get("MessageSid") or ""
    if not SID.match(sid):
        raise MalformedRequest("MessageSid is missing or malformed")
    payload = form.get("ButtonPayload") or form.get("ListId") or None
    if payload is not None and len(payload) > MAX_PAYLOAD_CHARS:
        payload = None  # not one of ours: read the text instead
    text = form.get("Body") or ""
    if payload is not None and not text:
        text = form.get("ButtonText") or form.get("ListTitle") or ""
    try:
        media = int(form.get("NumMedia") or "0")
    except ValueError:
        media = 0
    refs = tuple(
        MediaRef(url, form.get(f"MediaContentType{i}") or None)
        for i in range(min(media, MAX_MEDIA))
        if (url := form.get(f"MediaUrl{i}") or "")
        and (form.get(f"MediaContentType{i}") or "").lower() not in NOT_FILES
    )
    return Inbound(
        channel=Channel.WHATSAPP,
        conversation=conversation,
        message_id=sid,
        text=text,
        payload=payload,
        identity=Identity(phone=phone_of(conversation)),
        has_media=media > 0,
        has_location=bool(form.get("Latitude") and form.get("Longitude")),
        received_at=now,
        media=refs,
    )


def parse_status(form: Form) -> DeliveryStatus:
    sid = form.get("MessageSid") or ""
    status = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    if not SID.match(sid) or not status.isalpha():
        raise MalformedRequest("MessageSid or MessageStatus is missing or malformed")
    to = form.get("To") or ""
    try:
        conversation: str | None = conversation_of(to)
    except MalformedRequest:
        conversation = None
    return DeliveryStatus(sid, status, conversation, form.get("ErrorCode") or None)


def numbered_body(reply: Reply, first: int) -> str:
    """The reply's text, its choices numbered from `first`, and its links as lines."""
    lines = [reply.text]
    lines.extend(f"{first + i}. {button.label}" for i, button in enumerate(reply.buttons))
    lines.extend(f"{link.label}: {link.url}" for link in reply.links)
    return "\n".join(line for line in lines if line)


def numbered(replies: Sequence[Reply]) -> list[str]:
    """Message bodies for `replies`, each at most `MAX_BODY_CHARS`, numbered across them."""
    bodies: list[str] = []
    first = 1
    for reply in replies:
        bodies.extend(split_text(numbered_body(reply, first), MAX_BODY_CHARS))
        first += len(reply.buttons)
    return [body for body in bodies if body]


def twiml(bodies: Sequence[str]) -> str:
    """One `<Message>` per body; none gives `<Response />`, which Twilio reads as
    "nothing to send" (an empty 200 would show up as an error in its debugger)."""
    response = MessagingResponse()
    for body in bodies:
        response.message(body)
    return str(response)

