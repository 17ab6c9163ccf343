"""Every word the shopper reads comes from a message catalogue: one JSON file per
language under `templates/messages/`, keys to `str.format` patterns.

The dialogue never holds words, only `Text(key, params)`. A parameter may itself be
a `Text` (a status name inside a sentence), a date (written the way that language
writes dates), or a plain value. A key missing in one language falls back to English,
and a key missing everywhere is a loud error: tests check that cannot happen.

Plural forms are written in the pattern itself: `{left} {left:plural:try|tries}`
renders "1 try" and "2 tries" (the one-form and the other-form, chosen by each
language's rule: Hindi takes the one-form for 0 and 1), so no text says "(s)".
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

DEFAULT_LANGUAGE = "en"

PLURAL_SPEC = "plural:"

_ONE: dict[str, frozenset[int]] = {"hi": frozenset({0, 1})}
"""The counts that take the one-form, per language (CLDR); otherwise just 1."""


def plural(language: str, count: int, forms: str) -> str:
    """The form of `one|other` that `count` takes in `language`."""
    one, _, other = forms.partition("|")
    return one if count in _ONE.get(language, frozenset({1})) else (other or one)


@dataclass(frozen=True, slots=True)
class Text:
    key: str
    params: Mapping[str, Any] = field(default_factory=dict)


def T(key: str, **params: Any) -> Text:
    return Text(key, params)


class MissingText(KeyError):
    """A key that no catalogue has: a bug in the dialogue or the catalogue."""


class _Formatter(string.Formatter):
    def __init__(self, catalogue: Catalogue, language: str) -> None:
        self._catalogue = catalogue
        self._language = language

    def format_field(self, value: Any, format_spec: str) -> str:
        if format_spec.startswith(PLURAL_SPEC):
            return plural(self._language, int(value), format_spec.removeprefix(PLURAL_SPEC))
        if isinstance(value, Text):
            return self._catalogue.text(self._language, value.key, **value.params)
        if isinstance(value, datetime):
            value = value.date()
        if isinstance(value, date):
            months = self._catalogue.text(self._language, "format.months").split()
            return f"{value.day} {months[value.month - 1]} {value.year}"
        return str(super().format_field(value, format_spec))


class Catalogue:
    def __init__(self, messages: Mapping[str, Mapping[str, str]]) -> None:
        if DEFAULT_LANGUAGE not in messages:
            raise ValueError("the catalogue needs an English file (en.json)")
        self._messages = messages

    @classmethod
    def load(cls, directory: Path) -> Catalogue:
        messages: dict[str, dict[str, str]] = {}
        for path in sorted(directory.glob("*.json")):
            with path.open(encoding="utf-8") as f:
                messages[path.stem] = json.load(f)
        return cls(messages)

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self._messages)

    def keys(self, language: str) -> frozenset[str]:
        return frozenset(self._messages.get(language, {}))

    def patterns(self, language: str) -> Mapping[str, str]:
        return self._messages.get(language, {})

    def language_for(self, hint: str | None) -> str:
        """Best language for a hint such as 'hi-IN' or 'en_GB'."""
        if hint:
            base = hint.replace("_", "-").split("-")[0].lower()
            if base in self._messages:
                return base
        return DEFAULT_LANGUAGE

    def text(self, language: str, key: str, **params: Any) -> str:
        pattern = self._messages.get(language, {}).get(key)
        if pattern is None:
            pattern = self._messages[DEFAULT_LANGUAGE].get(key)
        if pattern is None:
            raise MissingText(key)
        if "{" not in pattern and "}" not in pattern:
            return pattern  # most texts: nothing to fill in
        if PLURAL_SPEC in pattern:
            return _Formatter(self, language).format(pattern, **params)
        # `str.format` in C, with our own values turned into words first: the same
        # output as `_Formatter` (whose pure-Python parsing was a tenth of a web
        # chat turn's CPU in a py-spy profile)
        return pattern.format_map({name: self._word(language, value)
                                   for name, value in params.items()})

    def _word(self, language: str, value: Any) -> Any:
        """What `_Formatter.format_field` makes of `value`, for those it changes."""
        if isinstance(value, Text):
            return self.text(language, value.key, **value.params)
        if isinstance(value, datetime):
            value = value.date()
        if isinstance(value, date):
            months = self.text(language, "format.months").split()
            return f"{value.day} {months[value.month - 1]} {value.year}"
        return value

    def render(self, language: str, text: Text) -> str:
        return self.text(language, text.key, **text.params)
