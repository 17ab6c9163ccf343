"""Staff accounts: one row per account in the records database (`staff`).

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
from typing import Any

import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel
from sqlalchemy import Row, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from conversation.staff import name_from_email
from records.db import Database
from records.meta import read_meta, write_meta
from records.schema import staff

log = logging.getLogger(__name__)

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 256
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")

_hasher = PasswordHasher()
MAX_NAME_CHARS = 60


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the account does not exist, so a wrong email takes as
    long as a wrong password and login timing does not tell which accounts exist.
    Made on first use, not at import: every command would pay for it."""
    return _hasher.hash("not a real password")


class Role(StrEnum):
    AGENT = "agent"
    ADMIN = "admin"


class StaffMember(BaseModel):
    email: str
    role: Role
    created_at: datetime
    display_name: str | None = None  # shown to shoppers with replies; None: from the email

    @property
    def name(self) -> str:
        """What shoppers see: the display name, or one made from the email."""
        return self.display_name or name_from_email(self.email)

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
    """Staff accounts in the records database (`staff` table)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, email: str, role: Role, password: str,
                  display_name: str | None = None) -> StaffMember:
        email = normalise_email(email)
        _check_password(password)
        hashed = await hash_password(password)
        now = datetime.now(UTC)
        name = _clean_name(display_name)
        try:
            async with self._db.begin() as conn:
                await conn.execute(insert(staff).values(
                    email=email, role=role.value, password_hash=hashed, epoch=1,
                    created_at=now, display_name=name))
        except IntegrityError as exc:
            raise AccountExists(email) from exc
        log.info("staff account added (%s)", role.value)
        return StaffMember(email=email, role=role, created_at=now, display_name=name)

    async def _record(self, email: str) -> Row[Any] | None:
        async with self._db.connect() as conn:
            return (await conn.execute(select(staff).where(staff.c.email == email))).first()

    async def get(self, email: str) -> StaffMember | None:
        try:
            email = normalise_email(email)
        except AccountError:
            return None
        row = await self._record(email)
        return _member(row) if row else None

    async def epoch(self, email: str) -> int | None:
        async with self._db.connect() as conn:
            value = (await conn.execute(
                select(staff.c.epoch).where(staff.c.email == email))).scalar_one_or_none()
        return int(value) if value is not None else None

    async def list(self) -> list[StaffMember]:
        async with self._db.connect() as conn:
            rows = (await conn.execute(select(staff).order_by(staff.c.email))).all()
        return [_member(row) for row in rows]

    async def any_admin(self) -> bool:
        async with self._db.connect() as conn:
            found = (await conn.execute(
                select(staff.c.email).where(staff.c.role == Role.ADMIN.value).limit(1))).first()
        return found is not None

    async def authenticate(self, email: str, password: str) -> StaffMember | None:
        """The account if the password is right; None otherwise (same time either way)."""
        try:
            email = normalise_email(email)
        except AccountError:
            email = ""
        row = await self._record(email) if email else None
        if row is None:
            await _verify(await anyio.to_thread.run_sync(_dummy_hash), password)
            return None
        if not await _verify(row.password_hash, password):
            return None
        if _hasher.check_needs_rehash(row.password_hash):
            rehashed = await hash_password(password)
            async with self._db.begin() as conn:
                await conn.execute(update(staff).where(staff.c.email == email)
                                   .values(password_hash=rehashed))
        return _member(row)

    async def set_password(self, email: str, password: str) -> None:
        """A new password; every session of the account ends."""
        email = normalise_email(email)
        _check_password(password)
        hashed = await hash_password(password)
        await self._change(email, password_hash=hashed, epoch=staff.c.epoch + 1)
        log.info("staff password changed")

    async def set_role(self, email: str, role: Role) -> StaffMember:
        email = normalise_email(email)
        await self._change(email, role=role.value, epoch=staff.c.epoch + 1)
        member = await self.get(email)
        assert member is not None
        return member

    async def set_display_name(self, email: str, name: str | None) -> StaffMember:
        """The name shoppers see on this agent's replies (none: from the email)."""
        email = normalise_email(email)
        await self._change(email, display_name=_clean_name(name))
        member = await self.get(email)
        assert member is not None
        return member

    async def _change(self, email: str, **values: Any) -> None:
        async with self._db.begin() as conn:
            done = await conn.execute(update(staff).where(staff.c.email == email)
                                      .values(**values))
        if done.rowcount != 1:
            raise NoSuchAccount(email)

    async def remove(self, email: str) -> None:
        email = normalise_email(email)
        async with self._db.begin() as conn:
            done = await conn.execute(delete(staff).where(staff.c.email == email))
        if done.rowcount != 1:
            raise NoSuchAccount(email)
        log.info("staff account removed")

    async def bootstrap_admin(self, email: str | None, password: str | None) -> bool:
        """The first admin from settings, made once: only while no admin exists, so
        an admin removed later is not brought back by a restart."""
        if not email or not password:
            return False
        if await read_meta(self._db, BOOTSTRAPPED) or await self.any_admin():
            return False
        try:
            await self.add(email, Role.ADMIN, password)
        except AccountExists:
            await self.set_role(email, Role.ADMIN)
        except AccountError as exc:
            log.error("INBOX_ADMIN_EMAIL/INBOX_ADMIN_PASSWORD not used: %s", exc)
            return False
        await write_meta(self._db, BOOTSTRAPPED, "1")
        log.info("inbox: the first admin was made from INBOX_ADMIN_EMAIL")
        return True


BOOTSTRAPPED = "staff_bootstrapped"


def _clean_name(name: str | None) -> str | None:
    name = " ".join((name or "").split())[:MAX_NAME_CHARS]
    return name or None


def _member(row: Row[Any]) -> StaffMember:
    return StaffMember(email=row.email, role=Role(row.role), created_at=row.created_at,
                       display_name=row.display_name)
