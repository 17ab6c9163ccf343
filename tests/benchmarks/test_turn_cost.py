"""`python -m app bench turns` runs every kind of dialogue through the app in
process and checks each reply; speed is not asserted here, the benchmark prints it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.cli import main

STEPS = {"track": 6, "cancel": 6, "return": 10, "handoff": 5}  # with the redelivery


def test_a_small_run_checks_every_reply_of_every_kind_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["turns", "--dialogues", "3", "--rounds", "2", "--concurrency", "2",
                   "--out", str(tmp_path)])

    assert status == 0
    results = json.loads(next(tmp_path.glob("turns-*.json")).read_text())
    assert set(results["kinds"]) == set(STEPS)
    for kind, figures in results["kinds"].items():
        assert figures["wrong"] == 0
        assert [r["turns"] for r in figures["rounds"]] == [3 * STEPS[kind]] * 2
        assert figures["cpu_us_per_turn"] > 0
    printed = capsys.readouterr().out
    assert all(kind in printed for kind in STEPS)
