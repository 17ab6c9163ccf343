"""`python -m app privacy export|erase --email E | --phone P | --conversation C`.

`export` prints everything held about the shopper (Redis and the records database)
as one JSON document; `erase` removes or anonymises it and prints what it did.
Both are logged in the records (`privacy_requests`: who, when, the identity's hash).
"""

from __future__ import annotations

import argparse
import json
import sys

from app.settings import Settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    privacy = commands.add_parser("privacy", help="export or erase one shopper's data")
    actions = privacy.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, words in (("export", "print everything held about the shopper as JSON"),
                        ("erase", "remove or anonymise everything held about the shopper")):
        action = actions.add_parser(name, help=words)
        who = action.add_mutually_exclusive_group(required=True)
        who.add_argument("--email", help="the shopper's email")
        who.add_argument("--phone", help="the shopper's phone, with its country code")
        who.add_argument("--conversation", help="a conversation id (e.g. web:…, telegram:…)")
        action.add_argument("--by", default="cli", help="who asks (kept in the request log)")


async def run(settings: Settings, args: argparse.Namespace) -> int:
    from app.resources import REDIS_DOWN, open_resources
    from conversation.privacy import Identity, Privacy

    kind = "email" if args.email else "phone" if args.phone else "conversation"
    try:
        who = Identity.of(kind, args.email or args.phone or args.conversation)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    try:
        async with open_resources(settings) as resources:
            privacy = Privacy(resources.db, resources.redis, resources.backend,
                              prefix=settings.redis_prefix, media=resources.media)
            if args.action == "export":
                result = await privacy.export(who, args.by)
            else:
                result = {"erased": await privacy.erase(who, args.by)}
    except REDIS_DOWN:  # includes StoreUnavailable
        print("Redis or the records database is unreachable; check REDIS_URL and "
              "DATABASE_URL.", file=sys.stderr)
        return EXIT_FAILED
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return EXIT_OK
