"""Staff on the desk: team, availability, how many open tickets each may hold, and
whether the account is disabled (table `staff_desk`, beside `staff`).

A disabled account cannot log in and its sessions end at once (its epoch is
bumped, as a password change does); its tickets stay where they are, for an admin
to reassign. An agent marks themself available for automatic assignment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql as postgresql_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from app.inbox.accounts import NoSuchAccount, normalise_email
from records.db import Database
from records.schema import staff, staff_desk, ticket_desk, tickets

MAX_TEAM_CHARS = 64
DEFAULT_MAX_OPEN = 10


@dataclass(frozen=True, slots=True)
class DeskProfile:
    team: str | None = None
    available: bool = False
    max_open: int = DEFAULT_MAX_OPEN
    disabled: bool = False


def clean_team(team: str | None) -> str | None:
    name = " ".join((team or "").split())
    if not name.isprintable():
        raise ValueError("a team name cannot hold control characters")
    if len(name) > MAX_TEAM_CHARS:
        raise ValueError(f"a team name is at most {MAX_TEAM_CHARS} characters")
    return name or None


class StaffDesk:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def all(self) -> dict[str, DeskProfile]:
        async with self._db.connect() as conn:
            rows = (await conn.execute(select(staff_desk))).all()
        return {row.email: _profile(row) for row in rows}

    async def get(self, email: str) -> DeskProfile:
        async with self._db.connect() as conn:
            row = (await conn.execute(select(staff_desk).where(
                staff_desk.c.email == normalise_email(email)))).first()
        return _profile(row) if row else DeskProfile()

    async def is_disabled(self, email: str) -> bool:
        return (await self.get(email)).disabled

    async def change(self, email: str, **values: Any) -> DeskProfile:
        """Set some of team, available, max_open, disabled. Disabling ends the
        account's sessions."""
        email = normalise_email(email)
        if "team" in values:
            values["team"] = clean_team(values["team"])
        if "max_open" in values and not 1 <= int(values["max_open"]) <= 500:
            raise ValueError("an agent holds 1 to 500 open tickets")
        dialect = postgresql_dialect if self._db.dialect == "postgresql" else sqlite_dialect
        async with self._db.begin() as conn:
            if (await conn.execute(select(staff.c.email).where(staff.c.email == email))
                    ).first() is None:
                raise NoSuchAccount(email)
            current = (await conn.execute(select(staff_desk).where(
                staff_desk.c.email == email))).first()
            base = _profile(current) if current else DeskProfile()
            row = {"email": email, "team": base.team, "available": base.available,
                   "max_open": base.max_open, "disabled": base.disabled, **values}
            await conn.execute(dialect.insert(staff_desk).values(row).on_conflict_do_update(
                index_elements=["email"], set_={k: v for k, v in row.items() if k != "email"}))
            if values.get("disabled") and not base.disabled:
                await conn.execute(update(staff).where(staff.c.email == email)
                                   .values(epoch=staff.c.epoch + 1))
        return await self.get(email)

    async def open_counts(self) -> dict[str, int]:
        """Open and pending tickets per assignee."""
        async with self._db.connect() as conn:
            rows = (await conn.execute(
                select(tickets.c.assignee, func.count())
                .where(tickets.c.status != "resolved", tickets.c.assignee.is_not(None))
                .group_by(tickets.c.assignee))).all()
        return {email: int(n) for email, n in rows}

    async def team_of_ticket(self, number: int) -> str | None:
        async with self._db.connect() as conn:
            return (await conn.execute(select(ticket_desk.c.team).where(
                ticket_desk.c.ticket == number))).scalar_one_or_none()


def _profile(row: Any) -> DeskProfile:
    return DeskProfile(row.team, bool(row.available), int(row.max_open), bool(row.disabled))
