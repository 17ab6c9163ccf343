"""OpenTelemetry tracing is optional: off (and not even imported) by default; with
the SDK installed, a chat turn is traced from the request through the turn to Redis."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from app_harness import auth, make_settings, running, start_session

from app.main import create_app

ROOT = Path(__file__).resolve().parents[2]


def test_tracing_is_off_by_default() -> None:
    """Building the app as `python -m app serve` does, with no OTEL_ setting."""
    code = ("import sys; from app.main import create_app; from app.settings import Settings; "
            "from conversation import observe; create_app(Settings(_env_file=None)); "
            "print(observe.turn_span is observe.no_span, 'app.tracing' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, check=True)
    # (redis-py itself may import OpenTelemetry when it is installed; ours stays out)
    assert done.stdout.strip() == "True False"


@pytest.fixture
def spans() -> Iterator[Any]:
    """Tracing installed with the SDK's in-memory exporter (no network)."""
    pytest.importorskip("opentelemetry.sdk", reason="the otel extra is not installed")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from app import tracing

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    try:
        yield exporter, provider
    finally:
        tracing.uninstall()
        provider.shutdown()


async def test_a_chat_turn_is_one_trace_from_request_to_redis(
    spans: Any, redis: aioredis.Redis, redis_url: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    exporter, provider = spans
    from app import tracing

    monkeypatch.setattr(tracing, "configure", lambda endpoint: provider)
    settings = make_settings(redis_url, tmp_path, otel_exporter_otlp_endpoint="http://collector")
    assert create_app(settings)  # the endpoint set: the middleware is part of the app
    async with running(settings) as client:
        token, _ = await start_session(client)
        exporter.clear()
        answer = await client.post("/api/chat/messages", json={"message_id": "m1",
                                                               "text": "menu"},
                                   headers=auth(token))
    assert answer.status_code == 200
    finished = exporter.get_finished_spans()
    turn = next(s for s in finished if s.name == "turn")
    assert turn.attributes["orderhelp.channel"] == "web"
    server = next(s for s in finished if s.parent is None)
    assert "POST" in server.name
    assert turn.context.trace_id == server.context.trace_id
    commands = [s for s in finished if s.parent is not None and s.parent.span_id
                == turn.context.span_id]
    assert commands, [s.name for s in finished]  # Redis calls made inside the turn
