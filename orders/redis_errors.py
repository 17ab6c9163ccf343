"""What redis-py raises when Redis cannot answer right now, as one tuple.

Every module that talks to Redis catches this tuple (and only this) to say "Redis
is unavailable" (the web answers 503, the worker waits and tries again). Besides a
dropped connection or a timeout, on Redis Cluster that includes the errors of a
failover or a resharding that outlasted the client's own retries: CLUSTERDOWN, a
slot with no master yet, TRYAGAIN and MOVED/ASK redirections that did not settle
("TTL exhausted"). A CROSSSLOT error is not here: that is a bug in a key's name,
and stays a 500.

It lives in `orders/` because that is the lowest layer that talks to Redis (the
demo shop); `conversation` and `app` import it from here.
"""

from __future__ import annotations

from redis.exceptions import ClusterDownError, ClusterError, SlotNotCoveredError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

REDIS_UNAVAILABLE: tuple[type[Exception], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    ClusterDownError,
    ClusterError,
    SlotNotCoveredError,
    TryAgainError,
)
