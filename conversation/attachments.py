"""What the shopper is told about a file the bot did not keep, and how files are
written on a ticket's line: the ids of the line's attachments, comma-separated,
under the line's `attachments` key (ticket lines hold strings only)."""

from __future__ import annotations

from .catalogue import T
from .effects import Say

ATTACHMENTS = "attachments"  # the ticket line's key


def refusal(why: str, max_bytes: int) -> Say:
    """Why a file was not kept, in words the shopper can act on."""
    if why == "too_large":
        return Say((T("media.refused_size", limit=megabytes(max_bytes)),))
    if why == "unsupported":
        return Say((T("media.refused_type"),))
    return Say((T("media.refused_fetch"),))


def megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.0f} MB" if size >= 1024 * 1024 else f"{size // 1024} KB"


def joined(ids: tuple[str, ...] | list[str]) -> str | None:
    return ",".join(ids) if ids else None


def split(value: str | None) -> list[str]:
    return [part for part in (value or "").split(",") if part]
