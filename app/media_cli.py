"""`python -m app media sweep|erase CONVERSATION`: shoppers' files by hand.

`sweep` applies `MEDIA_RETENTION_DAYS` now (the web process also does it hourly):
files older than that lose their bytes (the ticket keeps a line saying a file was
there), and uploads that never reached a ticket go after a day. `erase` removes
every file of one conversation, bytes and records (the privacy erase's hook,
`MediaStore.erase_conversation`).
"""

from __future__ import annotations

import argparse
import sys

from app.settings import Settings

EXIT_OK, EXIT_FAILED = 0, 1


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    media = commands.add_parser("media", help="shoppers' files: sweep (retention), erase")
    actions = media.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("sweep", help="remove files past MEDIA_RETENTION_DAYS now")
    erase = actions.add_parser("erase", help="remove every file of one conversation")
    erase.add_argument("conversation", metavar="CONVERSATION",
                       help="e.g. whatsapp:+919812345678, telegram:7001, web:...")


async def run(settings: Settings, args: argparse.Namespace) -> int:
    from app.media import media_store
    from app.resources import open_database
    from media.blobs import BlobsUnavailable
    from records import migrate
    from records.db import DatabaseUnavailable

    try:
        async with open_database(settings) as db:
            await migrate.upgrade(db)
            media = media_store(settings, db)
            if args.action == "sweep":
                removed = await media.remove_expired()
                print(f"{removed} files removed (retention {settings.media_retention_days} days)")
            else:
                removed = await media.erase_conversation(args.conversation)
                print(f"{removed} files of that conversation removed")
    except (DatabaseUnavailable, BlobsUnavailable) as exc:
        print(f"{exc}; check DATABASE_URL and MEDIA_STORE_URL", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
