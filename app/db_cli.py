"""`python -m app db upgrade|current|backup PATH`: the records database by hand.

Migrations also run at every start; `upgrade` is for a deployment that wants them as
a release step. `backup` copies SQLite consistently while the bot runs; PostgreSQL
is backed up with `pg_dump`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.settings import Settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = commands.add_parser("db", help="the records database: upgrade, current, backup")
    actions = db.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("upgrade", help="migrate the database to this release's version")
    actions.add_parser("current", help="print the database's version and this release's")
    backup = actions.add_parser("backup", help="copy the SQLite database consistently")
    backup.add_argument("path", type=Path, metavar="PATH", help="the new file to write")


async def run(settings: Settings, args: argparse.Namespace) -> int:
    from app.resources import open_database
    from records import migrate
    from records.backup import BackupError, backup_sqlite
    from records.db import DatabaseUnavailable

    try:
        async with open_database(settings) as db:
            if args.action == "upgrade":
                before, now = await migrate.upgrade(db)
                print(f"records database at version {now}"
                      + (f" (was {before or 'empty'})" if before != now else " (up to date)"))
            elif args.action == "current":
                print(f"database: {await migrate.current(db) or 'empty'}; "
                      f"this release: {migrate.head()}")
            else:
                if db.sqlite_path is None:
                    print("DATABASE_URL is PostgreSQL: back it up with pg_dump, e.g. "
                          "`pg_dump --format=custom --file=records.dump \"$DATABASE_URL\"`",
                          file=sys.stderr)
                    return EXIT_USAGE
                size = backup_sqlite(db.sqlite_path, args.path)
                print(f"backed up {db.sqlite_path} to {args.path} ({size:,} bytes)")
    except migrate.DatabaseTooNew as exc:
        print(exc, file=sys.stderr)
        return EXIT_FAILED
    except (DatabaseUnavailable, BackupError) as exc:
        print(f"{exc}; check DATABASE_URL", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
