"""Photos in the dialogue: asked for where a person will look at them, taken where
they help.

- A return or replacement of an item that arrived damaged, defective or wrong, when
  it goes to staff as a request (the merchant's policy, or a back-end that cannot
  carry it out): after the reason, the bot asks for an optional photo ("send a photo
  of the damage, or tap Skip", step `ASK_PHOTO`). The photo is in the conversation's
  transcript, so it is on the request's ticket when it opens. A change the shop
  carries out by itself opens no ticket, so no photo is asked for there: nobody
  would see it.
- A hand-off: a photo sent while the bot waits for the issue is kept for the ticket
  (the issue is still asked for, in words); one sent with a caption opens the ticket
  with the caption as the issue. After the ticket opened, the runner files photos
  on it (`engine`), and "added to your request" is true.

The files themselves are checked, cleaned and kept before the turn runs; the
dialogue only knows how many came (`Message.files`).
"""

from __future__ import annotations

from orders.models import Order, OrderItem, ReturnReason

from . import intents
from .catalogue import T
from .effects import LoadOrder, Message, Option
from .session import Step
from .turn import Turn, menu_option

TAKES_FILES = frozenset({Step.HANDED_OFF, Step.ASK_ISSUE, Step.ASK_PHOTO})
"""The steps where a file reaches a person; elsewhere one is not even fetched."""
PHOTO_REASONS = frozenset({ReturnReason.DAMAGED, ReturnReason.DEFECTIVE, ReturnReason.WRONG_ITEM})
SKIP = "photo:skip"
SKIP_WORDS = frozenset({"skip", "no", "no photo", "छोड़ें", "नहीं"})


def ask_photo(t: Turn, order: Order, item: OrderItem) -> bool:
    """One of a return's or replacement's questions: True when it asked."""
    s = t.s
    if (s.photo_asked or s.reason not in PHOTO_REASONS or s.action is None
            or t.ctx.policy.is_automatic(s.action, t.ctx.supports)):
        return False
    s.photo_asked = True
    s.step = Step.ASK_PHOTO
    t.say(T("photo.ask", item=item.name),
          options=[Option(T("button.skip_photo"), SKIP), menu_option()])
    return True


def on_photo_answer(t: Turn, msg: Message, payload: str | None) -> bool:
    """The answer at `ASK_PHOTO`: a photo, Skip (tapped, its number typed, or the
    word), or anything else. `payload`: the tapped or numbered choice. True when
    handled here; another button (Menu) is answered as everywhere."""
    s = t.s
    if s.step is not Step.ASK_PHOTO:
        return False
    if msg.files:
        s.photos += msg.files
        t.say(T("photo.received"))
    elif payload is not None and payload != SKIP:
        return False
    elif payload is None and intents.normalise(msg.text) not in SKIP_WORDS:
        t.say(T("photo.ask_again"),
              options=[Option(T("button.skip_photo"), SKIP), menu_option()])
        return True
    t.effect = LoadOrder(s.order or "")  # on to the confirmation
    return True


def on_issue_photo(t: Turn, msg: Message) -> bool:
    """A photo without words while the bot waits for the issue: kept for the ticket."""
    if t.s.step is not Step.ASK_ISSUE or not msg.files or msg.text.strip():
        return False
    t.s.photos += msg.files
    t.say(T("photo.for_issue"), options=[menu_option()])
    return True
