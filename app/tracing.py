"""Optional OpenTelemetry tracing: on only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set
and the `otel` extra is installed (`pip install 'orderhelp[otel]'`).

Nothing here is imported unless tracing is asked for, so the bot never needs
OpenTelemetry. When on, a trace follows a message: the HTTP request (the webhook,
the chat API: OpenTelemetry's ASGI middleware) -> the dialogue's turn (a `turn`
span, through `conversation.observe.turn_span`) -> each Redis command (the redis
instrumentation) -> the shop's API and the providers' APIs (the httpx
instrumentation; python-telegram-bot and the WhatsApp sender use httpx). The
exporter reads the standard `OTEL_*` variables itself (endpoint, headers,
`OTEL_SERVICE_NAME`, default `orderhelp`).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from starlette.middleware import Middleware

from conversation import observe

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

log = logging.getLogger(__name__)

SERVICE = "orderhelp"


def configure(endpoint: str | None) -> TracerProvider | None:
    """The tracer provider exporting to `endpoint`, installed; None when tracing is
    off (no endpoint) or cannot be (the extra is missing: one warning says so)."""
    if not endpoint:
        return None
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning("OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is not installed; "
                    "tracing is off (pip install 'orderhelp[otel]')")
        return None
    os.environ.setdefault("OTEL_SERVICE_NAME", SERVICE)
    provider = TracerProvider(resource=Resource.create())
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    install(provider)
    log.info("tracing: on, exporting to the OTLP endpoint")
    return provider


def install(provider: TracerProvider) -> None:
    """Trace through `provider`: the turn span, Redis and httpx calls (tests pass a
    provider with an in-memory exporter)."""
    from opentelemetry import trace

    tracer = trace.get_tracer("orderhelp", tracer_provider=provider)

    @contextlib.contextmanager
    def turn_span(channel: str) -> Iterator[object]:
        attributes = {"orderhelp.channel": channel}
        with tracer.start_as_current_span("turn", attributes=attributes) as span:
            yield span

    observe.turn_span = turn_span
    with contextlib.suppress(ImportError):
        from opentelemetry.instrumentation.redis import RedisInstrumentor

        RedisInstrumentor().instrument(tracer_provider=provider)
    with contextlib.suppress(ImportError):
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        HTTPXClientInstrumentor().instrument(tracer_provider=provider)


def uninstall() -> None:
    """Back to no tracing (tests)."""
    observe.turn_span = observe.no_span
    with contextlib.suppress(ImportError):
        from opentelemetry.instrumentation.redis import RedisInstrumentor

        RedisInstrumentor().uninstrument()
    with contextlib.suppress(ImportError):
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        HTTPXClientInstrumentor().uninstrument()


def middleware(provider: TracerProvider | None) -> list[Middleware]:
    """A server span for each request (the ASGI instrumentation), when tracing is on."""
    if provider is None:
        return []
    try:
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
    except ImportError:
        return []
    return [Middleware(OpenTelemetryMiddleware, tracer_provider=provider)]
