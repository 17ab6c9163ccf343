"""Staff accounts: one Redis hash per account, a set of all of them.

Passwords are hashed with Argon2id (`argon2-cffi`, its recommended parameters),
off the event loop. A stored hash is never returned by anything here but
`_record`: `StaffMember` is what the rest of the app sees. Each account has an
`epoch`; changing the password or removing the account bumps or deletes it, which
ends every login session of that account at once.

Errors:
    AccountError
      ├── AccountExists
      ├── NoSuchAccount
      └── WeakPassword     shorter than MIN_PASSWORD_CHARS (or longer than the max)
"""

from __future__ import annotations

import functools
import logging
import re
from datetime import UTC, datetime
from enum import StrEnum

import anyio.to_thread
import redis.asyncio as aioredis
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel

log = logging.getLogger(__name__)

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 256
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the account does not exist, so a wrong email takes as long
    as a wrong password and login timing does not tell which accounts exist. Made on
    first use, not at import: hashing is slow by design, and every command imports this."""
    return _hasher.hash("not a real password")


class Role(StrEnum):
    AGENT = "agent"
    ADMIN = "admin"


class StaffMember(BaseModel):
    email: str
    role: Role
    created_at: datetime

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


class AccountError(Exception):
    pass


class AccountExists(AccountError):
    pass


class NoSuchAccount(AccountError):
    pass


class WeakPassword(AccountError):
    pass


def normalise_email(email: str) -> str:
    email = email.strip().casefold()
    if not EMAIL.match(email):
        raise AccountError("not an email address")
    return email


def _check_password(password: str) -> None:
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise WeakPassword(
            f"a password needs {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters")


async def hash_password(password: str) -> str:
    return await anyio.to_thread.run_sync(_hasher.hash, password)


async def _verify(hashed: str, password: str) -> bool:
    def check() -> bool:
        try:
            return _hasher.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return False

    return await anyio.to_thread.run_sync(check)


class StaffStore:
    def __init__(self, redis: aioredis.Redis, prefix: str = "ohb:") -> None:
        self._redis = redis
        self._prefix = prefix

    def _key(self, email: str) -> str:
        return f"{self._prefix}staff:{{{email}}}"

    @property
    def _all(self) -> str:
        return f"{self._prefix}staff:all"

    async def add(self, email: str, role: Role, password: str) -> StaffMember:
        email = normalise_email(email)
        _check_password(password)
        hashed = await hash_password(password)
        now = datetime.now(UTC)
        created = await self._redis.hsetnx(self._key(email), "email", email)
        if not created:
            raise AccountExists(email)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._key(email), mapping={
                "role": role.value, "password_hash": hashed, "epoch": 1,
                "created_at": now.isoformat()})
            pipe.sadd(self._all, email)
            await pipe.execute()
        log.info("staff account added (%s)", role.value)
        return StaffMember(email=email, role=role, created_at=now)

    async def _record(self, email: str) -> dict[str, str] | None:
        raw = await self._redis.hgetall(self._key(email))
        data = {_text(k): _text(v) for k, v in raw.items()}
        return data if "role" in data else None

    async def get(self, email: str) -> StaffMember | None:
        try:
            email = normalise_email(email)
        except AccountError:
            return None
        data = await self._record(email)
        return _member(data) if data else None

    async def epoch(self, email: str) -> int | None:
        raw = await self._redis.hget(self._key(email), "epoch")
        return int(raw) if raw is not None else None

    async def list(self) -> list[StaffMember]:
        emails = sorted(_text(e) for e in await self._redis.smembers(self._all))
        members = [await self.get(e) for e in emails]
        return [m for m in members if m is not None]

    async def any_admin(self) -> bool:
        return any(m.is_admin for m in await self.list())

    async def authenticate(self, email: str, password: str) -> StaffMember | None:
        """The account if the password is right; None otherwise (same time either way)."""
        try:
            email = normalise_email(email)
        except AccountError:
            email = ""
        data = await self._record(email) if email else None
        if data is None:
            await _verify(await anyio.to_thread.run_sync(_dummy_hash), password)
            return None
        if not await _verify(data["password_hash"], password):
            return None
        if _hasher.check_needs_rehash(data["password_hash"]):
            await self._redis.hset(self._key(email), "password_hash",
                                   await hash_password(password))
        return _member(data)

    async def set_password(self, email: str, password: str) -> None:
        """A new password; every session of the account ends."""
        email = normalise_email(email)
        _check_password(password)
        if await self._record(email) is None:
            raise NoSuchAccount(email)
        hashed = await hash_password(password)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._key(email), "password_hash", hashed)
            pipe.hincrby(self._key(email), "epoch", 1)
            await pipe.execute()
        log.info("staff password changed")

    async def set_role(self, email: str, role: Role) -> StaffMember:
        email = normalise_email(email)
        if await self._record(email) is None:
            raise NoSuchAccount(email)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._key(email), "role", role.value)
            pipe.hincrby(self._key(email), "epoch", 1)
            await pipe.execute()
        member = await self.get(email)
        assert member is not None
        return member

    async def remove(self, email: str) -> None:
        email = normalise_email(email)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._key(email))
            pipe.srem(self._all, email)
            deleted, _ = await pipe.execute()
        if not deleted:
            raise NoSuchAccount(email)
        log.info("staff account removed")

    async def bootstrap_admin(self, email: str | None, password: str | None) -> bool:
        """The first admin from settings, made once: only while no admin exists, so
        an admin removed later is not brought back by a restart."""
        if not email or not password:
            return False
        marker = f"{self._prefix}staff:bootstrapped"
        if await self._redis.exists(marker) or await self.any_admin():
            return False
        try:
            await self.add(email, Role.ADMIN, password)
        except AccountExists:
            await self.set_role(email, Role.ADMIN)
        except AccountError as exc:
            log.error("INBOX_ADMIN_EMAIL/INBOX_ADMIN_PASSWORD not used: %s", exc)
            return False
        await self._redis.set(marker, "1")
        log.info("inbox: the first admin was made from INBOX_ADMIN_EMAIL")
        return True


def _member(data: dict[str, str]) -> StaffMember:
    return StaffMember(email=data["email"], role=Role(data["role"]),
                       created_at=datetime.fromisoformat(data["created_at"]))


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
