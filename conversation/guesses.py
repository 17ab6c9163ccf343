"""The per-order limit on second-factor guesses, counted before a guess is checked.

A guess takes a slot in one script that checks the limit and counts in the same
step, so a burst of simultaneous guesses (an attacker rotating conversations) gets
exactly the limit's worth of checks; the rest are refused unchecked. A right
answer gives its slot back (in its turn's save: `giving_back`), so the count is
wrong guesses (and guesses still being checked): an owner who proves the order from
several chats never locks it.

The key carries the order number as its hash tag (`Keys.verify_failures`): one
slot on Redis Cluster. The per-conversation limit lives in the session, which the
conversation's lock already serialises (`store.begin`).
"""

from __future__ import annotations

import redis.asyncio as aioredis

from .keys import Keys
from .scripts import ScriptCall, run_script
from .store import REDIS_DOWN, StoreUnavailable

MAX_WRONG_GUESSES = 5
WINDOW_S = 3600

_TAKE = """
if tonumber(redis.call('GET', KEYS[1]) or '0') >= tonumber(ARGV[1]) then return 0 end
local n = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[2], 'NX')
return n
"""

_GIVE_BACK = """
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then redis.call('DECR', KEYS[1]) end
return 0
"""


class OrderGuesses:
    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self._keys = keys
        self._redis = redis  # scripts go by SHA through `scripts.run_script`
        self._take = redis.register_script(_TAKE)
        self._give_back = redis.register_script(_GIVE_BACK)

    async def take(self, number: str) -> int | None:
        """This guess's place in the window (1 = the first), or None when the order
        is locked and the guess must not be checked."""
        try:
            place = int(await run_script(self._redis, ScriptCall(
                self._take, [self._keys.verify_failures(number)], [MAX_WRONG_GUESSES, WINDOW_S])))
        except REDIS_DOWN as exc:
            raise StoreUnavailable("Redis is unreachable") from exc
        return place or None

    def giving_back(self, number: str) -> ScriptCall:
        """A right answer was no wrong guess: its slot back, as a call for the turn's
        save (`SessionStore.finish`'s `calls`, or on its own when the turn failed
        before it), with no round trip of its own."""
        return ScriptCall(self._give_back, [self._keys.verify_failures(number)], [])
