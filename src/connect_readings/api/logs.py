"""Log lines in `text` or `json` (settings.log_format), each naming the request it belongs to.

A record may carry `fields` (a dict, via `extra=`): the request log's time, request id, route and so on.
JSON lines are one object per line; text lines are `time level logger: message key=value…`, values quoted
when they hold anything but plain characters, so a crafted path cannot forge a line.
"""

from __future__ import annotations

import logging
import re
import time
from contextvars import ContextVar
from typing import Any

import orjson

LOG_FORMATS = ("text", "json")
REQUEST_ID: ContextVar[str | None] = ContextVar("connect_readings_request_id", default=None)
"""The request being answered on this task (set by the Observe middleware), for every line it logs."""

_PLAIN = re.compile(r"[\w.:/{}@+=-]*").fullmatch


def _time(record: logging.LogRecord) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = dict(getattr(record, "fields", None) or {})
    if "request_id" not in fields:
        request_id = REQUEST_ID.get()
        if request_id is not None:
            fields["request_id"] = request_id
    return fields


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {"time": _time(record), "level": record.levelname.lower(), "logger": record.name,
                                "message": record.getMessage()}
        line.update(_fields(record))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        parts = [_time(record), record.levelname, f"{record.name}:", record.getMessage()]
        for key, value in _fields(record).items():
            if value is None:
                continue
            text = str(value)
            parts.append(f"{key}={text if _PLAIN(text) else orjson.dumps(text).decode()}")
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def formatter(log_format: str) -> logging.Formatter:
    if log_format not in LOG_FORMATS:
        raise ValueError(f"the log format must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
    return JsonFormatter() if log_format == "json" else TextFormatter()


def configure_logging(log_format: str) -> None:
    """The app's lines (and, in JSON, uvicorn's own in this process) to stderr in `log_format`, from INFO up.

    Called in each server process (`app_from_env`), after uvicorn has configured its loggers.
    """
    chosen = formatter(log_format)
    handler = logging.StreamHandler()
    handler.setFormatter(chosen)
    app_log = logging.getLogger("connect_readings")
    app_log.handlers[:] = [handler]
    app_log.setLevel(logging.INFO)
    app_log.propagate = False
    if log_format == "json":  # so that a JSON log holds nothing else
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
            for existing in logging.getLogger(name).handlers:
                existing.setFormatter(chosen)
