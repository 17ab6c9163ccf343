"""Automatic assignment: each new ticket goes to the next available agent, round
robin, skipping anyone at their cap of open tickets (`staff_desk.max_open`) or
disabled. Off unless `DESK_AUTO_ASSIGN=true`; a ticket nobody can take stays
unassigned, in the queue. The round's position is kept in `records_meta`, so every
process continues the same round.

Two tickets opened at the same instant may both go to the same agent (the cap is
checked, not locked): the round moves on, and the cap is a target, not a wall.
"""

from __future__ import annotations

from sqlalchemy import Connection, func, select
from sqlalchemy.dialects import postgresql as postgresql_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from records.schema import records_meta, staff, staff_desk, tickets

ROUND_KEY = "desk:round_robin"


def next_agent(conn: Connection, team: str | None = None) -> str | None:
    """The agent the next ticket goes to (and the round moves past them), or None."""
    query = (select(staff_desk.c.email, staff_desk.c.max_open)
             .select_from(staff_desk.join(staff, staff.c.email == staff_desk.c.email))
             .where(staff_desk.c.available.is_(True), staff_desk.c.disabled.is_(False))
             .order_by(staff_desk.c.email))
    if team:
        query = query.where(staff_desk.c.team == team)
    candidates = conn.execute(query).all()
    if not candidates:
        return None
    counts: dict[str, int] = dict(conn.execute(
        select(tickets.c.assignee, func.count())
        .where(tickets.c.status != "resolved",
               tickets.c.assignee.in_([c.email for c in candidates]))
        .group_by(tickets.c.assignee)).all())
    free = [c.email for c in candidates if counts.get(c.email, 0) < c.max_open]
    if not free:
        return None
    last = conn.execute(select(records_meta.c.value).where(
        records_meta.c.key == ROUND_KEY)).scalar_one_or_none() or ""
    chosen: str = next((email for email in free if email > last), free[0])
    dialect = postgresql_dialect if conn.dialect.name == "postgresql" else sqlite_dialect
    conn.execute(dialect.insert(records_meta).values(key=ROUND_KEY, value=chosen)
                       .on_conflict_do_update(index_elements=["key"], set_={"value": chosen}))
    return chosen
