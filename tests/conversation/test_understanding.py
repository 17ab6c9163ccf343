"""Free text read as a shopper means it, measured on a corpus of messages in English,
Hindi and Hinglish (written from public customer-support phrasing, each with its
intent and order number); and the two intents that are not order actions: a late
parcel and "what can you do"."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from conversation.corpus_score import CORPUS, FRESH, HELDOUT_V2, load, score, sets, split
from conversation.engine import Engine
from conversation.understanding import (
    Intent,
    _compiled,
    _word_matches,
    main,
    tokens,
    understand,
)
from orders.policy import Policy
from tests.conversation.chat import Chat
from tests.conversation.conftest import Clock

LANGUAGES = ("en", "hi", "hinglish")


def test_the_corpus_is_big_enough_and_covers_every_language_and_intent() -> None:
    cases = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()]
    assert len(cases) >= 300
    per_language = Counter(c["lang"] for c in cases)
    assert set(per_language) == set(LANGUAGES) and min(per_language.values()) >= 90
    assert {c["intent"] for c in cases} == {i.value for i in Intent} | {"none"}
    assert sum(1 for c in cases if c["order"]) >= 50


FLOORS = {"main": 0.97, "holdout-v1": 0.95, "heldout-v2 tuning": 0.95,
          "heldout-v2 test": 0.9, "fresh-43": 0.85, "fresh-v3": 0.9, "fresh-v4": 0.9,
          "fresh-v5": 0.85, "extra-v6": 0.85, "extra-v7": 0.85, "blind-v6": 0.9,
          "blind-v7": 0.75}
"""What each set reads, less some slack, so a regression fails. Every set is now training
data of the intent model too, so these are in-sample figures (en/hi/Hinglish: 94-100 %,
extra-v6 96-98 %), not the accuracy on new phrasing: that is cross-validated by
`python -m conversation.train_intents --cv`. Before the model, the rules alone read
fresh-v5, the one set they were never tuned on, at 56/72/68 %. The blind sets, never
trained or tuned on, read 100/96/96 % (v6) and 80/84/92 % (v7): their floors guard the
figure the closing note reports. No set asserts 100 %."""


@pytest.mark.parametrize("name", FLOORS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_accuracy_per_set_and_language(name: str, language: str) -> None:
    s = score(sets()[name])[language]
    assert s.accuracy >= FLOORS[name], s.misses


def test_the_second_held_out_set_was_split_by_a_fixed_seed_into_halves() -> None:
    cases = load(HELDOUT_V2)
    tuning, test = split(cases)
    assert (tuning, test) == split(cases)  # the same halves on every run
    assert len(cases) >= 150 and min(Counter(c["lang"] for c in cases).values()) >= 50
    assert sorted(map(str, tuning + test)) == sorted(map(str, cases))
    for language in LANGUAGES:
        mine = [c for c in tuning if c["lang"] == language]
        assert len(mine) == sum(c["lang"] == language for c in cases) // 2


def test_the_cli_prints_every_set_per_language(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    assert all(f"{name}:" in out for name in FLOORS)
    assert main([str(FRESH)]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    assert [line.split()[0] for line in lines] == sorted(LANGUAGES)
    assert all(line.rstrip().endswith("%") for line in lines)


@pytest.mark.parametrize(("text", "intent", "order"), [
    ("I don't want to cancel", None, None),
    ("I don't want to cancel, just tell me where 100234 is", Intent.TRACK, "100234"),
    ("cancel nahi karna hai", None, None),
    ("cancle my order 100876", Intent.CANCEL, "100876"),
    ("i want to check my refnd", Intent.REFUND, None),
    ("I returned it last week but no refund yet", Intent.REFUND, None),
    ("it's late, cancel it", Intent.CANCEL, None),
    ("my parcel is late", Intent.LATE, None),
    ("hi, what can you do?", Intent.CAPABILITIES, None),
    # spelling variants folded: shorthand, long vowels, nasals, Devanagari marks
    ("abi tk parcel nhi aya", Intent.LATE, None),
    ("mera odr kahaan pahucha", Intent.TRACK, None),
    ("आर्डर 100234 कहाँ है", Intent.TRACK, "100234"),
    ("ORD-100234 pls cancel", Intent.CANCEL, "100234"),
    # a cue that is itself a negation is not withdrawn by another one after it
    ("mat bhejo, nahi chahiye", Intent.CANCEL, None),
    ("refund nahi chahiye", None, None),
    # a gap inside a cue, and a wait with a negation near it
    ("what can your assistant do", Intent.CAPABILITIES, None),
    ("still nothing from the courier", Intent.LATE, None),
])
def test_negation_typos_and_several_intents(text: str, intent: Intent | None,
                                            order: str | None) -> None:
    got = understand(text)
    assert (got.intent, got.order) == (intent, order)


def test_a_bad_corpus_line_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"lang": "en", "text": "where is it"}\n', encoding="utf-8")
    with pytest.raises(KeyError):
        score(bad)


# ---- the new intents in the dialogue ------------------------------------------------------------


async def test_what_can_you_do_lists_the_capabilities(chat: Chat) -> None:
    await chat.say("hi, what can you do?")
    assert chat.keys[-1] == "capabilities"
    assert "cancel" in chat.text and "refund" in chat.text and "Track order" in chat.labels


async def _late(chat: Chat, number: str, factor: str) -> None:
    await chat.say("hi")
    await chat.say(f"my parcel {number} is late")
    assert chat.keys == ["verify.ask_factor"]
    await chat.say(factor)


async def test_a_parcel_still_on_time_says_when_and_what_the_carrier_said(chat: Chat) -> None:
    await _late(chat, "100003", "ananya.iyer@example.in")
    assert chat.keys == ["snapshot.header", "late.on_time"]
    assert "Latest:" in chat.text and "expected by 19 Nov 2026" in chat.text


async def test_past_the_expected_date_an_apology_and_a_priority_hand_off(
    chat: Chat, clock: Clock
) -> None:
    clock.advance(days=3)
    await _late(chat, "100003", "ananya.iyer@example.in")
    assert chat.keys == ["snapshot.header", "late.apology"]
    assert "I'm sorry" in chat.text and "19 Nov 2026" in chat.text
    await chat.tap("Chase it for me")
    assert chat.keys[0] == "handoff.opened"
    ticket = (await chat.engine.tickets.list_open())[0]
    assert ticket.priority and ticket.order == "100003" and ticket.order_verified


async def test_the_apology_and_compensation_are_the_merchants_words_when_set(
    make_engine: Callable[..., Engine],
) -> None:
    policy = Policy(timezone="Asia/Kolkata", late_apology="So sorry for the wait!",
                    late_compensation="We've added a ₹100 voucher to your account.")
    chat = Chat(make_engine(policy=policy))
    await _late(chat, "100012", "rohan.das@example.com")  # a failed delivery attempt
    assert "So sorry for the wait!" in chat.text and "₹100 voucher" in chat.text


def _one_edit_variants(word: str) -> list[str]:
    """The word with each letter dropped, doubled, replaced by "x", and swapped with the next."""
    return ([word[:i] + word[i + 1:] for i in range(len(word))]
            + [word[:i] + word[i] + word[i:] for i in range(len(word))]
            + [word[:i] + "x" + word[i + 1:] for i in range(len(word))]
            + [word[:i] + word[i + 1] + word[i] + word[i + 2:] for i in range(len(word) - 1)])


def test_the_cue_index_finds_exactly_the_cues_a_word_by_word_test_finds() -> None:
    """The index by first word (`_CueIndex`) is a shortcut only: every word of every
    corpus message, and one typo of each, begins the same cues as testing each cue."""
    words = {w for cases in sets().values() for case in cases for w in tokens(case["text"])}
    words |= {v for w in list(words) if w.isascii() for v in _one_edit_variants(w)}
    for index in _compiled():
        for word in words:
            assert index.firsts(word) == {f for f in index.by_first if _word_matches(word, f)}, word
