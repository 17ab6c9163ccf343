"""The locked dependencies stay in step with pyproject.toml, offline.

`uv.lock` is the lock (Heroku's Python buildpack installs from it, with
`.python-version`); `deploy/requirements.txt` is its export for pip (the
Dockerfile, and platforms without uv). After changing dependencies, one command
brings both back in step (it needs the package index):

    uv lock && uv export --frozen --no-emit-project --format requirements-txt \
        -o deploy/requirements.txt
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]
RELOCK = ("uv lock && uv export --frozen --no-emit-project --format requirements-txt "
          "-o deploy/requirements.txt")


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _lock() -> dict[str, object]:
    return tomllib.loads((ROOT / "uv.lock").read_text())


def test_the_lock_records_what_pyproject_asks_for() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    root = next(p for p in _lock()["package"] if p["name"] == project["name"])  # type: ignore[attr-defined]
    locked = {(_name(r["name"]), str(SpecifierSet(r.get("specifier", ""))))
              for r in root["metadata"]["requires-dist"]}  # as the lock was made for
    wanted = [*project["dependencies"], *(r for extra in project["optional-dependencies"].values()
                                          for r in extra)]
    asked = {(_name(r), str(Requirement(r).specifier)) for r in wanted}
    assert locked == asked, f"uv.lock is out of date: run `{RELOCK}`"


def test_requirements_txt_pins_what_the_lock_resolved() -> None:
    versions = {p["name"]: p["version"] for p in _lock()["package"]}  # type: ignore[attr-defined]
    text = (ROOT / "deploy" / "requirements.txt").read_text()
    pins = dict(re.findall(r"^([A-Za-z0-9._-]+)==([^\s\\;]+)", text, flags=re.MULTILINE))
    assert pins, "deploy/requirements.txt pins nothing"
    assert {n: versions.get(n) for n in pins} == pins, f"run `{RELOCK}`"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert {_name(r) for r in project["dependencies"]} <= set(pins)
    assert "--hash=sha256:" in text  # pip then installs exactly the locked files


def _uv() -> str:
    found = shutil.which("uv") or shutil.which("uv", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip("uv is not installed (it comes with the test extra)")
    return found


def test_uv_finds_the_lock_current_and_exports_the_same_file() -> None:
    uv = _uv()
    check = subprocess.run([uv, "lock", "--check", "--offline"], cwd=ROOT, capture_output=True,
                           text=True, check=False)
    assert check.returncode == 0, f"{check.stderr}\nrun `{RELOCK}`"
    export = subprocess.run(
        [uv, "export", "--frozen", "--offline", "--no-emit-project", "--format",
         "requirements-txt", "--no-header"],
        cwd=ROOT, capture_output=True, text=True, check=True)
    committed = [line for line in (ROOT / "deploy" / "requirements.txt").read_text().splitlines()
                 if not line.startswith("#")]
    assert export.stdout.splitlines() == committed, f"run `{RELOCK}`"


def test_python_version_is_one_the_project_supports() -> None:
    version = (ROOT / ".python-version").read_text().strip()
    assert re.fullmatch(r"3\.\d+", version)  # major.minor: the platform keeps patches current
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert tuple(map(int, version.split("."))) >= tuple(
        map(int, requires.removeprefix(">=").split(".")))
