"""Understanding free text: what the shopper wants, and which order, in English,
Hindi and Hindi written in Latin letters (Hinglish).

Rules and a small model, each where it is reliable (`combine`):

- The rules (`read_by_rules`) hold what must be exact. Each intent has cues (`cues`):
  phrases matched word by word after shorthand and spelling variants are folded
  (`spelling`: "nhi" = "nahi", "aaya" = "aya", "कहाँ" = "कहां"), Latin words of six
  letters or more also one typo away ("cancle"). A negated cue does not count ("I don't
  want to cancel", "cancel nahi karna"); a cue that is a negation itself ("mat bhejo")
  is not undone by another; a cancel or return told in the past ("I returned it",
  "cancel kiya tha") is context, not the ask; a wait with a negation near it ("still
  not here", "abhi tak nahi") is a late parcel; of several intents the most specific
  ask wins (`cues.PRIORITY`). The order number is always the rules' (`order_number`):
  only a number typed in the message.
- The model (`intent_model`, a linear model over words and letter groups, fitted by
  `python -m conversation.train_intents` from the labelled corpora) reads phrasing no
  cue was written for. Cue rules reached 100 % on the sets they were tuned on and only
  56-72 % on a never-seen set; the model, cross-validated, reads about 85 % alone.
- Combined: the model decides when the rules find nothing (unless its guess is an
  intent the rules saw withdrawn, or it is unsure: then "not understood"), overrules a
  single rule intent only when it is confident, and of several intents the rules found
  may pick one only when it is surer still; otherwise the priority stands.
  Cross-validated figures per language: `python -m conversation.train_intents --cv`;
  per corpus set (now training data, so in-sample): `python -m
  conversation.understanding` (see `corpus_score`).
"""

from __future__ import annotations

import itertools
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from . import cues, intent_model
from .cues import Intent
from .intents import normalise, order_number
from .spelling import canonical, sound

__all__ = ["Classifier", "Intent", "RulesRead", "Understood", "checked", "combine", "decide",
           "intents_in", "read_by_rules", "tokens", "understand"]


@dataclass(frozen=True, slots=True)
class Understood:
    intent: Intent | None
    order: str | None
    tentative: bool = False
    """The intent is the model's guess alone, not a sure one (no rule found it and the
    model is below `MODEL_OVER_RULES`): enough to offer a path where the shopper asked
    nothing else, not to take a typed answer to a question as a new ask."""


_SPLIT = re.compile(r"[\s:()\"#/]+|(?<=\D)-|-(?=\D)")
_CLAUSE = re.compile(r"\s*[,.!?।;]+\s*")
CLAUSE_END = intent_model.CLAUSE_END
"""A token between clauses: a cue does not run across it, nor does a negation reach
over it ("pick them up, I don't want them")."""
_EMAIL = re.compile(r"\S+@\S+")
_TYPO_LENGTH = 6
"""Latin words this long or longer match one typo away ("cancle", "replacment",
"recieved"); shorter ones do not, where one letter makes another word ("paise", "kaise")."""
FIRSTS_CACHED = 8192
"""Tokens whose cue first words are remembered (a few hundred KB at most)."""
_GAP = ".."
_GAP_WORDS = 2


def tokens(text: str) -> list[str]:
    """The message's words in their canonical spelling, with `CLAUSE_END` between clauses."""
    folded = _CLAUSE.sub(f" {CLAUSE_END} ", _EMAIL.sub(" ", normalise(text)))
    words = (t.strip("'") for t in _SPLIT.split(folded))
    return [canonical(t) for t in words if t]


_Cue = tuple[Intent, tuple[str, ...], tuple[str, ...]]
"""A cue of a table: its intent, its words, and its words after the first."""


@dataclass(frozen=True, slots=True, eq=False)  # hashed by identity: `_firsts`'s cache key
class _CueIndex:
    """A cue table indexed by each cue's first word, so that a token is tested against
    only the cues it can begin (the same matches as testing every cue at every token,
    `_word_matches`, at a fraction of the cost): first words by their `sound` (which
    covers the exact word), long Latin first words by length (one typo away), and the
    few stems tested one by one."""

    by_first: dict[str, tuple[_Cue, ...]]
    by_sound: dict[str, tuple[str, ...]]
    typo_by_length: dict[int, tuple[str, ...]]
    plain: frozenset[str]
    stems: tuple[str, ...]
    slow: tuple[_Cue, ...]
    """Cues that begin with a gap (or are empty): matched the slow way, `_matches`."""
    letterless_match: bool
    """A token without letters (an order number, a phone) may begin a cue: false for
    our tables (every first word has letters, and so has its sound; those one typo
    away have two or more), so such tokens are not tested at all."""

    def firsts(self, token: str) -> frozenset[str]:
        """The first words of cues that `token` matches (`_word_matches`); remembered
        per token, since words recur from message to message (the index never changes)."""
        if not self.letterless_match and not _has_letter(token):
            return _NONE
        return _firsts(self, token)

    def match_firsts(self, token: str) -> frozenset[str]:
        """`firsts` worked out: by sound, one typo away, and the stems."""
        found = {token} if token in self.plain else set()
        found.update(self.by_sound.get(sound(token), ()))
        if token.isascii():
            for length in (len(token) - 1, len(token), len(token) + 1):
                found.update(c for c in self.typo_by_length.get(length, ())
                             if _one_typo(token, c))
        found.update(c for c in self.stems if _word_matches(token, c))
        return frozenset(found)


_NONE: frozenset[str] = frozenset()


def _has_letter(word: str) -> bool:
    return any(ch.isalpha() for ch in word)


def _letterless_match(plain: frozenset[str], by_sound: dict[str, tuple[str, ...]],
                      typo_by_length: dict[int, tuple[str, ...]], stems: tuple[str, ...]) -> bool:
    """Whether a token without letters could match a first word (see `_CueIndex.firsts`):
    exactly, by sound, one typo away (a word with at most one letter), or as a stem."""
    return (any(not _has_letter(w) for w in plain)
            or any(not _has_letter(key) for key in by_sound)
            or any(sum(ch.isalpha() for ch in w) <= 1
                   for words in typo_by_length.values() for w in words)
            or any(not _has_letter(stem[:-1]) or not _has_letter(sound(stem[:-1]))
                   for stem in stems))


@lru_cache(maxsize=FIRSTS_CACHED)
def _firsts(index: _CueIndex, token: str) -> frozenset[str]:
    return index.match_firsts(token)


def _index(table: dict[Intent, tuple[tuple[str, ...], ...]]) -> _CueIndex:
    by_first: dict[str, list[_Cue]] = {}
    slow: list[_Cue] = []
    for intent, cue_words in table.items():
        for words in cue_words:
            cue = (intent, words, words[1:])
            if not words or words[0] == _GAP:
                slow.append(cue)
            else:
                by_first.setdefault(words[0], []).append(cue)
    plain = [w for w in by_first if not w.endswith("*")]
    by_sound: dict[str, list[str]] = {}
    typo_by_length: dict[int, list[str]] = {}
    for word in (w for w in plain if w.isascii()):
        by_sound.setdefault(sound(word), []).append(word)
        if len(word) >= _TYPO_LENGTH:
            typo_by_length.setdefault(len(word), []).append(word)
    sounds = {k: tuple(v) for k, v in by_sound.items()}
    typos = {k: tuple(v) for k, v in typo_by_length.items()}
    stems = tuple(w for w in by_first if w.endswith("*"))
    return _CueIndex({w: tuple(c) for w, c in by_first.items()}, sounds, typos,
                     frozenset(plain), stems, tuple(slow),
                     _letterless_match(frozenset(plain), sounds, typos, stems))


@lru_cache(maxsize=1)
def _compiled() -> tuple[_CueIndex, _CueIndex]:
    """The cue tables with every word in its canonical spelling, as word tuples, indexed."""
    def compile_table(table: dict[Intent, tuple[str, ...]]) -> dict[Intent, tuple[
            tuple[str, ...], ...]]:
        return {i: tuple(tuple(canonical(w) for w in cue.split()) for cue in table[i])
                for i in table}
    return _index(compile_table(cues.CUES)), _index(compile_table(cues.WEAK_CUES))


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


def _word_matches(token: str, cue: str) -> bool:
    if cue.endswith("*"):
        stem = cue[:-1]
        return token.startswith(stem) or (stem.isascii() and sound(token).startswith(
            sound(stem)))
    if token == cue:
        return True
    if not cue.isascii():
        return False
    return sound(token) == sound(cue) or (
        len(cue) >= _TYPO_LENGTH and token.isascii() and _one_typo(token, cue))


def _match_at(tokens: list[str], i: int, words: tuple[str, ...]) -> int | None:
    """The end of the cue if it matches from token i (".." skips up to two words)."""
    if not words:
        return i
    if words[0] == _GAP:
        for skip in range(_GAP_WORDS + 1):
            end = _match_at(tokens, i + skip, words[1:])
            if end is not None:
                return end
        return None
    if i < len(tokens) and _word_matches(tokens[i], words[0]):
        return _match_at(tokens, i + 1, words[1:])
    return None


def _matches(tokens: list[str], words: tuple[str, ...]) -> Iterator[tuple[int, int]]:
    """Where a cue occurs, as (first token, token after it)."""
    for i in range(len(tokens)):
        end = _match_at(tokens, i, words)
        if end is not None:
            yield i, end


def _negated(tokens: list[str], start: int, end: int) -> bool:
    i = start - 1
    while i >= 0 and tokens[i] in cues.BETWEEN:
        i -= 1
    if i >= 0 and tokens[i] in cues.NEGATION_BEFORE:
        return True
    for j in range(end, min(end + 3, len(tokens))):
        if tokens[j] == CLAUSE_END:
            return False
        if tokens[j] in cues.NEGATION_AFTER:
            return j + 1 == len(tokens) or tokens[j + 1] in cues.WISH | {CLAUSE_END}
    return False


def _past(tokens: list[str], start: int, end: int) -> bool:
    """Told as done, or as a point in time ("after cancellation", "cancel ke baad")."""
    return (tokens[start] in cues.PAST_WORDS or any(t in cues.PAST for t in tokens[end:end + 3])
            or any(t in ("after", "since") for t in tokens[max(0, start - 2):start]))


def _counts(intent: Intent, words: tuple[str, ...], tokens: list[str], start: int,
            end: int) -> bool:
    """A cue found counts unless it is withdrawn ("don't want to cancel") or told as
    past; a cue that is itself a negation ("mat bhejo", "don't ship") is not negated
    again by "nahi chahiye" after it."""
    own_negation = any(w in cues.NEGATION or w in cues.NEGATION_AFTER or w == "don't"
                       for w in words)
    if end < len(tokens) and tokens[end] in cues.NOT_WHEN_FOLLOWED.get(words[-1], ()):
        return False
    if intent not in cues.NOT_NEGATED and not own_negation and _negated(tokens, start, end):
        return False
    return not (intent in cues.CONTEXT_WHEN_PAST and _past(tokens, start, end))


def _occurrences(tokens: list[str], index: _CueIndex) -> Iterator[tuple[_Cue, int, int]]:
    """Every cue of the table found in the message, with where (first token, token after)."""
    firsts: dict[str, frozenset[str]] = {}
    for start, token in enumerate(tokens):
        if token not in firsts:
            firsts[token] = index.firsts(token)
        for first in firsts[token]:
            for cue in index.by_first[first]:
                end = _match_at(tokens, start + 1, cue[2])
                if end is not None:
                    yield cue, start, end
    for cue in index.slow:
        for start, end in _matches(tokens, cue[1]):
            yield cue, start, end


def _found(tokens: list[str], index: _CueIndex) -> tuple[set[Intent], set[Intent]]:
    """The intents whose cues count, and those whose every cue was withdrawn (negated
    or told as past: "I don't want to cancel", "I returned it")."""
    found: set[Intent] = set()
    seen: set[Intent] = set()
    for (intent, words, _rest), start, end in _occurrences(tokens, index):
        seen.add(intent)
        if intent not in found and _counts(intent, words, tokens, start, end):
            found.add(intent)
    return found, seen - found


def _still_waiting(tokens: list[str]) -> bool:
    """"still not here", "abhi tak nahi aaya", "not yet": a wait and a negation near it."""
    text = " ".join(tokens)
    for still in cues.STILL:
        at = f" {text} ".find(f" {still} ")
        if at < 0:
            continue
        i = text[:at].count(" ") if at else 0
        near = tokens[max(0, i - 3):i + len(still.split()) + 4]
        if any(t in cues.NEGATION for t in near):
            return True
    return False


def _not_arrived(tokens: list[str]) -> bool:
    """"never showed up", "hasn't reached", "aata nahi": an arrival verb next to a
    negation (within two words, in the same clause)."""
    for i, token in enumerate(tokens):
        if token in cues.ARRIVAL:
            near = tokens[max(0, i - 2):i + 3]
            if any(t in cues.NEGATION or t.endswith("n't") for t in near):
                return True
    return False


def _do_not_send(tokens: list[str]) -> bool:
    """"please don't dispatch it", "dispatch mat karna": told not to send it."""
    return any(token in cues.SHIP_VERBS and any(t in cues.DONT for t in tokens[max(0, i - 2):i + 3])
               for i, token in enumerate(tokens))


def _waited_days(tokens: list[str]) -> bool:
    """"for 4 days now", "4 din se": a wait counted in days or weeks."""
    return any(unit in cues.DURATION_UNITS and after in cues.DURATION_SINCE
               for unit, after in itertools.pairwise(tokens))


@dataclass(frozen=True, slots=True)
class RulesRead:
    """What the rules found: the intents asked for, and the intents whose cues were all
    withdrawn (negated or past), which the model may not bring back."""

    found: frozenset[Intent]
    withdrawn: frozenset[Intent]

    @property
    def first(self) -> Intent | None:
        """Of several intents, the most specific ask (`cues.PRIORITY`)."""
        return next((i for i in cues.PRIORITY if i in self.found), None)


def read_by_rules(words: list[str]) -> RulesRead:
    """The rules' reading of a message's `tokens`: strong cues and the wait and
    do-not-send patterns, or, when none of them is found, the weak cues."""
    strong, weak = _compiled()
    found, withdrawn = _found(words, strong)
    if _still_waiting(words) or _not_arrived(words) or _waited_days(words):
        found.add(Intent.LATE)
    if _do_not_send(words):
        found.add(Intent.CANCEL)
    if not found:
        found, withdrawn_weak = _found(words, weak)
        withdrawn |= withdrawn_weak
    return RulesRead(frozenset(found), frozenset(withdrawn - found))


def intents_in(text: str) -> set[Intent]:
    """Every intent the rules find in the message (negated and past cues left out)."""
    return set(read_by_rules(tokens(text)).found)


MODEL_FLOOR = 0.3
"""Below this probability the model's best guess is no reading at all ("not understood",
and the dialogue shows the choices): garbage and small talk stay unread."""
MODEL_OVER_RULES = 0.7
"""Above this probability the model overrules the one intent the rules found (a cue
word used in another sense). Chosen with
`python -m conversation.train_intents --cv --grid`: on the grouped folds (where the
rules were tuned) higher is a little better, on fresh_v5 left out (the rules never saw
it) 0.5-0.7 is best; 0.7 costs the folds 0.6 points and gains fresh_v5 2.7."""


MODEL_AMONG_RULES = 0.9
"""When the rules find several intents, the most specific ask wins (`cues.PRIORITY`)
unless the model is at least this sure of another one of them: "no update on my
refund" finds a track and a refund, and is a refund; "मेरा सामान कहां पहुंचा कुछ पता है"
finds an address ("पता") and a track, and is a track. The model never adds an intent
the rules did not find there. Chosen like `MODEL_OVER_RULES` (0.7, 0.8, 0.9 and never
tried; 0.8 and 0.9 were within a message of each other, and at 0.8 the menu's own label
typed, "return or replace" (model 0.80 return), stopped meaning a replacement)."""


def combine(rules: RulesRead, probabilities: dict[str, float], *, floor: float = MODEL_FLOOR,
            over: float = MODEL_OVER_RULES, among: float = MODEL_AMONG_RULES) -> Intent | None:
    """The intent of a message from the rules' reading and the model's probabilities.

    The rules keep what they are reliable for: a negated or past cue is never brought
    back ("I don't want to cancel" is no cancel), and of several asks the model may only
    pick one the rules found. The model decides when the rules find nothing, and
    overrules a single rule intent when it is confident."""
    best = max(probabilities, key=lambda label: probabilities[label])
    guess = None if best == intent_model.NONE else Intent(best)
    sure = probabilities[best]
    if guess is not None and guess in rules.withdrawn:
        guess = None
    if len(rules.found) == 1:
        return guess if guess is not None and sure >= over else rules.first
    if rules.found:
        return guess if guess in rules.found and sure >= among else rules.first
    return guess if sure >= floor else None


def understand(text: str) -> Understood:
    """The shopper's intent (rules and model together, `combine`) and the order number
    typed in the message (rules only: a number the shopper did not type is never read)."""
    words = tokens(text)
    rules = read_by_rules(words)
    if not _has_words(words):  # a number, a phone: the rules' alone (`decide`), no model
        return Understood(rules.first, order_number(text))
    probabilities = intent_model.model().probabilities(words)
    intent = combine(rules, probabilities)
    tentative = (intent is not None and intent not in rules.found
                 and probabilities[intent.value] < MODEL_OVER_RULES)
    return Understood(intent, order_number(text), tentative)


def decide(words: list[str], probabilities: dict[str, float],
           rules: RulesRead | None = None) -> Intent | None:
    """The intent of a message's `tokens` given the model's probabilities for them: a
    message without letters ("100234", a phone, "2": an answer, not an ask) is the
    rules' alone."""
    rules = rules or read_by_rules(words)
    return combine(rules, probabilities) if _has_words(words) else rules.first


def _has_words(words: list[str]) -> bool:
    """Letters somewhere: the model reads words, not a bare number or punctuation."""
    return any(ch.isalpha() for word in words for ch in word)


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


def main(argv: list[str]) -> int:
    """`python -m conversation.understanding [corpus.jsonl ...] [-v]`: accuracy per set and
    language (every corpus set when no file is named); the measuring is in `corpus_score`."""
    from .corpus_score import main as score_main

    return score_main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
