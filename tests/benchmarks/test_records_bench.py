"""The records benchmark's command works end to end on SQLite: a few dozen tickets
seeded, every operation timed, and every search finds the tickets the seed put
there. Speed is not asserted here; the benchmark prints it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.records import main


def test_small_run_finds_what_it_seeded_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["--tickets", "50", "--samples", "3", "--data-dir", str(tmp_path / "data"),
                   "--out", str(tmp_path / "out")])

    assert status == 0
    results = json.loads(next((tmp_path / "out").glob("records-sqlite-50-*.json")).read_text())
    assert results["seeding"]["rows"]["tickets"] == 50
    assert results["seeding"]["rows"]["ticket_search"] > 50
    assert results["size_after_seeding"]["bytes"] > 0
    by_name = {op["name"]: op for op in results["operations"]}
    assert all(op["samples"] == 3 for op in by_name.values())
    assert by_name["search a ticket id"]["found_min"] == 1
    assert by_name["search an email"]["found_min"] >= 1
    assert by_name["search an order number"]["found_min"] >= 1
    assert by_name["get a ticket (with transcript)"]["found_min"] >= 6  # transcript lines
    printed = capsys.readouterr().out
    assert all(name in printed for name in by_name)
