"""A consistent copy of the SQLite records, taken while the bot runs.

SQLite's online backup API copies page by page under a read transaction, so the copy
is the database as it was at one moment, WAL included, whatever is written
meanwhile. PostgreSQL has its own tools (`pg_dump`); this does not replace them.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


class BackupError(Exception):
    pass


def backup_sqlite(source: Path, target: Path) -> int:
    """Copy `source` to `target` (which must not exist); returns its size in bytes."""
    if not source.exists():
        raise BackupError(f"no database at {source}")
    if target.exists():
        raise BackupError(f"{target} exists already; choose a new file")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as src, \
            sqlite3.connect(partial) as dst:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    src.close()
    dst.close()
    check = sqlite3.connect(partial)
    try:
        if check.execute("PRAGMA integrity_check").fetchone() != ("ok",):
            raise BackupError("the copy failed its integrity check")
    finally:
        check.close()
    partial.rename(target)
    return target.stat().st_size
