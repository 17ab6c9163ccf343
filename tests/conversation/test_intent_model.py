"""The learned half of understanding: the shipped intent model loads, reads phrasing no
cue was written for (typos, Hinglish spellings, Devanagari), never brings back a
negated ask, leaves garbage unread, and is the fit of the corpus as it is now."""

from __future__ import annotations

import importlib.util

import pytest

from conversation import intent_model, train_intents
from conversation.understanding import (
    Intent,
    RulesRead,
    combine,
    read_by_rules,
    tokens,
    understand,
)


def test_the_shipped_model_loads_with_every_intent_and_none() -> None:
    model = intent_model.model()
    assert set(model.labels) == {i.value for i in Intent} | {intent_model.NONE}
    assert len(model.weights) > 1000
    assert intent_model.MODEL_PATH.stat().st_size < 500_000  # small enough to commit


def test_the_model_was_fitted_on_the_corpus_as_it_is_now() -> None:
    """Edit a corpus file without refitting and this fails: refit with
    `python -m conversation.train_intents`."""
    assert intent_model.model().trained_on == train_intents.checksum(train_intents.examples())


@pytest.mark.skipif(importlib.util.find_spec("sklearn") is None,
                    reason="refitting needs the train extra (scikit-learn)")
def test_refitting_reproduces_the_committed_file_byte_for_byte() -> None:
    text = train_intents.fitted(train_intents.examples())
    assert text == intent_model.MODEL_PATH.read_text(encoding="utf-8")


@pytest.mark.parametrize(("text", "intent"), [
    ("yaar mera saaman kidr h", Intent.TRACK),  # Hinglish, chat spelling
    ("order band krdo", Intent.CANCEL),
    ("can i swop it for a larger one", Intent.REPLACE),  # a typo no cue lists
    ("deliver it next tuesday pls", Intent.DELIVERY),
    ("send it bak", Intent.RETURN),
    ("कोई आदमी से बात हो सकती है", Intent.AGENT),  # Devanagari
    ("ऑर्डर वापस मंगवा लो", Intent.RETURN),
])
def test_the_model_reads_what_no_cue_was_written_for(text: str, intent: Intent) -> None:
    assert not read_by_rules(tokens(text)).found  # the rules alone do not read it
    assert understand(text).intent is intent


@pytest.mark.parametrize("text", [
    "I don't want to cancel", "i dont want to cancle", "cancel nahi karna hai",
    "cancle mat karo", "मुझे रद्द नहीं करना", "refund nahi chahiye",
])
def test_a_negated_ask_is_not_brought_back_by_the_model(text: str) -> None:
    assert understand(text).intent is None


def test_the_model_may_not_undo_a_withdrawn_cue_however_sure_it_is() -> None:
    rules = RulesRead(found=frozenset(), withdrawn=frozenset({Intent.CANCEL}))
    assert combine(rules, {"cancel": 0.97, "none": 0.03}) is None
    several = RulesRead(found=frozenset({Intent.CANCEL, Intent.TRACK}), withdrawn=frozenset())
    assert combine(several, {"refund": 0.99, "none": 0.01}) is Intent.CANCEL  # priority


def test_of_several_asks_the_rules_found_a_sure_model_picks_one() -> None:
    both = RulesRead(found=frozenset({Intent.RETURN, Intent.REFUND}), withdrawn=frozenset())
    assert combine(both, {"refund": 0.95, "return": 0.05}) is Intent.REFUND
    assert combine(both, {"refund": 0.8, "return": 0.2}) is Intent.RETURN  # unsure: priority


def test_an_unsure_model_leaves_the_message_unread() -> None:
    nothing = RulesRead(found=frozenset(), withdrawn=frozenset())
    assert combine(nothing, {"track": 0.25, "late": 0.2, "none": 0.2, "cancel": 0.35}) \
        is Intent.CANCEL
    assert combine(nothing, {"track": 0.25, "late": 0.25, "none": 0.25, "cancel": 0.25}) is None


@pytest.mark.parametrize("text", ["asdfgh qwerty", "zzzz", "", "🙂🙂", "ok thanks bye", "lol",
                                  "do you sell shoes", "ठीक है", "theek hai"])
def test_garbage_and_small_talk_are_not_understood(text: str) -> None:
    assert understand(text).intent is None


@pytest.mark.parametrize("text", ["100234", "#100234", "9876543210", "2", "?"])
def test_a_bare_number_is_an_answer_not_an_ask(text: str) -> None:
    assert understand(text).intent is None


def test_the_order_number_is_still_only_the_one_typed() -> None:
    got = understand("mera order 100234 kidr h")
    assert (got.intent, got.order) == (Intent.TRACK, "100234")
    assert understand("mera order kidr h, 2 din ho gaye").order is None


def test_a_guess_of_the_model_alone_is_marked_tentative() -> None:
    """A typed answer to a question (a cancel reason) must not turn into a new ask on a
    weak guess: the dialogue takes a tentative reading as the shopper's own words."""
    reason = understand("my brother already bought one for me")
    assert reason.intent is None or reason.tentative
    assert not understand("cancel my order 100234").tentative  # the rules read it
    assert not understand("order band krdo").tentative  # the model alone, but sure
