"""The shop's records in SQL: tickets and everything on them, staff accounts, the
audit log. Redis keeps what is hot (sessions, locks, dedup, the outbox, rate limits);
what the support team must still have next year lives here.

`DATABASE_URL` unset: a SQLite file under `DATA_DIR` (WAL mode); `postgresql://…`:
PostgreSQL. SQLAlchemy 2 Core over aiosqlite or asyncpg; Alembic migrations
(`records/migrations`) run at start under a lock and by `python -m app db upgrade`.

This package knows tables and engines, nothing of the dialogue: the stores that
read and write records (`conversation.tickets`, `conversation.audit`,
`app.inbox.accounts`) sit on top of it.
"""
