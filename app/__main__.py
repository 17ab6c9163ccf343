"""The command line: `python -m app [serve|chat|worker|schema|tickets|staff|db|media|telegram
|audit|privacy|bench]`, and `reference-shop` (the order API contract over the demo orders).

Exit codes: 0 done, 1 the command failed (Redis unreachable, ticket not found),
2 bad usage or bad settings.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from app.db_cli import add_parser as add_db_parser
from app.inbox.cli import add_parser as add_staff_parser
from app.media_cli import add_parser as add_media_parser
from app.privacy_cli import add_parser as add_privacy_parser
from app.settings import Settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m app", description="The order-help bot. Without a command: serve."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the web server (the default)")
    serve.add_argument("--host", help="interface to listen on (default: HOST, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default: PORT, 8000)")
    serve.add_argument("--workers", type=int, metavar="N",
                       help="web processes sharing the port (uvicorn's workers; "
                       "default: WEB_CONCURRENCY, 1)")

    chat = commands.add_parser("chat", help="chat with the bot in this terminal")
    which = chat.add_mutually_exclusive_group()
    which.add_argument("--conversation", metavar="ID", help="continue or start conversation ID")
    which.add_argument("--resume", action="store_true", help="continue the last terminal chat")
    chat.add_argument(
        "--phone",
        metavar="+91...",
        help="LOCAL TESTING AID: act as if the channel proved this phone number",
    )
    chat.add_argument("--locale", help="language of the replies, e.g. en or hi")

    commands.add_parser("worker", help="run the background sender (outbox)")
    health = commands.add_parser("healthcheck", help="exit 0 when this container's web "
                                 "server (or, with --worker, its worker) is alive")
    health.add_argument("--worker", action="store_true", help="check the worker's heartbeat")
    commands.add_parser("schema", help="print the JSON Schema of the orders file")
    commands.add_parser("bench", help="run the benchmark (benchmarks/; `bench --help`)")

    shop = commands.add_parser(
        "reference-shop", help="serve the demo orders behind the order API contract"
    )
    shop.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    shop.add_argument("--port", type=int, default=8100, help="port (default 8100)")

    tg = commands.add_parser("telegram", help="connect the bot to Telegram")
    tg_commands = tg.add_subparsers(dest="action", metavar="ACTION", required=True)
    tg_commands.add_parser("set-webhook", help="register PUBLIC_URL/webhooks/telegram")
    tg_commands.add_parser("webhook-info", help="show Telegram's view of the webhook")

    tickets = commands.add_parser("tickets", help="list, show or resolve hand-off tickets")
    ticket_commands = tickets.add_subparsers(dest="action", metavar="ACTION", required=True)
    ticket_commands.add_parser("list", help="open tickets")
    show = ticket_commands.add_parser("show", help="one ticket with its transcript")
    show.add_argument("ticket_id")
    resolve = ticket_commands.add_parser("resolve", help="close a ticket; the bot takes over")
    resolve.add_argument("ticket_id")
    add_staff_parser(commands)
    add_db_parser(commands)
    add_media_parser(commands)

    audit = commands.add_parser("audit", help="an order's audit log: who did what, and when")
    audit.add_argument("number", metavar="ORDER", help="the order number")
    audit.add_argument("--json", action="store_true", help="print one JSON array")
    add_privacy_parser(commands)
    return parser


def _configure_logging(settings: Settings) -> None:
    from app.observe import configure_logging

    configure_logging(settings.log_level, settings.log_format)


def _serve(settings: Settings, host: str | None, port: int | None,
           workers: int | None = None) -> int:
    """With `workers` > 1, uvicorn starts that many processes on one socket and
    restarts one that dies; each has its own lifespan (Redis client, set-up)."""
    import uvicorn

    from app.logs import uvicorn_log_config

    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers or settings.web_concurrency,
        log_level=settings.log_level.lower(),
        proxy_headers=True,  # X-Forwarded-For/-Proto, from TRUSTED_PROXIES only
        forwarded_allow_ips=[str(network) for network in settings.trusted_proxies],
        lifespan="on",
        # Event streams stay open; without a limit a restart would wait for them.
        timeout_graceful_shutdown=5,
        log_config=uvicorn_log_config(settings.log_format),
    )
    return EXIT_OK


async def _tickets(settings: Settings, action: str, ticket_id: str | None) -> int:
    from app.resources import REDIS_DOWN, open_resources
    from conversation.tickets import TicketNotFound

    async with open_resources(settings) as resources:
        try:
            if action == "list":
                open_tickets = await resources.tickets.list_open()
                for listed in open_tickets:
                    print(
                        f"{listed.id}  {listed.kind:<8} {listed.channel:<9} "
                        f"order {listed.order or '-':<10} {listed.created_at:%Y-%m-%d %H:%M}"
                    )
                print(f"{len(open_tickets)} open ticket(s)", file=sys.stderr)
                return EXIT_OK
            assert ticket_id is not None
            if action == "show":
                ticket = await resources.tickets.get(ticket_id)
                if ticket is None:
                    print(f"no ticket {ticket_id!r}", file=sys.stderr)
                    return EXIT_FAILED
                print(ticket.model_dump_json(indent=2))
                return EXIT_OK
            await resources.engine.resolve_ticket(ticket_id)
            print(f"ticket {ticket_id} resolved; the bot answers that conversation again")
            return EXIT_OK
        except TicketNotFound:
            print(f"no ticket {ticket_id!r}", file=sys.stderr)
            return EXIT_FAILED
        except REDIS_DOWN:
            print("Redis or the records database is unreachable; check REDIS_URL and "
                  "DATABASE_URL.", file=sys.stderr)
            return EXIT_FAILED


async def _audit(settings: Settings, number: str, *, as_json: bool) -> int:
    """An order's audit log, oldest first: when (UTC), who, the action, what happened."""
    from app.resources import REDIS_DOWN, open_records
    from conversation.audit import AuditLog

    number = number.strip().lstrip("#")
    try:
        async with open_records(settings) as db:
            entries = await AuditLog(db).read(number)
    except REDIS_DOWN:
        print("Redis or the records database is unreachable; check REDIS_URL and "
              "DATABASE_URL.", file=sys.stderr)
        return EXIT_FAILED
    if as_json:
        print(json.dumps([e.as_dict() for e in entries], indent=2, ensure_ascii=False))
        return EXIT_OK
    for e in entries:  # a shop's reference is printed as text, never as terminal controls
        line = f"{e.at:%Y-%m-%d %H:%M:%S}  {e.who:<30} {e.action:<17} {e.words}"
        print("".join(c if c.isprintable() else "?" for c in line))
    print(f"{len(entries)} audit entr{'y' if len(entries) == 1 else 'ies'} for order {number}",
          file=sys.stderr)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:  # a development tool with its own options
        try:  # imported only here: it is not in the wheel, and nothing else needs it
            from benchmarks.cli import main as bench
        except ModuleNotFoundError as exc:
            if exc.name != "benchmarks" and not (exc.name or "").startswith("benchmarks."):
                raise
            print("The benchmark is a development tool: run it from a checkout of the "
                  "repository (benchmarks/ is not installed with the package).", file=sys.stderr)
            return EXIT_USAGE
        return bench(argv[1:])
    args = _parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"Bad settings (environment or .env):\n{exc}", file=sys.stderr)
        return EXIT_USAGE
    command = args.command or "serve"
    if command == "healthcheck":
        from app.healthcheck import check

        problem = check(settings.port, worker=args.worker)
        if problem:
            print(problem, file=sys.stderr)
        return EXIT_FAILED if problem else EXIT_OK
    _configure_logging(settings)

    if command == "serve":
        return _serve(settings, getattr(args, "host", None), getattr(args, "port", None),
                      getattr(args, "workers", None))
    if command == "schema":
        from orders.schema import order_file_schema

        print(json.dumps(order_file_schema(), indent=2, ensure_ascii=False))
        return EXIT_OK
    if command == "worker":
        from app.worker import main as worker_main

        worker_main(settings)
        return EXIT_OK
    if command == "chat":
        from app.terminal_chat import ChatError, run

        logging.getLogger().setLevel(max(logging.WARNING, logging.getLogger().level))
        try:
            return asyncio.run(
                run(
                    settings,
                    conversation=args.conversation,
                    resume=args.resume,
                    phone=args.phone,
                    locale=args.locale,
                )
            )
        except ChatError as exc:
            print(exc, file=sys.stderr)
            return EXIT_USAGE
        except KeyboardInterrupt:
            return EXIT_OK
    if command == "staff":
        from app.inbox.cli import run as staff_command

        return asyncio.run(staff_command(settings, args))
    if command == "reference-shop":
        from app.reference_shop import serve as reference_shop

        return asyncio.run(reference_shop(settings, args.host, args.port))
    if command == "db":
        from app.db_cli import run as db_command

        return asyncio.run(db_command(settings, args))
    if command == "privacy":
        from app.privacy_cli import run as privacy_command

        return asyncio.run(privacy_command(settings, args))
    if command == "media":
        from app.media_cli import run as media_command

        return asyncio.run(media_command(settings, args))
    if command == "audit":
        return asyncio.run(_audit(settings, args.number, as_json=args.json))
    if command == "telegram":
        from app.telegram_cli import run as telegram_command

        return asyncio.run(telegram_command(settings, args.action))
    return asyncio.run(_tickets(settings, args.action, getattr(args, "ticket_id", None)))


if __name__ == "__main__":
    sys.exit(main())
