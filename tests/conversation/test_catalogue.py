"""Every text the dialogue can say exists in every language, with the same
placeholders, so no shopper ever meets a missing or half-filled message."""

from __future__ import annotations

import ast
import string
from datetime import date
from pathlib import Path

import pytest

import conversation
from conversation import turn, views
from conversation.catalogue import Catalogue, MissingText, T
from orders.eligibility import Reason
from orders.models import (
    Fulfilment,
    OrderStatus,
    PackageStatus,
    PaymentMethod,
    PaymentStatus,
    RefundStatus,
    ReturnReason,
    ReturnStatus,
)
from orders.policy import CHANGES, DEFAULT_CANCEL_REASONS, Action

SOURCES = sorted(Path(conversation.__file__).parent.glob("*.py"))

# every f-string key family the dialogue uses, and the values it can take
FAMILIES: dict[str, set[str]] = {
    "order_status.": {m.value for m in OrderStatus},
    "package_status.": {m.value for m in PackageStatus} | {"not_packed"},
    "payment_method.": {m.value for m in PaymentMethod},
    "payment_status.": {m.value for m in PaymentStatus},
    "return_status.": {m.value for m in ReturnStatus},
    "refund_status.": {m.value for m in RefundStatus},
    "return_reason.": {m.value for m in ReturnReason},
    "reason.": {m.value for m in Reason},
    "action.": {m.value for m in Action},
    "menu.": set(turn.MENU_ACTIONS) | {"return", "replace", "delivery", "refund", "cancel"},
    "confirm.": {m.value for m in CHANGES},
    "fulfilment.": {m.value for m in Fulfilment},
    "window_starts.": {"delivery", "order"},
    "language.name.": {"en", "hi"},
    "replacement_limit.": {"item", "order", "none"},
    "cancel_reason.": set(DEFAULT_CANCEL_REASONS),
    "exchange.kind.": {"size", "colour", "variant"},
}


def _keys_in_source() -> tuple[set[str], set[str]]:
    """Literal keys and f-string prefixes passed to T(...) anywhere in conversation/."""
    literals: set[str] = set()
    prefixes: set[str] = set()
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id == "T" and node.args):
                continue
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                literals.add(arg.value)
            elif isinstance(arg, ast.JoinedStr):
                head = arg.values[0]
                if isinstance(head, ast.Constant):
                    prefixes.add(str(head.value))
                else:  # the one computed family: verdict facts turned into words
                    assert ast.unparse(arg) == "f'{FACT_WORDS[name]}.{value}'", path
                    prefixes |= {f"{family}." for family in views.FACT_WORDS.values()}
    return literals, prefixes


def _all_keys() -> set[str]:
    literals, prefixes = _keys_in_source()
    unknown = prefixes - set(FAMILIES)
    assert not unknown, f"new key families {unknown}: add them to FAMILIES"
    keys = set(literals) | {"format.months"}
    for prefix in prefixes:
        keys |= {prefix + value for value in FAMILIES[prefix]}
    return keys


def test_the_scan_finds_the_dialogue_keys() -> None:
    literals, prefixes = _keys_in_source()
    assert {"welcome", "menu.prompt", "handoff.opened", "done.return"} <= literals
    assert {"reason.", "package_status."} <= prefixes


@pytest.mark.parametrize("language", ["en", "hi"])
def test_every_key_the_dialogue_can_emit_exists(catalogue: Catalogue, language: str) -> None:
    assert language in catalogue.languages
    missing = sorted(_all_keys() - catalogue.keys(language))
    assert not missing, f"{language} lacks {missing}"


def test_translations_have_the_same_placeholders(catalogue: Catalogue) -> None:
    formatter = string.Formatter()
    en_raw = catalogue.patterns("en")
    for language in catalogue.languages:
        raw = catalogue.patterns(language)
        for key, pattern in raw.items():
            assert key in en_raw, f"{language}: {key} is not in English"
            fields = {f for _, f, _, _ in formatter.parse(pattern) if f}
            expected = {f for _, f, _, _ in formatter.parse(en_raw[key]) if f}
            assert fields == expected, f"{language}:{key} has {fields}, English {expected}"


def test_no_key_is_unused(catalogue: Catalogue) -> None:
    unused = catalogue.keys("en") - _all_keys()
    assert not unused, f"keys no code can emit: {sorted(unused)}"


def test_months_and_dates_are_written_per_language(catalogue: Catalogue) -> None:
    assert len(catalogue.text("en", "format.months").split()) == 12
    assert len(catalogue.text("hi", "format.months").split()) == 12
    assert catalogue.text("en", "snapshot.eta", date=date(2026, 3, 9)) == "  Expected by 9 Mar 2026"


def test_nested_texts_are_rendered_in_the_same_language(catalogue: Catalogue) -> None:
    text = catalogue.render("hi", T("snapshot.refund", amount="₹10",
                                    status=T("refund_status.completed")))
    assert catalogue.text("hi", "refund_status.completed") in text


def test_unknown_key_is_loud(catalogue: Catalogue) -> None:
    with pytest.raises(MissingText):
        catalogue.text("en", "no.such.key")


def test_language_hints(catalogue: Catalogue) -> None:
    assert catalogue.language_for("hi-IN") == "hi"
    assert catalogue.language_for("en_GB") == "en"
    assert catalogue.language_for("xx") == "en"
    assert catalogue.language_for(None) == "en"


def test_every_text_reads_the_same_through_the_fast_path() -> None:
    """`Catalogue.text` fills most texts with `str.format`; `_Formatter` (plural
    forms, and before that every text) must give exactly the same words."""
    from conversation.catalogue import _Formatter
    from templates import MESSAGES_DIR

    catalogue = Catalogue.load(MESSAGES_DIR)
    samples = [7, "Ünïcode & <b>", date(2026, 12, 3), T("menu.prompt")]
    for language in catalogue.languages:
        for key, pattern in catalogue.patterns(language).items():
            names = {name.split(".")[0].split("[")[0]
                     for _, name, _, _ in string.Formatter().parse(pattern) if name}
            for sample in samples:
                params = dict.fromkeys(names, sample)
                try:
                    slow = _Formatter(catalogue, language).format(pattern, **params)
                except (ValueError, TypeError, AttributeError):
                    continue  # a plural count given a word, a spec given a date
                assert catalogue.text(language, key, **params) == slow, (language, key)
