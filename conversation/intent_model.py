"""A small learned reader of intents: a linear model over the words of a message and
the letter groups inside them, shipped as fitted weights (`data/intent_model.json`).

Why a model beside the rules: cue phrases reach 100 % on the messages they were written
from and about 60 % on phrasing never seen; letter groups (2 to 4 letters of each word)
generalise over typos ("cancle"), Hinglish spellings ("pahucha", "pohncha") and
Devanagari inflections ("पहुंचेगा", "पहुंचा") without a cue per form.

Inference is plain Python, a sparse dot product and a softmax: no run-time dependency
and nothing downloaded. The weights are fitted off-line with scikit-learn by
`python -m conversation.train_intents` (the `train` extra), deterministically, from the
labelled corpora in `tests/conversation/corpus/`; the file records a checksum of the data
it was fitted on, so a corpus changed without refitting is caught by the tests.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .spelling import sound

MODEL_PATH = Path(__file__).resolve().parent / "data" / "intent_model.json"
CLAUSE_END = "|"
NONE = "none"
"""The label of a message that asks for none of the intents ("ok", "my name is Priya")."""
_GRAMS = (2, 4)
_PHRASE_GRAM = 5
"""Letter groups of this length also run across word boundaries within a clause ("y ba"
of "money back", "sa wa" of "paisa wapas"): short phrases however they are spelt."""


def features(tokens: list[str]) -> dict[str, float]:
    """Binary features, scaled to unit length: each word ("w="), its spelling key
    ("s=", Latin words), each pair of neighbouring words in a clause ("b="), the letter
    groups of each word with its edges marked ("c=<ca", "c=ncl") and those across a word
    boundary ("x=y bac"). Digits read as one word, so an order number is a number, not a
    particular one."""
    found: set[str] = set()
    previous: str | None = None
    clause: list[str] = []
    for raw in [*tokens, CLAUSE_END]:
        if raw == CLAUSE_END:
            found.update(_across(clause))
            previous = None
            clause = []
            continue
        token = "0" if raw.isdigit() else raw
        clause.append(token)
        found.add("w=" + token)
        if token.isascii():
            found.add("s=" + sound(token))
        if previous is not None:
            found.add(f"b={previous} {token}")
        previous = token
        padded = f"<{token}>"
        for n in range(_GRAMS[0], _GRAMS[1] + 1):
            found.update("c=" + padded[i:i + n] for i in range(len(padded) - n + 1))
    if not found:
        return {}
    value = 1 / math.sqrt(len(found))
    return dict.fromkeys(sorted(found), value)


def _across(words: list[str]) -> set[str]:
    text = " ".join(words)
    n = _PHRASE_GRAM
    return {"x=" + text[i:i + n] for i in range(len(text) - n + 1) if " " in text[i:i + n]}


@dataclass(frozen=True, slots=True)
class Model:
    labels: tuple[str, ...]
    bias: tuple[float, ...]
    weights: dict[str, tuple[float, ...]]
    trained_on: str
    """sha256 of the training messages (`data_checksum`) the weights were fitted on."""

    def probabilities(self, tokens: list[str]) -> dict[str, float]:
        """The model's probability of each label (intents and "none") for a message."""
        scores = list(self.bias)
        weights = self.weights
        for name, value in features(tokens).items():
            row = weights.get(name)
            if row is None:
                continue
            if len(row) == len(scores):  # the same sums, in the same order, as a list at once
                scores = [s + w * value for s, w in zip(scores, row, strict=True)]
            else:
                for k, w in enumerate(row):
                    scores[k] += w * value
        top = max(scores)
        exps = [math.exp(s - top) for s in scores]
        total = sum(exps)
        return {label: e / total for label, e in zip(self.labels, exps, strict=True)}


def data_checksum(lines: list[str]) -> str:
    """A checksum of training messages, in order: what the shipped weights were fitted on."""
    digest = hashlib.sha256()
    for line in lines:
        digest.update(line.encode("utf-8") + b"\n")
    return digest.hexdigest()


def from_json(text: str) -> Model:
    """The model from its file: weights stored as whole numbers of 1/scale, one per label
    for each feature (a feature whose weights are all small is left out of the file)."""
    raw = json.loads(text)
    scale = float(raw["scale"])
    weights = {name: tuple(w / scale for w in row) for name, row in raw["weights"].items()}
    return Model(tuple(raw["labels"]), tuple(b / scale for b in raw["bias"]), weights,
                 raw["trained_on"])


@lru_cache(maxsize=1)
def model() -> Model:
    """The shipped model, read once."""
    return from_json(MODEL_PATH.read_text(encoding="utf-8"))
