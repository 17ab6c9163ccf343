"""Files that came with a shopper's message: fetched from the provider, checked,
cleaned and kept, before the turn runs; the dialogue then sees attachment ids
(`Inbound.attachments`) or why a file was not taken (`Inbound.media_refused`).

A redelivered webhook finds its files already kept (their ids come from the
message id) and fetches nothing again. A file that cannot be fetched, is too large
or is not a photo or PDF is not kept, and the shopper is told which.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable

from channels.media_fetch import FetchFailed, TooLarge
from conversation.photos import TAKES_FILES
from conversation.store import SessionStore
from conversation.types import Inbound, MediaRef
from media.store import MediaRefused, MediaStore, Why, attachment_id

log = logging.getLogger(__name__)

MAX_FILES_PER_MESSAGE = 10

Fetch = Callable[[MediaRef, int], Awaitable[bytes]]


async def take_in(
    inbound: Inbound, fetch: Fetch, media: MediaStore, sessions: SessionStore
) -> Inbound:
    """Fetch and keep the message's files when the conversation is at a step where
    a person will see them (a hand-off, the photo question); elsewhere the bot
    answers as for any attachment ("I read text") and fetches nothing."""
    if not inbound.media:
        return inbound
    if (await sessions.load(inbound.conversation)).step not in TAKES_FILES:
        return dataclasses.replace(inbound, media=())
    kept: list[str] = []
    refused: Why | None = None
    for index, ref in enumerate(inbound.media[:MAX_FILES_PER_MESSAGE]):
        ident = attachment_id(inbound.conversation, inbound.message_id, index)
        if await media.owned(ident, inbound.conversation) is not None:
            kept.append(ident)  # a redelivery: kept the first time
            continue
        try:
            if ref.size is not None and ref.size > media.max_bytes:
                raise MediaRefused("too_large")
            data = await fetch(ref, media.max_bytes)
            attachment = await media.accept(
                data, conversation=inbound.conversation, channel=inbound.channel.value,
                source=inbound.message_id, filename=ref.filename, attachment=ident)
        except TooLarge:
            refused = "too_large"
        except FetchFailed as exc:
            log.warning("%s: a shopper's file could not be fetched: %s",
                        inbound.channel.value, exc)
            refused = "unavailable"
        except MediaRefused as exc:
            refused = exc.why
        else:
            kept.append(attachment.id)
    return dataclasses.replace(inbound, media=(), attachments=tuple(kept),
                               media_refused=refused or inbound.media_refused)
