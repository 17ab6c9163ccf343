"""Commands start without doing work they do not need: no password hash at import,
no benchmark package unless `bench` runs (it is not installed with the package)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def test_importing_the_accounts_module_hashes_nothing() -> None:
    code = ("import app.__main__, app.inbox.accounts as a; "
            "print(a._dummy_hash.cache_info().currsize, 'benchmarks' in __import__('sys').modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=Path(__file__).resolve().parents[2])
    assert done.stdout.split() == ["0", "False"]


def test_bench_without_the_benchmark_package_says_so(tmp_path: Path) -> None:
    """As an installed package runs it: outside the checkout, nothing on PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-m", "app", "bench", "--quick"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, check=False)
    if "No module named app" in done.stderr:
        pytest.skip("the package is not installed (pip install -e .), so nothing to run")
    assert done.returncode == 2, done.stderr
    assert "run it from a checkout" in done.stderr
