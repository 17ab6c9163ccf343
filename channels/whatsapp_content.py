"""Twilio Content templates: real WhatsApp buttons where the merchant made them.

Numbered text works everywhere and needs no set-up, so it is the default. A
merchant who wants tappable buttons creates Content templates in the Twilio
console and lists their SIDs in `TWILIO_CONTENT_TEMPLATES` (JSON):

    {"quick_reply": {"1": "HX…", "2": "HX…", "3": "HX…"},
     "list_picker": {"4": "HX…", "5": "HX…", …, "10": "HX…"},
     "call_to_action": "HX…",
     "out_of_window": "HX…"}

Variables, the same convention in every template of a kind:

- `twilio/quick-reply` with n buttons (at most 3 in a session): body `{{1}}`;
  button k has title `{{2k}}` and id `{{2k+1}}`.
- `twilio/list-picker` with n items (at most 10): body `{{1}}`, button `{{2}}`;
  item k has item `{{2k+1}}` and id `{{2k+2}}`.
- `twilio/call-to-action`: body `{{1}}`; one URL button, title `{{2}}`, url `{{3}}`.
- `out_of_window`: an approved template (category UTILITY) that wraps the text,
  e.g. "An update on your order: {{1}} Reply to continue."

A reply uses a template only when one fits exactly (its number of choices, label
lengths, body length); otherwise it falls back to numbered text. Numbers count
every choice of the answer, shown as buttons or not, so a typed "4" still means
the fourth choice. Templates need the REST API (TwiML cannot send them), so with
any interactive template configured the webhook answers an empty TwiML and the
replies go through the outbox.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from channels.split import split_text
from channels.whatsapp import MAX_BODY_CHARS, numbered_body
from conversation.types import Reply

MAX_CONTENT_BODY = 1024
MAX_QUICK_REPLY_TITLE = 20
MAX_LIST_ITEM = 24
MAX_LIST_ITEMS = 10
MAX_SESSION_QUICK_REPLIES = 3
MAX_OUT_OF_WINDOW_CHARS = 900  # template text plus variables must stay under 1024
SID_PATTERN = r"^HX[0-9a-fA-F]{32}$"
Sid = Annotated[str, Field(pattern=SID_PATTERN)]


class ContentTemplates(BaseModel):
    """The merchant's Content template SIDs; all optional."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    quick_reply: dict[int, Sid] = Field(default_factory=dict)
    list_picker: dict[int, Sid] = Field(default_factory=dict)
    call_to_action: str | None = Field(default=None, pattern=SID_PATTERN)
    out_of_window: str | None = Field(default=None, pattern=SID_PATTERN)

    @property
    def interactive(self) -> bool:
        return bool(self.quick_reply or self.list_picker or self.call_to_action)


@dataclass(frozen=True, slots=True)
class WhatsAppMessage:
    """One REST send: a free-form `body`, or a Content template with its variables."""

    body: str | None = None
    content_sid: str | None = None
    variables: dict[str, str] = field(default_factory=dict)
    media_url: str | None = None  # staff's file, by its signed link (Twilio fetches it)


def plan(
    replies: Sequence[Reply], templates: ContentTemplates, list_button: str
) -> list[WhatsAppMessage]:
    messages: list[WhatsAppMessage] = []
    first = 1
    for reply in replies:
        content = _content(reply, templates, list_button) if reply.file is None else None
        if reply.file is not None:
            bodies = split_text(numbered_body(reply, first), MAX_BODY_CHARS) or [""]
            messages.extend(WhatsAppMessage(body=body) for body in bodies[:-1])
            messages.append(WhatsAppMessage(body=bodies[-1], media_url=reply.file.url))
        elif content is not None:
            messages.append(content)
        else:
            messages.extend(
                WhatsAppMessage(body=body)
                for body in split_text(numbered_body(reply, first), MAX_BODY_CHARS)
                if body
            )
        first += len(reply.buttons)
    return messages


def out_of_window(replies: Sequence[Reply], templates: ContentTemplates) -> WhatsAppMessage | None:
    """The approved template that re-opens the conversation, carrying the gist of
    what was to be sent. WhatsApp refuses line breaks and runs of spaces in a
    template variable, so the text is flattened."""
    if templates.out_of_window is None:
        return None
    text = " ".join(" ".join(reply.text.split()) for reply in replies)
    if len(text) > MAX_OUT_OF_WINDOW_CHARS:
        text = text[: MAX_OUT_OF_WINDOW_CHARS - 1] + "…"
    return WhatsAppMessage(content_sid=templates.out_of_window, variables={"1": text or "-"})


def _content(
    reply: Reply, templates: ContentTemplates, list_button: str
) -> WhatsAppMessage | None:
    if not reply.text or len(reply.text) > MAX_CONTENT_BODY:
        return None
    count = len(reply.buttons)
    labels = [b.label for b in reply.buttons]
    if count and not reply.links:
        sid = templates.quick_reply.get(count)
        if (sid and count <= MAX_SESSION_QUICK_REPLIES
                and all(len(label) <= MAX_QUICK_REPLY_TITLE for label in labels)):
            variables = {"1": reply.text}
            for k, button in enumerate(reply.buttons, start=1):
                variables[str(2 * k)] = button.label
                variables[str(2 * k + 1)] = button.payload
            return WhatsAppMessage(content_sid=sid, variables=variables)
        sid = templates.list_picker.get(count)
        if sid and count <= MAX_LIST_ITEMS:
            variables = {"1": reply.text, "2": list_button}
            for k, button in enumerate(reply.buttons, start=1):
                variables[str(2 * k + 1)] = _shorten(button.label, MAX_LIST_ITEM)
                variables[str(2 * k + 2)] = button.payload
            return WhatsAppMessage(content_sid=sid, variables=variables)
        return None
    if not count and len(reply.links) == 1 and templates.call_to_action:
        link = reply.links[0]
        if link.url.startswith("https://"):
            return WhatsAppMessage(
                content_sid=templates.call_to_action,
                variables={"1": reply.text, "2": _shorten(link.label, MAX_QUICK_REPLY_TITLE),
                           "3": link.url},
            )
    return None


def _shorten(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"
