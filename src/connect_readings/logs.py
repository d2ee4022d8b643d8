"""Log lines in `text` or `json` (settings.log_format), each naming the request it belongs to.

A record may carry `fields` (a dict, via `extra=`): the request log's time, request id, route and so on.
JSON lines are one object per line; text lines are `time level logger: message key=value…`, values quoted
when they hold anything but plain characters, so a crafted path cannot forge a line.
"""

from __future__ import annotations

import asyncio
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


_second: tuple[int, str] = (-1, "")
"""The last whole second formatted and its text (one line in thousands asks anew): one tuple, read once, so a
thread never pairs one second with another's text."""


def _time(created: float) -> str:
    global _second
    whole, text = _second
    if whole != int(created):
        whole = int(created)
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        _second = (whole, text)
    return f"{text}.{int(created * 1000) % 1000:03d}Z"


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = dict(getattr(record, "fields", None) or {})
    if "request_id" not in fields:
        request_id = REQUEST_ID.get()
        if request_id is not None:
            fields["request_id"] = request_id
    return fields


def json_line(created: float, level: str, logger: str, message: str, fields: dict[str, Any]) -> str:
    """One JSON line (without its newline): time, level, logger, message, then the fields."""
    line: dict[str, Any] = {"time": _time(created), "level": level.lower(), "logger": logger, "message": message}
    line.update(fields)
    return orjson.dumps(line, default=str).decode()


def text_line(created: float, level: str, logger: str, message: str, fields: dict[str, Any],
              plain: frozenset[str] = frozenset()) -> str:
    """One text line: `time LEVEL logger: message key=value…`, a value quoted unless plain (no forged lines);
    the fields named in `plain` are known to be (the caller built or checked them).

    >>> text_line(0.0, "INFO", "connect_readings.access", "GET / 200", {"path": "/a b", "subject": None})
    '1970-01-01T00:00:00.000Z INFO connect_readings.access: GET / 200 path="/a b"'
    """
    parts = [_time(created), level, f"{logger}:", message]
    for key, value in fields.items():
        if value is None:
            continue
        text = str(value)
        parts.append(f"{key}={text if key in plain or _PLAIN(text) else orjson.dumps(text).decode()}")
    return " ".join(parts)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = _fields(record)
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        return json_line(record.created, record.levelname, record.name, record.getMessage(), fields)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = text_line(record.created, record.levelname, record.name, record.getMessage(), _fields(record))
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


ACCESS_HOLD_S = 0.2
"""How long the request log's lines may wait in memory before they are written (as nginx's `flush=`)."""
ACCESS_HOLD_BYTES = 64 * 1024
"""…or how many characters of them, whichever comes first."""


class LineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that holds the request log's lines and writes them together: a write and flush per
    request was ~9 % of the hot page (BENCHMARKS.md, request log). Any other line, a flush, the server's
    shutdown (`flush_access`) and the process's exit (`logging.shutdown`) write the held lines first, so the
    order is kept; a line waits at most ACCESS_HOLD_S, unless the process is killed."""

    def __init__(self, stream: Any = None) -> None:
        super().__init__(stream)
        self._held: list[str] = []
        self._held_size = 0
        self._timer: asyncio.TimerHandle | None = None

    def hold(self, text: str) -> None:
        """Keep `text` (whole lines) to be written within ACCESS_HOLD_S; on the event loop's thread."""
        with self.lock:  # type: ignore[union-attr]
            self._held.append(text)
            self._held_size += len(text)
            full = self._held_size >= ACCESS_HOLD_BYTES
        if full:
            self.flush()
        elif self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop to come back on: write now
                self.flush()
                return
            self._timer = loop.call_later(ACCESS_HOLD_S, self._timed_flush)

    def _timed_flush(self) -> None:
        self._timer = None
        self.flush()

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            if self._held:
                self.stream.write("".join(self._held))
                self._held.clear()
                self._held_size = 0
            super().flush()

    def emit(self, record: logging.LogRecord) -> None:
        with self.lock:  # type: ignore[union-attr]
            if self._held:
                self.flush()
            super().emit(record)


class AccessLines:
    """The request log written straight to the app's log handler, in its format: a `logging` record, its
    formatter and handler cost about 50 µs a request, a fifth of the hot page (BENCHMARKS.md, request log);
    the line built here is the same one (`json_line`/`text_line`), held by the handler to be written in bulk."""

    def __init__(self, handler: LineHandler, log_format: str) -> None:
        self.handler = handler
        self.json = log_format == "json"

    def __call__(self, message: str, fields: dict[str, Any], plain: frozenset[str] = frozenset()) -> None:
        now = time.time()
        self.handler.hold((json_line(now, "INFO", ACCESS_LOGGER, message, fields) if self.json else
                           text_line(now, "INFO", ACCESS_LOGGER, message, fields, plain)) + "\n")


ACCESS_LOGGER = "connect_readings.access"
direct_access: AccessLines | None = None
"""Set by `configure_logging` in a server process: the request log bypasses `logging` there (observe.py)."""


def flush_access() -> None:
    """Write the request lines held (`LineHandler`) now: at a server's shutdown, where uvicorn ends the process by
    raising its signal again, so no exit handler (`logging.shutdown`) runs."""
    if direct_access is not None:
        direct_access.handler.flush()


def formatter(log_format: str) -> logging.Formatter:
    if log_format not in LOG_FORMATS:
        raise ValueError(f"the log format must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
    return JsonFormatter() if log_format == "json" else TextFormatter()


def configure_logging(log_format: str) -> None:
    """The app's lines (and, in JSON, uvicorn's own in this process) to stderr in `log_format`, from INFO up.

    Called in each server process (`app_from_env`), after uvicorn has configured its loggers.
    """
    chosen = formatter(log_format)
    handler = LineHandler()
    handler.setFormatter(chosen)
    app_log = logging.getLogger("connect_readings")
    app_log.handlers[:] = [handler]
    app_log.setLevel(logging.INFO)
    app_log.propagate = False
    global direct_access
    direct_access = AccessLines(handler, log_format)
    if log_format == "json":  # so that a JSON log holds nothing else
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
            for existing in logging.getLogger(name).handlers:
                existing.setFormatter(chosen)


def configure_process_logging(log_format: str) -> None:
    """Every logger of a command's process (`connect-readings mqtt`) to stderr in `log_format`, from INFO up:
    the root logger's handler, unless it has one already (`logging.basicConfig`)."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(log_format))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
