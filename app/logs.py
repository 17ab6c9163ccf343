"""Logging that keeps secrets and personal data out: the access log drops the
client's address and any token in a query string (the web chat's event stream
takes its token there, because EventSource cannot send headers)."""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

from uvicorn.config import LOGGING_CONFIG

_SECRET_QUERY = re.compile(r"(?i)((?:^|[?&])(?:token|signature|secret)=)[^&\s]*")


def redact_path(path: str) -> str:
    return _SECRET_QUERY.sub(r"\1[redacted]", path)


class AccessLogFilter(logging.Filter):
    """Rewrites uvicorn's access record: `(client, method, path, version, status)`."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:
            _client, method, path, version, status = args
            record.args = ("-", method, redact_path(str(path)), version, status)
        return True


def uvicorn_log_config(log_format: str = "text") -> dict[str, Any]:
    """uvicorn's own logging, with the private access log, the request id on each
    record, and JSON lines when `LOG_FORMAT=json`."""
    from app.observe import ContextFilter, JsonFormatter

    config = copy.deepcopy(LOGGING_CONFIG)
    filters = config.setdefault("filters", {})
    filters["private"] = {"()": AccessLogFilter}
    filters["context"] = {"()": ContextFilter}
    config["handlers"]["access"]["filters"] = ["private", "context"]
    config["handlers"]["default"]["filters"] = ["context"]
    if log_format == "json":
        for name in ("default", "access"):
            config["formatters"][name] = {"()": JsonFormatter}
    return config
