"""Tokens that must be unique, not secret: a lock's holder, an audit entry's
once-token. A random half drawn once per process (again in a forked child) and a
counter, so no two processes share one and a turn costs no draw from the OS
(`secrets.token_hex` per lock was a `getrandom` call and a hex conversion on
every turn). Never for anything a guess must not find: session ids, passwords,
CSRF tokens stay `secrets`."""

from __future__ import annotations

import itertools
import os
import secrets


class UniqueTokens:
    """`next_token()`: 16 random hex digits of this process, then the count in hex
    (`digits`: at least that many, zero-padded: a fixed length)."""

    def __init__(self, digits: int = 0) -> None:
        self._digits = digits
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._prefix = secrets.token_hex(8)
        self._counter = itertools.count(1)

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._counter):0{self._digits}x}"


next_token = UniqueTokens()
