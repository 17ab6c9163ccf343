"""The imperative shell around the dialogue: one inbound message in, replies out.

    begin (dedup + lock + load: 1 round trip)
      -> step -> perform effect -> step ... (the shop and tickets, only when asked)
    finish (save + remember the answer + transcript + unlock: 1 round trip)

Only this module talks to the order back-end and the ticket store on the
dialogue's behalf; `machine` stays pure. A redelivered message id returns the
first answer and changes nothing.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis

from media.store import DEFAULT_MAX_BYTES, MediaStore
from orders.backend import ActionRefused, BackendUnavailable, OrderBackend
from orders.models import Address, Order, ReturnLine
from orders.phones import normalise_phone
from orders.policy import Action, Policy

from . import attachments, machine, metrics, observe
from .activity import ConversationDays
from .audit import AuditLog, Note, shopper
from .catalogue import Catalogue, T
from .desk import Priority
from .effects import (
    Carried,
    CarryOut,
    Classified,
    Classify,
    Effect,
    Event,
    FactorNeeded,
    FindOrders,
    LoadOrder,
    LoadVariants,
    Message,
    NotVerified,
    OpenTicket,
    OrderLoaded,
    OrdersFound,
    RatingRecorded,
    RecordRating,
    Say,
    ShopRefused,
    ShopUnavailable,
    Subscribe,
    Subscribed,
    TicketOpened,
    TicketWithdrawn,
    Unsubscribe,
    Unsubscribed,
    Verified,
    Verify,
    WithdrawTicket,
)
from .guesses import MAX_WRONG_GUESSES, OrderGuesses
from .hours import BusinessHours
from .keys import Keys
from .open_requests import with_open_replacement_requests
from .outbox import Outbox, replies_from_data, replies_to_data
from .scripts import ScriptCall, run_batched
from .session import Session, Step
from .store import REDIS_DOWN, KeyWrite, SessionStore, TranscriptLine, together
from .subscriptions import Subscriptions
from .tickets import Ticket, TicketStatus, TicketStore, new_message_id, origin_of
from .turn import Context, rating_question
from .types import Button, Channel, Inbound, LinkButton, Reply, TurnResult
from .understanding import Classifier
from .withdrawal import withdraw

log = logging.getLogger(__name__)

MAX_EFFECTS_PER_TURN = 6
DEFAULT_STAFF_LANGUAGE = "en"
STAFF_NOTIFICATIONS = "staff:notifications"  # the outbox "conversation" of staff notes


class Engine:
    def __init__(
        self,
        redis: aioredis.Redis,
        backend: OrderBackend,
        *,
        policy: Policy,
        catalogue: Catalogue,
        tickets: TicketStore,
        audit: AuditLog,
        prefix: str = "ohb:",
        idle_timeout: timedelta = timedelta(minutes=30),
        hours: BusinessHours | None = None,
        outbox: Outbox | None = None,
        return_policy_url: str | None = None,
        support_url: str | None = None,
        notify_staff: bool = False,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        subscriptions: Subscriptions | None = None,
        classifier: Classifier | None = None,
        media: MediaStore | None = None,
    ) -> None:
        """`notify_staff`: queue a note for the staff webhook (`Channel.STAFF_WEBHOOK`)
        whenever a ticket opens; only the ticket id, kind, channel and order number."""
        self._redis = redis
        self._backend = backend
        self._policy = policy
        self._catalogue = catalogue
        self._tickets = tickets
        self._keys = Keys(prefix)
        self._store = SessionStore(redis, self._keys)
        self._audit = audit
        self._guesses = OrderGuesses(redis, self._keys)
        self._idle = idle_timeout
        self._hours = hours or BusinessHours.parse("", policy.timezone)
        self._outbox = outbox
        self._return_policy_url = return_policy_url
        self._support_url = support_url
        self._notify_staff = notify_staff
        self._clock = clock
        self.days = ConversationDays(redis, prefix=prefix, timezone=policy.timezone)
        self._subscriptions = subscriptions or Subscriptions(redis, prefix)
        self._classifier = classifier  # NLU_URL: reads what the rules and the model did not
        self._media = media

    @property
    def subscriptions(self) -> Subscriptions:
        """Who is kept posted about which order (the "Keep me posted" button)."""
        return self._subscriptions

    @property
    def store(self) -> SessionStore:
        return self._store

    @property
    def tickets(self) -> TicketStore:
        return self._tickets

    @property
    def outbox(self) -> Outbox | None:
        return self._outbox

    @property
    def audit(self) -> AuditLog:
        return self._audit

    @property
    def catalogue(self) -> Catalogue:
        return self._catalogue

    def now(self) -> datetime:
        return self._clock()

    def context(self, now: datetime) -> Context:
        """What the dialogue's steps share for one turn."""
        return Context(
            now=now,
            policy=self._policy,
            supports=self._backend.supports,
            hours=self._hours,
            languages=self._catalogue.languages,
            return_policy_url=self._return_policy_url,
            support_url=self._support_url,
            classifier=self._classifier is not None,
        )

    @observe.observed_turn
    async def handle(self, inbound: Inbound, *, also: KeyWrite | None = None) -> TurnResult:
        """`also`: a key of the conversation the channel wants written in the same
        round trip that starts the turn (see `store.KeyWrite`)."""
        begun = await self._store.begin(inbound.conversation, inbound.message_id, also)
        if begun.token is None:
            return TurnResult(replies_from_data(begun.duplicate_answer), duplicate=True)
        later: list[ScriptCall] = []  # what the save carries (a guess given back)
        try:
            return await self._turn(inbound, begun.session, begun.token, later)
        except BaseException:
            await self._store.release(inbound.conversation, begun.token)
            await self._send_later(later)
            raise

    async def _send_later(self, calls: list[ScriptCall]) -> None:
        """What a turn that failed before its save would have sent with it, on its own
        (best effort: a guess not given back still counts, the safe way round)."""
        if calls:
            with contextlib.suppress(*REDIS_DOWN):
                await run_batched(self._redis, calls)

    async def _turn(
        self, inbound: Inbound, session: Session, token: str, later: list[ScriptCall]
    ) -> TurnResult:
        now = self._clock()
        says: list[Say] = []
        lines = [TranscriptLine("shopper", _shopper_line(inbound), now.isoformat(),
                                files=attachments.joined(inbound.attachments))]
        fresh = session.last_seen is None
        first_today = self.days.first_of_day(session.last_seen, now)
        if fresh:
            session.locale = self._catalogue.language_for(inbound.locale)
            says.append(machine.greeting())
        elif session.last_seen and now - session.last_seen > self._idle and (
            session.step is not Step.HANDED_OFF
        ):
            session.reset_task()
            session.order = None
            says.append(Say((T("session.welcome_back"),)))
        session.last_seen = now
        newly_proven = self._apply_identity(session, inbound)

        if inbound.media_refused is not None:  # said first: nothing of that file was kept
            says.append(attachments.refusal(inbound.media_refused, self.media_limit))
        if session.step is Step.HANDED_OFF:
            await self._file_on_ticket(session, inbound, now)

        notes: list[Note] = []
        if not _only_refused(inbound):  # a refused file alone changes nothing else
            ctx = self.context(now)
            message = Message(inbound.text, inbound.payload,
                              inbound.has_media or inbound.has_location, newly_proven,
                              files=len(inbound.attachments))
            transition = machine.step(session, message, ctx)
            says.extend(transition.says)
            notes.extend(transition.notes)
            for _ in range(MAX_EFFECTS_PER_TURN):
                if transition.effect is None:
                    break
                event = await self._perform(transition.effect, transition.session, inbound,
                                            lines, later)
                ctx = self.context(now)  # what the shop does may have been read just now
                transition = machine.step(transition.session, event, ctx)
                says.extend(transition.says)
                notes.extend(transition.notes)
            session = transition.session
        keeping = None
        if notes:  # in the save's round trip (or before it, when the log has no Redis): kept
            # whatever the save's outcome, a failed round trip fails the turn, and its retry
            # logs them again (a change the shop made once is logged once: `Note.once`)
            who = shopper(inbound.channel.value)
            keeping = self._audit.keeping(notes, who, now)
            if keeping is None:
                await self._audit.write(notes, who, now)

        if says and not _only_refused(inbound):  # a refusal keeps the question's choices
            session.offered = [o.payload for say in says for o in say.options]
        replies = tuple(self._render(session.locale, say) for say in says)
        lines.extend(TranscriptLine("bot", r.text, now.isoformat(), r.key) for r in replies)
        # the day's first turn is counted for the reports in the save's round trip
        marking = (self.days.marking(inbound.conversation, inbound.channel.value, now)
                   if first_today else None)
        calls, later[:] = list(later), []  # the save's from here, whatever becomes of it
        await self._store.finish(
            inbound.conversation, inbound.message_id, token, session,
            replies_to_data(replies), lines, alongside=together(marking, keeping), calls=calls,
        )
        return TurnResult(replies, handed_off=session.step is Step.HANDED_OFF)

    def _apply_identity(self, session: Session, inbound: Inbound) -> bool:
        """Remember what the channel proved; True when that is new to this session."""
        identity = inbound.identity
        if identity is None:
            return False
        before = (session.phone, session.email)
        if identity.phone and (phone := normalise_phone(identity.phone)):
            session.phone = phone
        if identity.email:
            session.email = identity.email.strip().casefold()
        return (session.phone, session.email) != before

    async def _file_on_ticket(self, session: Session, inbound: Inbound, now: datetime) -> None:
        """While a person has the conversation, the shopper's words go to the ticket;
        once staff resolved it, the bot is back."""
        ticket_id = session.ticket
        line_id = new_message_id()
        if ticket_id and inbound.attachments and self._media is not None:
            # the files before the line: a retry finds them attached, and the line
            # never names a file the ticket lacks
            ticket = await self._tickets.get(ticket_id, transcript=False)
            if ticket is not None and ticket.status is not TicketStatus.RESOLVED:
                await self._media.attach(inbound.attachments, conversation=inbound.conversation,
                                         ticket=ticket.number, line=line_id)
        filed = False
        if ticket_id:
            filed = await self._tickets.file_from_shopper(
                ticket_id, _shopper_line(inbound), now, id=line_id,
                attachments=attachments.joined(inbound.attachments))
        if not filed:
            session.reset_task()
            session.ticket = None

    def _render(self, locale: str, say: Say) -> Reply:
        render = self._catalogue.render
        return Reply(
            key=say.key,
            text="\n".join(render(locale, line) for line in say.lines),
            buttons=tuple(Button(render(locale, o.label), o.payload) for o in say.options),
            links=tuple(LinkButton(render(locale, link.label), link.url) for link in say.links),
        )

    # ---- effects --------------------------------------------------------------

    async def _perform(
        self, effect: Effect, session: Session, inbound: Inbound, lines: list[TranscriptLine],
        later: list[ScriptCall],
    ) -> Event:
        try:
            match effect:
                case FindOrders(phone=phone, email=email):
                    found: list[Order] = []
                    if phone:
                        found.extend(await self._backend.find_orders(phone=phone))
                    if email:
                        found.extend(o for o in await self._backend.find_orders(email=email)
                                     if o.number not in {f.number for f in found})
                    found.sort(key=lambda o: o.placed_at, reverse=True)
                    return OrdersFound(tuple(found))
                case LoadOrder(number=number):
                    return OrderLoaded(await self._load_order(number, session))
                case LoadVariants(number=number, line_id=line_id):
                    loaded = await self._load_order(number, session)
                    variants = await self._backend.variants(number, line_id) if loaded else []
                    return OrderLoaded(loaded, tuple(variants))
                case Verify():
                    return await self._verify(effect, session, later)
                case CarryOut():
                    return await self._carry_out(effect)
                case OpenTicket():
                    return await self._open_ticket(effect, session, inbound, lines)
                case RecordRating(ticket_id=ticket_id, score=score):
                    await self._tickets.record_rating(ticket_id, score, self._clock())
                    return RatingRecorded()
                case Subscribe(number=number):
                    await self._subscriptions.subscribe(number, inbound.channel,
                                                        inbound.conversation, session.locale)
                    return Subscribed(number)
                case Unsubscribe(bye=bye):
                    stopped = await self._subscriptions.unsubscribe_all(inbound.conversation)
                    return Unsubscribed(tuple(stopped), bye)
                case Classify(text=text):
                    got = await self._classifier.classify(text) if self._classifier else None
                    return Classified(got.intent.value if got and got.intent else None,
                                      got.order if got else None)
                case WithdrawTicket(ticket_id=ticket_id, bye=bye):
                    closed = await withdraw(self._tickets, ticket_id, self._clock())
                    return TicketWithdrawn(ticket_id, closed, bye)
        except BackendUnavailable:
            log.warning("order back-end unavailable during %s", type(effect).__name__)
            change = effect.request if isinstance(effect, CarryOut) else None  # sent, unconfirmed
            return ShopUnavailable(change)
        raise TypeError(f"unknown effect {effect!r}")

    async def _load_order(self, number: str, session: Session) -> Order | None:
        """The order; for a replacement or exchange, with the requests still waiting
        on staff counted as replacements (the one-per-item limit holds meanwhile)."""
        loaded = await self._backend.get_order(number)
        if loaded is not None and (session.action in (Action.REPLACE, Action.EXCHANGE)
                                   or session.either_return_or_replace):
            loaded = await with_open_replacement_requests(self._tickets, loaded)
        return loaded

    async def _verify(self, effect: Verify, session: Session, later: list[ScriptCall]) -> Event:
        """A factor's guess takes its place before it is checked; a right answer, or one
        the shop could not check, gives it back with the turn's save (`later`)."""
        if effect.factor is None:
            order = await self._backend.get_order(effect.number)
            if order and _owned_by(order, session.phone, session.email):
                return Verified(order)
            return FactorNeeded(effect.number)
        place = await self._guesses.take(effect.number)  # counted before it is checked
        if place is None:
            return NotVerified(order_locked=True)
        try:
            order = await self._backend.get_order(effect.number)
        except BackendUnavailable:
            later.append(self._guesses.giving_back(effect.number))  # nothing was checked
            raise
        factor = effect.factor
        if order and _owned_by(order, normalise_phone(factor), factor.casefold()):
            later.append(self._guesses.giving_back(effect.number))
            return Verified(order)
        return NotVerified(order_locked=place >= MAX_WRONG_GUESSES)

    async def carry_out(self, effect: CarryOut) -> Carried | ShopRefused | ShopUnavailable:
        """Carry a change out through the back-end, as the dialogue does (the staff
        desk approves requests through this, with the request's idempotency key)."""
        try:
            return await self._carry_out(effect)
        except BackendUnavailable:
            log.warning("order back-end unavailable while carrying out a request")
            return ShopUnavailable(effect.request)

    async def _carry_out(self, effect: CarryOut) -> Carried | ShopRefused:
        request = effect.request
        key = request.idempotency_key
        backend = self._backend
        try:
            match request.action:
                case Action.CANCEL:
                    outcome = await backend.cancel(request.number, idempotency_key=key)
                case Action.RETURN:
                    assert request.line_id and request.quantity and request.reason
                    outcome = await backend.start_return(
                        request.number,
                        [ReturnLine(line_id=request.line_id, quantity=request.quantity,
                                    reason=request.reason)],
                        idempotency_key=key,
                    )
                case Action.REPLACE:
                    assert request.line_id and request.quantity and request.reason
                    outcome = await backend.replace(
                        request.number, request.line_id, request.quantity, request.reason,
                        idempotency_key=key,
                    )
                case Action.EXCHANGE:
                    assert request.line_id and request.quantity and request.variant_id
                    outcome = await backend.exchange(
                        request.number, request.line_id, request.quantity, request.variant_id,
                        idempotency_key=key,
                    )
                case Action.DELIVERY:
                    address = await self._new_address(request.number, request.address)
                    outcome = await backend.change_delivery(
                        request.number, address=address, delivery_date=request.delivery_date,
                        idempotency_key=key,
                    )
                case _:
                    raise TypeError(f"{request.action} is not a change")
        except ActionRefused as exc:
            log.info("the shop refused %s: %s", request.action.value, type(exc).__name__)
            return ShopRefused(request)
        return Carried(request, outcome)

    async def _new_address(self, number: str, text: str | None) -> Address | None:
        """The shopper types the address as one message; keep the name and country
        already on the order, and the words exactly as typed."""
        if text is None:
            return None
        order = await self._backend.get_order(number)
        old = order.shipping_address if order else None
        return Address(
            name=old.name if old else "",
            line1=text,
            city="",
            postal_code="",
            country=old.country if old else "IN",
        )

    async def _open_ticket(
        self, effect: OpenTicket, session: Session, inbound: Inbound,
        lines: list[TranscriptLine],
    ) -> Event:
        now = self._clock()
        shop_down = False
        try:  # a person must be reachable exactly when the shop is not
            order = await self._backend.get_order(effect.order) if effect.order else None
        except BackendUnavailable:
            log.warning("order back-end unavailable: ticket opened without the order's snapshot")
            order, shop_down = None, True
        transcript = await self._store.transcript(inbound.conversation)
        transcript.extend(
            {"who": line.who, "text": line.text, "at": line.at,
             **({attachments.ATTACHMENTS: line.files} if line.files else {})}
            for line in lines
        )
        files = [i for line in transcript for i in attachments.split(
            line.get(attachments.ATTACHMENTS))]
        ticket = await self._tickets.create(Ticket(
            id="",
            kind=effect.kind.value,
            channel=inbound.channel.value,
            conversation=inbound.conversation,
            locale=session.locale,
            created_at=now,
            updated_at=now,
            order=order.number if order else effect.order,
            order_verified=effect.order_verified and (order is not None or shop_down),
            order_snapshot=order.model_dump(mode="json") if order else None,
            issue=effect.issue,
            refusal=effect.refusal,
            request=_request_data(effect),
            transcript=transcript,
            contact_phone=session.phone,
            contact_email=session.email,
            # a late or lost parcel: staff take it first (the bot sets it, not the rules)
            **({"priority": Priority.HIGH, "priority_by": "bot"} if effect.priority else {}),
        ), origin=origin_of(inbound.conversation, inbound.message_id))
        if files and self._media is not None:  # the shopper's photos before it opened
            await self._media.attach(files, conversation=inbound.conversation,
                                     ticket=ticket.number, line="transcript")
        log.info("ticket %s opened (%s, %s)", ticket.id, ticket.kind, ticket.channel)
        metrics.TICKETS_OPENED.labels(ticket.kind, ticket.channel).inc()
        if self._notify_staff and self._outbox is not None:
            await self._notify(ticket)
        return TicketOpened(ticket.id, effect.kind, effect.request)

    async def _notify(self, ticket: Ticket) -> None:
        """A line for the staff webhook: the ticket id, kind, channel and order
        number, nothing the shopper wrote. The link is relative; the sender knows
        the public URL."""
        assert self._outbox is not None
        params = {"ticket": ticket.id, "channel": ticket.channel, "order": ticket.order or "-"}
        what = (T("staff.new_request", **params) if ticket.kind == "request"
                else T("staff.new_handoff", **params))
        text = self._catalogue.render(DEFAULT_STAFF_LANGUAGE, what)
        reply = Reply("staff.new_ticket", text,
                      links=(LinkButton(ticket.id, f"/inbox/tickets/{ticket.id}"),))
        await self._outbox.enqueue(Channel.STAFF_WEBHOOK, STAFF_NOTIFICATIONS, [reply],
                                   dedup_key=f"notify:{ticket.id}")

    # ---- staff side (the inbox builds on these) --------------------------------

    async def resolve_ticket(self, ticket_id: str, *, by: str | None = None) -> Ticket:
        """Close a ticket and give the conversation back to the bot: the shopper is
        told (through the outbox), asked one satisfaction question (the RATE step)
        and shown the menu. Each resolution is told once, however often it is retried."""
        now = self._clock()
        ticket = await self._tickets.mark_resolved(ticket_id, now, by)
        if ticket.kind != "handoff" or ticket.status is not TicketStatus.RESOLVED:
            return ticket
        message_id = f"resolve:{ticket_id}:{ticket.resolutions}"
        begun = await self._store.begin(ticket.conversation, message_id)
        if begun.token is None:
            return ticket
        try:
            session = begun.session
            says = rating_question(ticket_id)
            if session.step is not Step.HANDED_OFF or session.ticket == ticket_id:
                session.reset_task()
                session.ticket = None
                session.step = Step.RATE
                session.rating_ticket = ticket_id
            else:  # the shopper is with another ticket now: no question, no menu
                says = [Say((T("handoff.resolved", ticket=ticket_id),))]
            session.offered = [o.payload for say in says for o in say.options]
            replies = [self._render(session.locale, say) for say in says]
            if self._outbox is not None:  # queued under the lock: a retry after a crash
                await self._outbox.enqueue(  # here tells the shopper exactly once
                    Channel(ticket.channel), ticket.conversation, replies,
                    dedup_key=f"resolved:{ticket_id}:{ticket.resolutions}",
                )
            await self._store.finish(
                ticket.conversation, message_id, begun.token, session,
                replies_to_data(replies),
                [TranscriptLine("bot", r.text, now.isoformat(), r.key) for r in replies],
            )
        except BaseException:
            await self._store.release(ticket.conversation, begun.token)
            raise
        return ticket

    def render(self, locale: str, say: Say) -> Reply:
        return self._render(locale, say)

    @property
    def media_limit(self) -> int:
        return self._media.max_bytes if self._media is not None else DEFAULT_MAX_BYTES


def _owned_by(order: Order, phone: str | None, email: str | None) -> bool:
    customer = order.customer
    return bool(
        (phone and normalise_phone(customer.phone) == phone)
        or (email and customer.email.casefold() == email)
    )


def _only_refused(inbound: Inbound) -> bool:
    return (inbound.media_refused is not None and not inbound.attachments
            and not inbound.text.strip() and inbound.payload is None)


def _shopper_line(inbound: Inbound) -> str:
    if inbound.text:
        return inbound.text
    if inbound.payload:
        return f"[{inbound.payload}]"
    if inbound.attachments:
        return "[attachment]"
    if inbound.has_media:
        return "[media]"
    if inbound.has_location:
        return "[location]"
    return ""


def _request_data(effect: OpenTicket) -> dict[str, object] | None:
    if effect.request is None:
        return None
    data = asdict(effect.request)
    data["action"] = effect.request.action.value
    data["idempotency_key"] = effect.request.idempotency_key
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in data.items()
            if v is not None}
