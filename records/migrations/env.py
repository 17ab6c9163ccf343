"""Alembic's environment: migrations always run on a connection the app hands over
(`records.migrate`), inside its transaction and lock; there is no alembic.ini."""

from __future__ import annotations

from alembic import context

from records.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `python -m app db upgrade`")
context.configure(connection=connection, target_metadata=metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
