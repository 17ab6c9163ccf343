"""`python -m app staff ...`: staff accounts from the command line.

    staff add EMAIL [--role agent|admin]   asks for the password twice (no echo), or
                                          reads it from $INBOX_STAFF_PASSWORD (scripts)
    staff list                            email, role, created; never a hash
    staff password EMAIL                  a new password (ends that account's sessions)
    staff remove EMAIL
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from app.inbox.accounts import AccountError, AccountExists, NoSuchAccount, Role, StaffStore
from app.settings import Settings

PASSWORD_ENV = "INBOX_STAFF_PASSWORD"  # noqa: S105 (a variable's name)
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    staff = commands.add_parser("staff", help="add, list or remove support inbox staff")
    actions = staff.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help=f"add an account (password asked, or ${PASSWORD_ENV})")
    add.add_argument("email")
    add.add_argument("--role", choices=[r.value for r in Role], default=Role.AGENT.value)
    actions.add_parser("list", help="the accounts and their roles")
    password = actions.add_parser("password", help="set a new password for an account")
    password.add_argument("email")
    remove = actions.add_parser("remove", help="remove an account (its sessions end)")
    remove.add_argument("email")


def _password() -> str | None:
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env:
        return from_env
    if not sys.stdin.isatty():
        print(f"no terminal to ask for the password: set ${PASSWORD_ENV}", file=sys.stderr)
        return None
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        print("the two passwords differ", file=sys.stderr)
        return None
    return first


async def run(settings: Settings, args: argparse.Namespace) -> int:
    from app.resources import REDIS_DOWN, open_records

    password = _password() if args.action in ("add", "password") else None
    if args.action in ("add", "password") and password is None:
        return EXIT_USAGE
    try:
        async with open_records(settings) as db:
            store = StaffStore(db)
            if args.action == "list":
                members = await store.list()
                for member in members:
                    print(f"{member.email:<40} {member.role.value:<6} "
                          f"since {member.created_at:%Y-%m-%d}")
                print(f"{len(members)} account(s)", file=sys.stderr)
            elif args.action == "add":
                assert password is not None
                member = await store.add(args.email, Role(args.role), password)
                print(f"added {member.email} ({member.role.value})")
            elif args.action == "password":
                assert password is not None
                await store.set_password(args.email, password)
                print(f"password changed for {args.email.strip().casefold()}")
            else:
                await store.remove(args.email)
                print(f"removed {args.email.strip().casefold()}")
    except AccountExists:
        print("that account exists already", file=sys.stderr)
        return EXIT_FAILED
    except NoSuchAccount:
        print("no such account", file=sys.stderr)
        return EXIT_FAILED
    except AccountError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    except REDIS_DOWN:
        print("Redis or the records database is unreachable; check REDIS_URL and "
              "DATABASE_URL.", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
