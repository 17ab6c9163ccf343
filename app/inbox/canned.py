"""Canned replies: `templates/canned/NN-name.txt`, first line the title, the rest
the text. Read on every use, so a merchant's edit shows without a restart."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from templates import TEMPLATES_DIR

CANNED_DIR = TEMPLATES_DIR / "canned"
MAX_CANNED = 50


@dataclass(frozen=True, slots=True)
class Canned:
    title: str
    text: str


def load_canned(directory: Path = CANNED_DIR) -> list[Canned]:
    replies = []
    for path in sorted(directory.glob("*.txt"))[:MAX_CANNED]:
        if path.name.upper() == "README.TXT":
            continue
        title, _, text = path.read_text(encoding="utf-8").strip().partition("\n")
        if title.strip() and text.strip():
            replies.append(Canned(title.strip(), text.strip()))
    return replies
