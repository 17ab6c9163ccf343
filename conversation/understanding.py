"""Understanding free text: what the shopper wants, and which order, in English,
Hindi and Hindi written in Latin letters (Hinglish).

Rules, not a model: predictable, testable, and measured against a corpus of shopper
messages (`tests/conversation/corpus/shopper_messages.jsonl`, accuracy printed by
`python -m conversation.understanding`). Each intent has cues: phrases matched in
the normalised text, and words matched one typo away ("cancle", "refnd"). Then:

- a cue that is negated does not count: "I don't want to cancel" (a negation up to
  four words before), "cancel nahi karna" (a negation and a wish after the cue);
- a cancel or a return told in the past ("I returned it", "cancel kiya tha", "लौटा
  दिया था") is context, not the ask: "...but no refund yet" is about the refund;
- of several intents the most specific ask wins (`_PRIORITY`): "late, cancel it" is
  a cancel, "returned, where is my money" a refund, "where is it" only a track.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from .intents import normalise, order_number


class Intent(StrEnum):
    AGENT = "agent"
    CANCEL = "cancel"
    DELIVERY = "delivery"
    REPLACE = "replace"
    RETURN = "return"
    REFUND = "refund"
    SUBSCRIBE = "subscribe"
    LATE = "late"
    TRACK = "track"
    CAPABILITIES = "capabilities"


_PRIORITY = tuple(Intent)
"""Of several intents found, the first in this order wins."""


@dataclass(frozen=True, slots=True)
class Understood:
    intent: Intent | None
    order: str | None


# phrases (several words, or a word stem ending in "*") and single words per intent
_CUES: dict[Intent, tuple[str, ...]] = {
    Intent.AGENT: (
        "human", "agent", "representative", "real person", "a person", "speak to", "speak with",
        "talk to", "customer care", "customer service", "live agent", "someone", "call me",
        "connect me", "insaan", "aadmi", "baat karni", "baat karao", "baat karwao", "call karo",
        "connect karo", "इंसान", "एजेंट", "व्यक्ति", "बात करनी", "बात कराइए", "बात करवाइए",
        "कॉल करें", "कॉल करो",
    ),
    Intent.CANCEL: (
        "cancel", "cancellation", "stop my order", "radd", "रद्द", "कैंसल", "कैंसिल",
    ),
    Intent.DELIVERY: (
        "address", "reschedule", "different date", "another date", "another day",
        "change the delivery", "change delivery", "deliver on", "delivered to", "deliver it on",
        "moved to", "move the delivery", "pincode", "pin code", "pata", "kisi aur din",
        "date change", "delivery kar dena", "deliver kar do",
        "पता", "पते", "किसी और दिन", "तारीख बदल*", "दिन बदल*", "डिलीवरी कर देना",
    ),
    Intent.REPLACE: (
        "replace", "replacement", "exchange", "swap", "new one", "send another",
        "badal do", "badal dijiye", "naya bhejo", "dusra bhejo", "बदल*", "नया भेज*", "रिप्लेस*",
        "एक्सचेंज",
    ),
    Intent.RETURN: (
        "return", "returns", "returning", "send back", "send it back", "send them back",
        "wapas karna", "wapas kar", "wapas bhejna", "wapas kaise", "वापस करना", "वापस करने",
        "वापस कैसे", "वापस भेज*", "लौटा*", "रिटर्न",
    ),
    Intent.REFUND: (
        "refund", "refunds", "money back", "money", "paisa", "paise", "rifund", "रिफंड",
        "धनवापसी", "पैसे", "पैसा",
    ),
    Intent.SUBSCRIBE: (
        "keep me posted", "notify me", "send me updates", "keep me updated", "let me know when",
        "message me when", "message when", "tell me when", "inform me when",
        "dete rehna", "bhejte rehna", "batate rehna", "batana", "बता देना", "देते रहना",
        "बताते रहना",
    ),
    Intent.LATE: (
        "late", "delayed", "delay", "overdue", "not received", "haven't received",
        "havent received", "didn't receive", "didnt receive", "didn't get", "didnt get",
        "never arrived", "hasn't arrived", "hasnt arrived", "not arrived", "still not",
        "still nothing", "hasn't come", "hasnt come", "not come", "not yet delivered", "due",
        "missing", "atka*", "deliver nahi", "अटका*", "डिलीवर नहीं", "stuck", "lost",
        "not delivered", "taking too long",
        "nahi mila", "mila nahi", "nahi aaya", "aaya hi nahi", "receive nahi", "gayab",
        "लेट", "देरी", "नहीं मिला", "मिला नहीं", "नहीं आया", "आया ही नहीं", "गुम",
        "प्राप्त नहीं",
    ),
    Intent.TRACK: (
        "where", "where's", "wheres", "status", "delivery date", "want to know", "track",
        "tracking", "trak", "eta", "when will",
        "when is", "arrive*", "shipped", "on the way", "update", "reach me", "what's happening",
        "out for delivery", "picked up", "how long until", "check order", "check on", "how far",
        "kidhar", "किधर", "pahunch*", "kahan", "kaha", "kab",
        "ship hua", "dispatch", "pahuncha", "utha", "aayega", "ayega", "kitne din", "कहाँ",
        "कहां", "कब", "स्टेटस", "स्थिति", "ट्रैक*", "भेज दिया", "शिप", "पहुं*", "जानकारी",
        "अपडेट", "आएगा", "उठाया", "किस जगह",
    ),
    Intent.CAPABILITIES: (
        "what can you do", "how can you help", "what are my options", "what can i ask",
        "what services", "what all can", "kya kya kar sak*", "kya kar sak*", "madad kar sakte",
        "kya kya options",
        "help kar sakte", "क्या क्या कर सकते", "क्या कर सकते", "मदद कर सकते", "पूछ सकता",
        "पूछ सकती",
    ),
}

_WEAK_CUES: dict[Intent, tuple[str, ...]] = {
    Intent.REPLACE: (
        "wrong item", "wrong product", "wrong size", "wrong colour", "wrong color", "damaged",
        "broken", "defective", "faulty", "cracked", "shattered", "toota", "tooti", "kharab",
        "galat", "टूटा", "टूटी", "खराब", "गलत", "डैमेज",
    ),
}
"""Cues that say what is wrong, not what to do: taken only when nothing else is asked
("wrong size, cancel it" is a cancel; "wrong item delivered" alone asks for the right one)."""

# "I don't want to cancel", "not cancelling", "never mind about the refund": a negation
# before the cue with only these words between
_NEGATION_BEFORE = frozenset({"don't", "dont", "not", "won't", "wont", "never", "without"})
_BETWEEN = frozenset({"want", "wanna", "to", "need", "going", "mind", "about", "the", "my",
                      "it", "this", "a", "any", "more", "do"})
# "cancel nahi karna", "रिटर्न नहीं करना": a negation, then a wish (or nothing), after it
_NEGATION_AFTER = frozenset({"nahi", "nahin", "nhi", "mat", "नहीं", "मत"})
_WISH = frozenset({"karna", "karni", "karo", "chahiye", "karenge", "करना", "करनी", "करो",
                   "चाहिए", "करेंगे", "hai", "है", "ab", "अब"})
# a cancel or return that already happened: "cancel kiya tha", "लौटा दिया था"
_PAST = frozenset({"tha", "thi", "gaya", "gayi", "diya", "kiya", "baad", "था", "थी", "गया",
                   "गई", "दिया", "किया", "बाद"})
_PAST_WORDS = frozenset({"returned", "cancelled", "canceled"})
_CONTEXT_WHEN_PAST = frozenset({Intent.CANCEL, Intent.RETURN})
_NOT_NEGATED = frozenset({Intent.LATE, Intent.TRACK, Intent.CAPABILITIES})

_SPLIT = re.compile(r"[\s,.!?।;:()\"#/]+")
_EMAIL = re.compile(r"\S+@\S+")
_FUZZY = frozenset({"cancel", "refund", "return", "replace", "replacement", "exchange",
                    "delivery", "address", "status", "tracking", "reschedule", "cancellation"})
"""Words often mistyped ("cancle", "refnd", "replacment"): matched one typo away. Not
short or Hinglish words, where one letter makes another word ("paise", "kaise")."""


def _tokens(text: str) -> list[str]:
    folded = _EMAIL.sub(" ", normalise(text))
    return [t.strip("'") for t in _SPLIT.split(folded) if t.strip("'")]


def _one_typo(a: str, b: str) -> bool:
    """At most one edit (insert, delete, substitute, or swap of neighbours)."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1:] == short for i in range(len(long)))


def _matches(tokens: list[str], cue: str) -> Iterable[tuple[int, int]]:
    """Where a cue occurs, as (first token, token after it)."""
    words = cue.split()
    n = len(words)
    for i in range(len(tokens) - n + 1):
        window = tokens[i:i + n]
        if all(_word_matches(t, w, single=n == 1) for t, w in zip(window, words, strict=True)):
            yield i, i + n


def _word_matches(token: str, cue: str, *, single: bool) -> bool:
    if cue.endswith("*"):
        return token.startswith(cue[:-1])
    if token == cue:
        return True
    return single and cue in _FUZZY and _one_typo(token, cue)


def _negated(tokens: list[str], start: int, end: int) -> bool:
    i = start - 1
    while i >= 0 and tokens[i] in _BETWEEN:
        i -= 1
    if i >= 0 and tokens[i] in _NEGATION_BEFORE:
        return True
    for j in range(end, min(end + 3, len(tokens))):
        if tokens[j] in _NEGATION_AFTER:
            return j + 1 == len(tokens) or tokens[j + 1] in _WISH
    return False


def _past(tokens: list[str], start: int, end: int) -> bool:
    """Told as done, or as a point in time ("after cancellation", "cancel ke baad")."""
    return (tokens[start] in _PAST_WORDS or any(t in _PAST for t in tokens[end:end + 3])
            or (start > 0 and tokens[start - 1] in ("after", "since")))


def intents_in(text: str) -> set[Intent]:
    """Every intent the message asks for (negated and past cues left out)."""
    tokens = _tokens(text)
    return _found(tokens, _CUES) or _found(tokens, _WEAK_CUES)


def _found(tokens: list[str], table: dict[Intent, tuple[str, ...]]) -> set[Intent]:
    found: set[Intent] = set()
    for intent, cues in table.items():
        for cue in cues:
            for start, end in _matches(tokens, cue):
                if intent not in _NOT_NEGATED and _negated(tokens, start, end):
                    continue
                if intent in _CONTEXT_WHEN_PAST and _past(tokens, start, end):
                    continue
                found.add(intent)
    return found


def understand(text: str) -> Understood:
    found = intents_in(text)
    intent = next((i for i in _PRIORITY if i in found), None)
    return Understood(intent, order_number(text))


class Classifier(Protocol):
    """A fallback for text the rules do not read (`NLU_URL`): the same intents and an
    order number, or None when it cannot tell (or fails). It never decides eligibility
    and never writes an answer: the dialogue still does both."""

    async def classify(self, text: str) -> Understood | None: ...


def checked(text: str, intent: str | None, order: str | None) -> Understood:
    """A classifier's answer, kept only as far as it is one of ours: a known intent,
    and an order number that is really in the message (never one it made up)."""
    known = {i.value: i for i in Intent}
    typed = order_number(text)
    digits = "".join(ch for ch in str(order or "") if ch.isdigit())
    return Understood(known.get(str(intent or "").strip().lower()),
                      typed if typed and digits == typed else None)


# ---- measuring it ------------------------------------------------------------

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "conversation" / "corpus" / (
    "shopper_messages.jsonl")


@dataclass(frozen=True, slots=True)
class Score:
    right: int
    total: int
    misses: tuple[tuple[str, str, str], ...]  # text, expected, got

    @property
    def accuracy(self) -> float:
        return self.right / self.total if self.total else 0.0


def score(path: Path = CORPUS) -> dict[str, Score]:
    """Accuracy per language: a message counts as right when both its intent and its
    order number are read as the corpus says."""
    right: Counter[str] = Counter()
    total: Counter[str] = Counter()
    misses: dict[str, list[tuple[str, str, str]]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        case = json.loads(line)
        got = understand(case["text"])
        expected = (case["intent"], case["order"])
        actual = (got.intent.value if got.intent else "none", got.order)
        total[case["lang"]] += 1
        if actual == expected:
            right[case["lang"]] += 1
        else:
            misses.setdefault(case["lang"], []).append(
                (case["text"], f"{expected[0]} {expected[1] or ''}".strip(),
                 f"{actual[0]} {actual[1] or ''}".strip()))
    return {lang: Score(right[lang], total[lang], tuple(misses.get(lang, ())))
            for lang in total}


def main(argv: list[str]) -> int:
    """`python -m conversation.understanding [corpus.jsonl] [-v]`: accuracy per language."""
    paths = [a for a in argv if not a.startswith("-")]
    scores = score(Path(paths[0]) if paths else CORPUS)
    for lang, s in sorted(scores.items()):
        print(f"{lang:9} {s.right:4}/{s.total:<4} {s.accuracy:6.1%}")
        if "-v" in argv:
            for text, expected, got in s.misses:
                print(f"    {text!r}: expected {expected}, got {got}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
