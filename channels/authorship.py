"""Who is speaking, on channels that show plain text: a staff reply starts with the
person's name ("Asha: Your parcel ships today"), so it never reads as the bot's."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from conversation.types import Reply


def signed_text(reply: Reply) -> str:
    """A file sent without words is captioned with the name alone."""
    if not reply.author:
        return reply.text
    return f"{reply.author}: {reply.text}" if reply.text else reply.author


def signed(replies: Iterable[Reply]) -> tuple[Reply, ...]:
    """The replies with each person's name before their words; the bot's unchanged."""
    return tuple(replace(r, text=signed_text(r), author=None) if r.author else r
                 for r in replies)
