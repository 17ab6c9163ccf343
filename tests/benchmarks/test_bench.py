"""The benchmark's command works end to end: a tiny run (a few shoppers, about
ten seconds) over the real servers finds every reply where its dialogue expects
it. Speed is not asserted here; the benchmark prints it."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.cli import main


def test_tiny_run_checks_every_reply_and_writes_json(tmp_path: Path) -> None:
    status = main(
        ["--mode", "tiny", "--channels", "web,whatsapp", "--no-pin", "--out", str(tmp_path)]
    )

    results = json.loads(next(tmp_path.glob("bench-tiny-*.json")).read_text())
    web = [p for p in results["phases"] if p["channel"] == "web"]
    assert [p["connections"] for p in web] == [1, 4]
    assert all(p["turns"] > 0 for p in web)
    assert results["summary"]["replies_wrong"] == 0, results["summary"]["replies"]
    assert status == 0
    assert {p["channel"] for p in results["phases"]} == {"bare", "bare+redis", "web", "whatsapp"}
    reference = [p for p in results["phases"] if p["channel"] == "bare+redis"]
    assert all(p["turns"] > 0 and p["redis"]["round_trips_per_turn"] >= 2 for p in reference)
    assert results["summary"]["channels"]["web"]["ratio_to_reference"] is not None
    assert all(row["verdict"] == "ok" for row in results["accounting"])
    assert results["memory"]["conversation_keys_without_ttl"] == 0
