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
    web = [p for p in results["phases"] if p["channel"] == "web" and p["kind"] == "closed"]
    assert [p["connections"] for p in web] == [1, 4]
    assert all(p["turns"] > 0 for p in web)
    assert results["summary"]["replies_wrong"] == 0, results["summary"]["replies"]
    assert status == 0
    assert {p["channel"] for p in results["phases"]} == {"bare", "bare+redis", "web", "whatsapp"}
    reference = [p for p in results["phases"] if p["channel"] == "bare+redis"]
    assert all(p["turns"] > 0 and p["redis"]["round_trips_per_turn"] >= 2 for p in reference)
    assert results["summary"]["channels"]["web"]["ratio_to_reference"] is not None
    # ordinary turns only, and the open loop at two rates, for both channels
    for channel in ("web", "whatsapp"):
        assert results["summary"]["channels"][channel]["ordinary_ratio_to_reference"] is not None
        open_loop = results["summary"]["open_loop"][channel]
        assert open_loop["p99_ms"] is not None and open_loop["fixed"]["rate_per_s"] == 20
        assert open_loop["skipped_arrivals"] == 0
    assert all(row["verdict"] == "ok" for row in results["accounting"])
    assert results["memory"]["conversation_keys_without_ttl"] == 0


def test_tiny_telegram_run_measures_delivery_and_the_ptb_peer(tmp_path: Path) -> None:
    status = main(["--mode", "tiny", "--channels", "telegram", "--no-pin", "--out", str(tmp_path)])

    results = json.loads(next(tmp_path.glob("bench-tiny-*.json")).read_text())
    summary = results["summary"]
    assert summary["replies_wrong"] == 0, summary["replies"]
    assert status == 0
    # python-telegram-bot's own Application answered every update, in order
    assert summary["peer"]["checks"]["ok"] > 0
    assert summary["peer"]["checks"]["lost"] == summary["peer"]["checks"]["out_of_order"] == 0
    assert summary["telegram_ratio_to_peer"] is not None
    assert summary["open_loop"]["telegram"]["lag_p99_ms"] is not None
    assert summary["channels"]["telegram"]["ordinary_ratio_to_reference"] is not None
