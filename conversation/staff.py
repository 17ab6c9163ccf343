"""The staff side of a ticket: reply, note, assign, resolve, reopen, approve, decline.

The inbox (HTTP) calls these; they know nothing of HTTP. Everything the shopper is
told goes through the durable outbox on the shopper's own channel, and is queued
under the conversation's lock (the same lock a shopper's turn takes), so:

- two agents replying at once both land, in the same order on the ticket, in the
  transcript and on the shopper's screen;
- a staff reply and a shopper message never interleave half-way;
- the same reply id (a double-clicked form) is sent once: it is the lock's
  message id, and the outbox's dedup key.

Replying to a resolved hand-off reopens it and pauses the bot again (the session
goes back to HANDED_OFF). Approving an action request carries it out through the
engine's own path with the request's idempotency key, so approving twice is one
change in the shop; the shopper is told in their language, with the same words
the bot uses when it does the change itself.

Errors:
    DeskError
      ├── NotARequest     approve/decline on a ticket that is not an action request
      ├── AlreadyDecided  approve after decline, or decline after approve
      ├── ShopDeclined    the back-end refused the change (it is not done)
      └── ShopDown        the back-end did not answer (nothing changed; try again)
    TicketNotFound (from `tickets`)
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import date
from typing import Any

import redis.asyncio as aioredis

from orders.models import ReturnReason
from orders.policy import Action

from .audit import AuditEntry, What, carried_once
from .audit import staff as staff_member
from .catalogue import T
from .delivery import DeliveryStates
from .effects import ActionRequest, Carried, CarryOut, Say, ShopRefused
from .engine import Engine
from .outbox import replies_to_data
from .session import Session, Step
from .store import TranscriptLine
from .tasks import on_carried
from .tickets import Decision, Ticket, TicketNotFound, TicketStatus, log_line
from .turn import Turn, action_name
from .types import Channel, Reply, SharedFile

log = logging.getLogger(__name__)

MAX_REPLY_CHARS = 4000
MAX_REASON_CHARS = 500
STAFF_REPLY_KEY = "staff.reply"


class DeskError(Exception):
    pass


class NotARequest(DeskError):
    pass


class AlreadyDecided(DeskError):
    pass


class ShopDeclined(DeskError):
    pass


class ShopDown(DeskError):
    pass


SessionChange = Callable[[Session], None]


class Desk:
    def __init__(self, engine: Engine, redis: aioredis.Redis, *, prefix: str = "ohb:") -> None:
        self._engine = engine
        self._tickets = engine.tickets
        self._store = engine.store
        self._states = DeliveryStates(redis, prefix=prefix)

    @property
    def deliveries(self) -> DeliveryStates:
        return self._states

    async def _ticket(self, ticket_id: str) -> Ticket:
        ticket = await self._tickets.get(ticket_id)
        if ticket is None:
            raise TicketNotFound(ticket_id)
        return ticket

    # ---- talking to the shopper ------------------------------------------------

    async def reply(self, ticket_id: str, author: str, text: str, *, reply_id: str,
                    author_name: str | None = None) -> Ticket:
        """Send `text` to the shopper on their channel and file it on the ticket
        with its delivery state. A resolved ticket is reopened (pending). The
        shopper sees `author_name` (default: from the author's email) with it."""
        text = text.strip()[:MAX_REPLY_CHARS]
        if not text:
            raise ValueError("an empty reply")
        return await self._from_staff(ticket_id, author, text, reply_id=reply_id,
                                      author_name=author_name)

    async def send_file(self, ticket_id: str, author: str, text: str, file: SharedFile, *,
                        reply_id: str, author_name: str | None = None) -> Ticket:
        """Send a file (with `text` as its caption, may be empty) to the shopper on
        their channel, and file it on the ticket like a reply (`attachments` names
        it, so the ticket shows it); the file is already kept and on the ticket."""
        return await self._from_staff(ticket_id, author, text.strip()[:MAX_REPLY_CHARS],
                                      reply_id=reply_id, author_name=author_name, file=file)

    async def _from_staff(self, ticket_id: str, author: str, text: str, *, reply_id: str,
                          author_name: str | None, file: SharedFile | None = None) -> Ticket:
        """A reply or a file: queued under the conversation's lock, filed on the
        ticket, the bot paused on a hand-off (which the shopper can no longer take
        back once a person answered)."""
        ticket = await self._ticket(ticket_id)
        now = self._engine.now()

        def pause_bot(session: Session) -> None:
            if ticket.kind == "handoff":
                _hand_off(session, ticket_id)
                if session.ticket == ticket_id:  # a person answered: no taking it back now
                    session.ticket_answered = True

        shown_name = author_name or name_from_email(author)

        def replies(_session: Session) -> list[Reply]:
            return [Reply(STAFF_REPLY_KEY, text, author=shown_name, file=file)]

        async def filed(outbox_id: str) -> None:
            await self._states.queued(outbox_id)

            def change(t: Ticket) -> Ticket:
                update: dict[str, Any] = {"updated_at": now, "status": TicketStatus.PENDING,
                                          "resolved_at": None}
                if t.assignee is None:
                    update["assignee"] = author
                return t.model_copy(update=update)

            await self._tickets.update(
                ticket_id, change,
                line=log_line("staff", text, now, author=author, outbox=outbox_id,
                              author_name=shown_name, attachments=file.id if file else None),
                event="reopened" if ticket.status is TicketStatus.RESOLVED else "message")

        await self._tell(ticket, f"staff:{ticket_id}:{reply_id}", replies, who="staff",
                         change_session=pause_bot, then=filed)
        return await self._ticket(ticket_id)

    async def _tell(
        self,
        ticket: Ticket,
        message_id: str,
        make: Callable[[Session], list[Reply]],
        *,
        who: str = "bot",
        change_session: SessionChange | None = None,
        then: Callable[[str], Any] | None = None,
    ) -> str | None:
        """Under the conversation's lock: change the session, queue `make(session)`
        on the outbox, run `then(outbox_id)` (file it on the ticket), and add the
        lines to the transcript. Once per `message_id`; None for a repeat."""
        engine, outbox = self._engine, self._engine.outbox
        if outbox is None:
            raise RuntimeError("the staff desk needs the outbox")
        begun = await self._store.begin(ticket.conversation, message_id)
        if begun.token is None:
            return None
        now = engine.now()
        try:
            session = begun.session
            if change_session is not None:
                change_session(session)
            replies = make(session)
            outbox_id = await outbox.enqueue(
                Channel(ticket.channel), ticket.conversation, replies, dedup_key=message_id)
            if then is not None:
                await then(outbox_id)
            await self._store.finish(
                ticket.conversation, message_id, begun.token, session,
                replies_to_data(replies),
                [TranscriptLine(who, r.text, now.isoformat(), r.key) for r in replies],
            )
        except BaseException:
            await self._store.release(ticket.conversation, begun.token)
            raise
        return outbox_id

    # ---- the ticket itself -----------------------------------------------------

    async def note(self, ticket_id: str, author: str, text: str) -> dict[str, str]:
        """An internal note: staff read it, the shopper never does."""
        text = text.strip()[:MAX_REPLY_CHARS]
        if not text:
            raise ValueError("an empty note")
        await self._ticket(ticket_id)
        return await self._tickets.add_message(ticket_id, "note", text, self._engine.now(),
                                               author=author)

    async def assign(self, ticket_id: str, assignee: str | None, by: str) -> Ticket:
        now = self._engine.now()

        def change(t: Ticket) -> Ticket | None:
            if t.assignee == assignee:
                return None
            return t.model_copy(update={"assignee": assignee})

        what = f"assigned to {assignee}" if assignee else "unassigned"
        ticket, _ = await self._tickets.update(
            ticket_id, change, line=log_line("system", what, now, author=by))
        return ticket

    async def resolve(self, ticket_id: str, by: str) -> Ticket:
        ticket = await self._ticket(ticket_id)
        if ticket.is_open:
            await self._tickets.add_message(ticket_id, "system", "resolved", self._engine.now(),
                                            author=by)
        return await self._engine.resolve_ticket(ticket_id, by=by)

    async def reopen(self, ticket_id: str, by: str) -> Ticket:
        """Back to open; a hand-off pauses the bot again (the shopper's next message
        is filed, and they are told it was)."""
        ticket = await self._ticket(ticket_id)
        if ticket.is_open:
            return ticket
        now = self._engine.now()

        def change(t: Ticket) -> Ticket | None:
            if t.is_open:
                return None
            return t.model_copy(update={"status": TicketStatus.OPEN, "updated_at": now,
                                        "resolved_at": None})

        ticket, changed = await self._tickets.update(
            ticket_id, change, line=log_line("system", "reopened", now, author=by),
            event="reopened")
        if changed and ticket.kind == "handoff":
            await self._pause_bot(ticket, f"reopen:{ticket_id}:{ticket.resolutions}")
        return ticket

    async def _pause_bot(self, ticket: Ticket, message_id: str) -> None:
        begun = await self._store.begin(ticket.conversation, message_id)
        if begun.token is None:
            return
        try:
            session = begun.session
            _hand_off(session, ticket.id)
            await self._store.finish(ticket.conversation, message_id, begun.token, session,
                                     [], [])
        except BaseException:
            await self._store.release(ticket.conversation, begun.token)
            raise

    # ---- action requests -------------------------------------------------------

    async def approve(self, ticket_id: str, by: str) -> Ticket:
        """Carry the requested change out (once, however often this is called),
        tell the shopper, and resolve the ticket."""
        ticket = await self._ticket(ticket_id)
        request = _request_of(ticket)
        if ticket.decision is Decision.DECLINED:
            raise AlreadyDecided(ticket_id)
        engine = self._engine
        outcome = await engine.carry_out(CarryOut(request))
        now = engine.now()
        action, who = request.action.value, staff_member(by)
        if isinstance(outcome, ShopRefused):
            await engine.audit.record(request.number, [
                AuditEntry(now, who, action, What.SHOP_REFUSED, ticket_id)])
            await self._tickets.add_message(ticket_id, "system",
                                            "approval failed: the shop refused the change",
                                            now, author=by)
            raise ShopDeclined(ticket_id)
        if not isinstance(outcome, Carried):
            await engine.audit.record(request.number, [
                AuditEntry(now, who, action, What.SHOP_UNAVAILABLE, ticket_id)])
            raise ShopDown(ticket_id)
        reference = outcome.outcome.reference
        await engine.audit.record(request.number, [  # once each, however often approved
            AuditEntry(now, who, action, What.APPROVED, ticket_id, once=f"approved:{ticket_id}"),
            AuditEntry(now, who, action, What.CARRIED_OUT, reference or "",
                       once=carried_once(request.idempotency_key, reference)),
        ])

        def told(session: Session) -> list[Reply]:
            scratch = Turn(Session(locale=session.locale, order=request.number),
                           engine.context(now))
            on_carried(scratch, outcome)
            # the bot's own words for the change, without its buttons: the shopper
            # may be in the middle of something else with the bot
            lines = [line for say in scratch.says for line in say.lines]
            say = Say((T("request.approved", ticket=ticket_id), *lines))
            return [engine.render(session.locale, say)]

        await self._tell(ticket, f"approved:{ticket_id}", told)
        return await self._decide(ticket_id, Decision.APPROVED, by, None)

    async def decline(self, ticket_id: str, by: str, reason: str) -> Ticket:
        """Tell the shopper the request was declined, and why; resolve the ticket."""
        reason = " ".join(reason.split())[:MAX_REASON_CHARS]
        if not reason:
            raise ValueError("a decline needs a reason the shopper is told")
        ticket = await self._ticket(ticket_id)
        request = _request_of(ticket)
        if ticket.decision is Decision.APPROVED:
            raise AlreadyDecided(ticket_id)
        engine = self._engine

        def told(session: Session) -> list[Reply]:
            return [engine.render(session.locale, Say((T(
                "request.declined", ticket=ticket_id, action=action_name(request.action),
                number=request.number, reason=reason),)))]

        await self._tell(ticket, f"declined:{ticket_id}", told)
        await engine.audit.record(request.number, [  # the reason stays on the ticket
            AuditEntry(engine.now(), staff_member(by), request.action.value, What.DECLINED,
                       ticket_id, once=f"declined:{ticket_id}")])
        return await self._decide(ticket_id, Decision.DECLINED, by, reason)

    async def _decide(
        self, ticket_id: str, decision: Decision, by: str, reason: str | None
    ) -> Ticket:
        now = self._engine.now()

        def change(t: Ticket) -> Ticket | None:
            if t.decision is decision and not t.is_open:
                return None
            update: dict[str, Any] = {"decision": decision, "decided_by": by,
                                      "decision_reason": reason, "updated_at": now}
            if t.is_open:
                update.update(status=TicketStatus.RESOLVED, resolved_at=now, resolved_by=by,
                              resolutions=t.resolutions + 1)
            return t.model_copy(update=update)

        words = f"{decision.value}" + (f": {reason}" if reason else "")
        ticket, _ = await self._tickets.update(
            ticket_id, change, line=log_line("system", words, now, author=by), event="resolved")
        log.info("ticket %s %s", ticket_id, decision.value)
        return ticket


def name_from_email(email: str) -> str:
    """"asha@shop.example" -> "Asha", "ravi.kumar@..." -> "Ravi Kumar": a first name
    a shopper can read, for an account without a display name."""
    local = email.partition("@")[0]
    words = [w for w in re.split(r"[._+\-]+", local) if w and not w.isdigit()]
    return " ".join(w.capitalize() for w in words) or local


def _hand_off(session: Session, ticket_id: str) -> None:
    """Pause the bot for this ticket, unless the shopper is with another one now."""
    if session.step is Step.HANDED_OFF:
        return
    session.reset_task()
    session.step = Step.HANDED_OFF
    session.ticket = ticket_id
    session.ticket_acked_at = None
    session.ticket_answered = False
    session.rating_ticket = None


def _request_of(ticket: Ticket) -> ActionRequest:
    """The ticket's action request as the dialogue made it (same idempotency key)."""
    data = ticket.request
    if ticket.kind != "request" or not data:
        raise NotARequest(ticket.id)
    request = ActionRequest(
        action=Action(data["action"]),
        number=str(data["number"]),
        line_id=data.get("line_id"),
        quantity=data.get("quantity"),
        reason=ReturnReason(data["reason"]) if data.get("reason") else None,
        address=data.get("address"),
        delivery_date=date.fromisoformat(data["delivery_date"])
        if data.get("delivery_date") else None,
        variant_id=data.get("variant_id"),
        variant=data.get("variant"),
        price_difference=data.get("price_difference"),
        kind=data.get("kind"),
    )
    if data.get("idempotency_key") not in (None, request.idempotency_key):
        raise NotARequest(f"{ticket.id}: its request does not read back the same")
    return request
