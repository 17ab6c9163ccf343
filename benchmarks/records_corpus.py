"""Realistic tickets for the records benchmark, made up from a fixed random seed.

A year of a busy shop's support: shoppers (some come back: about one in three has
more than one ticket) with Indian names, emails and mobile numbers; each ticket
has an order snapshot copied from the demo orders, a transcript of 6-12 lines in
English, Hindi or Hinglish with the shopper's order numbers, products and cities
in it, and (once staff answered) a few lines of log. Old tickets are mostly
resolved; the last fortnight's are mostly open or pending, as in a real inbox.

`RARE_WORDS` are products so unusual that only about one ticket in two thousand
mentions one; `COMMON_WORD` is in nearly every ticket. The rows come out
as dictionaries for the tables' Core `insert`s, the search rows already `plain()`
as `records.search.index` writes them.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from orders.loading import DEMO_ORDERS_FILE, load_order_file
from records import search
from records.schema import FIRST_TICKET

RARE_WORDS = ("tanpura", "kolhapuri", "paithani", "dhokra", "pashmina")
COMMON_WORD = "order"
YEAR = timedelta(days=365)
RECENT = timedelta(days=14)

FIRST = ("Aarav", "Priya", "Rahul", "Ananya", "Vikram", "Sneha", "Arjun", "Kavya", "Rohan",
         "Isha", "Amit", "Pooja", "Sanjay", "Neha", "Karan", "Divya", "Manoj", "Lakshmi",
         "Suresh", "Meera", "Farhan", "Ayesha", "Gurpreet", "Harpreet", "Joseph", "Mary",
         "Deepak", "Swati", "Nikhil", "Ritu", "Imran", "Zoya", "Venkat", "Anjali", "Tarun",
         "Bhavna", "Rajesh", "Sunita", "Aditya", "Nandini")
LAST = ("Sharma", "Verma", "Singh", "Patel", "Iyer", "Nair", "Reddy", "Gupta", "Khan", "Das",
        "Banerjee", "Mukherjee", "Joshi", "Kulkarni", "Menon", "Pillai", "Chatterjee",
        "Agarwal", "Mehta", "Shah", "Rao", "Fernandes", "Dsouza", "Kaur", "Gill", "Yadav",
        "Mishra", "Chauhan", "Bose", "Hegde")
DOMAINS = ("gmail.com", "yahoo.co.in", "outlook.com", "rediffmail.com", "hotmail.com")
CITIES = ("Mumbai", "Delhi", "Bengaluru", "Chennai", "Kolkata", "Pune", "Hyderabad", "Jaipur",
          "Lucknow", "Indore", "Kochi", "Chandigarh", "Bhopal", "Patna", "Surat", "Nagpur")
PRODUCTS = ("kurta", "saree", "running shoes", "pressure cooker", "earphones", "jeans",
            "lehenga", "smartwatch", "mixer grinder", "bedsheet", "dupatta", "school bag",
            "water bottle", "phone cover", "sherwani", "bangles")
AGENTS = ("asha@shop.example", "ravi@shop.example", "meena@shop.example",
          "tom@shop.example", "fatima@shop.example")
CHANNELS = ("web", "web", "whatsapp", "whatsapp", "whatsapp", "telegram")

SHOPPER_LINES = (
    # English
    "Where is my order {order}?",
    "My order {order} has not arrived yet, it has been {days} days",
    "I want to return the {product}, it does not fit",
    "The {product} I received is damaged, the box was open",
    "Please cancel order {order}, I ordered the wrong colour",
    "I was charged twice for order {order}",
    "Can I talk to a person please",
    "The courier says delivered but I did not get anything",
    "My refund for order {order} has not come yet",
    "Please change the delivery address to {city}",
    "Wrong size received, I need an exchange for the {product}",
    "I need a GST invoice for my order",
    "You can mail me at {email}",
    "Call me on {phone}, I am free after 6",
    # Hindi
    "मेरा ऑर्डर {order} कहाँ है?",
    "मुझे {product} वापस करना है",
    "पैसे अभी तक वापस नहीं आए, ऑर्डर {order}",
    "ऑर्डर कैंसिल कर दीजिए",
    "डिलीवरी बहुत लेट है, {days} दिन हो गए",
    "किसी इंसान से बात करवाइए",
    "सामान टूटा हुआ आया है",
    # Hinglish
    "bhai mera order {order} kab aayega",
    "order abhi tak nahi aaya, {days} din ho gaye",
    "{product} ka size chhota hai, return karna hai",
    "refund kab milega? order {order}",
    "delivery boy ne call nahi kiya, order wapas chala gaya",
    "mujhe agent se baat karni hai",
    "paise kat gaye but order confirm nahi hua",
    "address change karna hai {city} mein",
    "mera naam {name} hai, order {order} ke baare mein",
)
BOT_LINES = (
    "Let me check order {order} for you.",
    "Your order is out for delivery and should arrive today.",
    "Please type your order number (for example 1234567).",
    "To check it is you, type the code we just sent to your phone.",
    "I can cancel it: the refund goes back to your UPI account in 3-5 days. Shall I go ahead?",
    "I have passed this to our support team; someone will reply here.",
    "Which item do you want to return?",
    "आपका ऑर्डर रास्ते में है और आज पहुँच जाएगा।",
    "कृपया अपना ऑर्डर नंबर लिखें।",
    "मैंने आपकी बात हमारी टीम तक पहुँचा दी है।",
)
STAFF_LINES = (
    "Hi {first}, sorry for the trouble. We have raised this with the courier.",
    "Hi {first}, the refund for {order} was processed today; it takes 3-5 working days.",
    "Namaste {first}, the replacement {product} ships tomorrow.",
    "Hi {first}, could you send a photo of the damaged {product}?",
    "We have updated the address for order {order}.",
)
FOLLOW_UPS = ("thanks", "ok thank you so much", "dhanyavaad", "theek hai, thanks",
              "still not received", "photo bhej diya", "धन्यवाद")


@dataclass(frozen=True, slots=True)
class Shopper:
    name: str
    email: str
    phone: str  # E.164, as a channel proves it


@dataclass(slots=True)
class Batch:
    tickets: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    search: list[dict[str, Any]] = field(default_factory=list)


class Corpus:
    """Makes `count` tickets, numbered from T-1001, newest last, `now` the end."""

    def __init__(self, count: int, seed: int, now: datetime) -> None:
        self.count = count
        self.now = now
        self.rng = random.Random(seed)  # noqa: S311 - made-up data, reproducible
        samples = load_order_file(DEMO_ORDERS_FILE, now)
        self._snapshots = [o.model_dump(mode="json") for o in samples]
        self._shoppers = [self._shopper(i) for i in range(max(1, count * 2 // 3))]
        self._next_order = 4_000_000

    def _shopper(self, index: int) -> Shopper:
        rng = self.rng
        first, last = rng.choice(FIRST), rng.choice(LAST)
        email = f"{first}.{last}{index}@{rng.choice(DOMAINS)}".lower()
        phone = f"+91{rng.choice('6789')}{rng.randrange(10**9):09d}"
        return Shopper(f"{first} {last}", email, phone)

    def batches(self, size: int) -> Iterator[Batch]:
        batch = Batch()
        for i in range(self.count):
            self._ticket(FIRST_TICKET + i, i, batch)
            if len(batch.tickets) == size:
                yield batch
                batch = Batch()
        if batch.tickets:
            yield batch

    def new_order(self) -> str:
        self._next_order += self.rng.randrange(1, 40)
        return str(self._next_order)

    def fill(self, template: str, who: Shopper, order: str) -> str:
        rng = self.rng
        product = rng.choice(PRODUCTS)
        if not rng.randrange(500):  # about one line in 500: a rare product
            product = rng.choice(RARE_WORDS)
        return template.format(order=order, product=product, city=rng.choice(CITIES),
                               days=rng.randrange(2, 15), email=who.email,
                               phone=who.phone[3:], name=who.name,
                               first=who.name.split()[0])

    def transcript(self, who: Shopper, order: str, opened: datetime) -> list[dict[str, str]]:
        """6-12 lines, shopper first, a bot answer after each shopper line."""
        rng = self.rng
        lines = rng.randrange(6, 13)
        at = opened - timedelta(seconds=25 * lines)
        out = []
        for n in range(lines):
            at += timedelta(seconds=rng.randrange(5, 45))
            if n % 2 == 0:
                out.append({"who": "shopper", "text": self.fill(rng.choice(SHOPPER_LINES),
                                                                 who, order),
                            "at": at.isoformat()})
            else:
                out.append({"who": "bot", "text": self.fill(rng.choice(BOT_LINES), who, order),
                            "at": at.isoformat()})
        return out

    def snapshot(self, who: Shopper, order: str) -> dict[str, Any]:
        snap = dict(self.rng.choice(self._snapshots))
        snap.update(number=order, customer={"name": who.name, "email": who.email,
                                            "phone": who.phone})
        return snap

    def _ticket(self, number: int, i: int, batch: Batch) -> None:
        rng = self.rng
        age = YEAR * (1 - (i + rng.random()) / self.count)
        created = self.now - age
        who = rng.choice(self._shoppers)
        order = self.new_order()
        channel = rng.choice(CHANNELS)
        verified = rng.random() < 0.7
        has_order = verified or rng.random() < 0.7
        transcript = self.transcript(who, order, created)
        shopper_said = [line["text"] for line in transcript if line["who"] == "shopper"]
        recent = age < RECENT
        status = rng.choices(("open", "pending", "resolved"),
                             (40, 20, 40) if recent else (2, 2, 96))[0]
        updated = min(self.now, created + timedelta(minutes=rng.randrange(1, 3 * 24 * 60)))
        phone = who.phone if channel == "whatsapp" or (channel == "telegram"
                                                        and rng.random() < 0.5) else None
        email = who.email if channel == "web" and rng.random() < 0.7 else None
        kind = "request" if rng.random() < 0.3 else "handoff"
        ticket = {
            "number": number, "origin": f"{number:064x}", "version": 1, "kind": kind,
            "status": status, "channel": channel,
            "conversation": f"{channel}:{who.phone if channel != 'web' else who.email}",
            "locale": rng.choice(("en", "en", "hi")), "created_at": created,
            "updated_at": updated, "resolved_at": updated if status == "resolved" else None,
            "order_number": order if has_order else None, "order_verified": verified,
            "order_snapshot": self.snapshot(who, order) if verified else None,
            "issue": rng.choice(shopper_said), "refusal": None,
            "request": {"action": "return", "order": order} if kind == "request" else None,
            "contact_phone": phone, "contact_email": email,
            "shopper_name": who.name if verified else None,
            "assignee": rng.choice(AGENTS) if status != "open" else None,
            "last_shopper_at": created, "resolutions": 1 if status == "resolved" else 0,
            "resolved_by": rng.choice(AGENTS) if status == "resolved" else None,
            "decision": None, "decision_reason": None, "decided_by": None,
            "rating": rng.randrange(1, 6) if status == "resolved" and rng.random() < 0.4
            else None,
            "rated_at": None, "extra": None,
        }
        batch.tickets.append(ticket)
        batch.messages.extend(
            {"ticket": number, "part": "transcript", "message_id": None, "who": line["who"],
             "text": line["text"], "at": line["at"], "extra": None} for line in transcript)
        log = self._log(number, who, order, updated) if status != "open" else []
        batch.messages.extend(log)
        batch.history.append({"ticket": number, "at": created, "event": "created",
                              "from_status": None, "to_status": "open", "by": None})
        if status != "open":
            batch.history.append({"ticket": number, "at": updated, "event": status,
                                  "from_status": "open", "to_status": status,
                                  "by": ticket["assignee"]})
        texts = [ticket["issue"], ticket["order_number"], email, phone, ticket["shopper_name"],
                 *shopper_said, *(m["text"] for m in log)]
        batch.search.extend({"ticket": number, "body": body}
                            for t in texts if t and (body := search.plain(t)))

    def _log(self, number: int, who: Shopper, order: str, at: datetime) -> list[dict[str, Any]]:
        rng = self.rng
        agent = rng.choice(AGENTS)
        reply = self.fill(rng.choice(STAFF_LINES), who, order)
        lines: list[tuple[str, str, dict[str, str] | None]] = [
            ("staff", reply, {"author": agent, "outbox": f"o-{rng.randrange(16**10):010x}"})]
        if rng.random() < 0.6:
            lines.append(("shopper", rng.choice(FOLLOW_UPS), None))
        return [{"ticket": number, "part": "log", "message_id": f"m-{rng.randrange(16**12):012x}",
                 "who": who_, "text": text, "at": (at - timedelta(minutes=5 - n)).isoformat(),
                 "extra": extra} for n, (who_, text, extra) in enumerate(lines)]
