"""The access log keeps neither the shopper's address nor a token."""

from __future__ import annotations

import logging

from app.logs import AccessLogFilter, redact_path, uvicorn_log_config


def test_tokens_in_query_strings_are_redacted() -> None:
    assert redact_path("/api/chat/events?token=abc.def&after=1-0") == (
        "/api/chat/events?token=[redacted]&after=1-0")
    assert redact_path("/x?after=1&Token=zz") == "/x?after=1&Token=[redacted]"
    assert redact_path("/api/chat/messages") == "/api/chat/messages"


def test_access_record_loses_client_address_and_token() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("203.0.113.7:5555", "GET", "/api/chat/events?token=secret123", "1.1", 200), None,
    )
    assert AccessLogFilter().filter(record)
    line = record.getMessage()
    assert "203.0.113.7" not in line and "secret123" not in line
    assert "GET /api/chat/events?token=[redacted]" in line


def test_uvicorn_config_uses_the_filter() -> None:
    config = uvicorn_log_config()
    assert config["handlers"]["access"]["filters"][0] == "private"
    assert config["filters"]["private"]["()"] is AccessLogFilter
