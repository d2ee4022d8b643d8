"""The HTTP server: uvicorn with its httptools protocol on uvloop, plus the limits uvicorn lacks.

uvicorn + httptools + uvloop was the fastest server we measured for this app (README, Design: Server;
`python -m bench.servers`). What it lacks, `Protocol` adds:

- a deadline for the request head (`request_head_timeout_s`): from the connection's start, or from the first
  byte of the next request on a kept-alive connection. uvicorn has none, so a connection that sends nothing,
  or trickles a head, was held for ever. Between requests, the idle timeout is uvicorn's keep-alive timeout
  (`idle_timeout_s`);
- a bound on the head's size while it arrives (`max_header_bytes`): httptools has none, and buffers a header
  that never ends. (A head that arrives whole is measured by the app's RequestGuard, with the same limit.);
- the error body on the server's own refusals (408, 431, 400) instead of uvicorn's plain text, with the headers
  every response carries (Cache-Control: no-store, X-Content-Type-Options: nosniff, X-Request-ID: the request's
  own when it sent a valid one, else a new one), as the app's answers have them (api/edge.py, api/observe.py);
- a deadline for the request body (`request_body_timeout_s`) on the connection: a body still arriving then
  closes the connection after its answer (at once, if answered already: e.g. a 401 to an upload whose bytes keep
  trickling in, which uvicorn would read for ever). The app's RequestGuard answers 408 at the same deadline;
- an idle-write timeout (`idle_write_timeout_s`): a response the client takes no byte of for that long (the
  transport's buffer above its high-water mark, no progress) is cut off and the connection reset (a CSV
  download whose client stopped reading held its task and its buffers for ever).

The overload refusal (503) is the app's (RequestGuard counts requests in progress), because uvicorn's own
`limit_concurrency` also counts idle connections: 1,024 of them refused every request.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
import struct
import sys
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.supervisors import Multiprocess

from .api.edge import SECURITY_HEADERS
from .api.errors import error_body
from .api.observe import request_id
from .config import Settings

APP = "connect_readings.api.app:app_from_env"
log = logging.getLogger("connect_readings")


def serve(settings: Settings, app: str = APP) -> None:
    """Serve `app` (an import string of an app factory) until SIGTERM or SIGINT; exit status 0 after a
    graceful shutdown."""
    raise_open_files_limit()
    config = ServerConfig(settings, app)
    server = GracefulServer(config)
    if config.workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()  # workers run uvicorn's Server: exit status is ours
    else:
        server.run()
        if not server.started:
            sys.exit(STARTUP_FAILURE)


def raise_open_files_limit() -> int:
    """Soft limit → hard limit: every connection holds a descriptor, idle ones included (workers inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):  # e.g. an unlimited hard limit the kernel will not take as soft
            pass
    return soft


class ServerConfig(uvicorn.Config):
    """uvicorn's configuration, carrying our settings to the protocol (pickled to worker processes)."""

    def __init__(self, settings: Settings, app: str = APP) -> None:
        self.settings = settings
        super().__init__(
            app, factory=True, host=settings.host, port=settings.port, workers=settings.workers,
            http=Protocol, loop="uvloop", ws="none", lifespan="on", log_level="info", access_log=False, server_header=False,
            limit_concurrency=None,  # see the module docstring: RequestGuard limits requests, not connections
            proxy_headers=False,  # X-Forwarded-* count only from CONNECT_READINGS_TRUSTED_PROXIES (api/edge.py)
            timeout_keep_alive=settings.idle_timeout_s,  # type: ignore[arg-type]  # (a float works)
            timeout_graceful_shutdown=settings.shutdown_timeout_s,  # type: ignore[arg-type]
        )


class GracefulServer(uvicorn.Server):
    def handle_exit(self, sig: int, frame: Any) -> None:
        super().handle_exit(sig, frame)
        # uvicorn re-raises the signal after its graceful shutdown, so the process would end "killed by
        # SIGTERM" (status 143); a completed graceful shutdown is a clean exit.
        self._captured_signals.clear()


class Protocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline and a size bound on the request head (module docstring)."""

    def __init__(self, config: ServerConfig, server_state: Any, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.head_timeout_s = config.settings.request_head_timeout_s
        self.max_head_bytes = config.settings.max_header_bytes
        self.head_timer: asyncio.TimerHandle | None = None
        self.reading_head = True  # between the end of one request and the end of the next one's head
        self.head_bytes = 0  # bytes of reads that began and ended inside the same head
        self.heads = 0
        self.body_timeout_s = config.settings.request_body_timeout_s
        self.body_timer: asyncio.TimerHandle | None = None
        self.write_timeout_s = config.settings.idle_write_timeout_s
        self.write_timer: asyncio.TimerHandle | None = None
        self.write_buffered = 0  # the transport's buffer when the write timer was armed

    # -- the head deadline ---------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.head_timer = self.loop.call_later(self.head_timeout_s, self.head_timed_out)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.head_timer is None:  # a fresh connection's deadline already runs from its start
            self.head_timer = self.loop.call_later(self.head_timeout_s, self.head_timed_out)

    def on_headers_complete(self) -> None:
        self._cancel("head_timer")
        self.reading_head = False
        self.heads += 1
        super().on_headers_complete()
        if _announces_body(self.headers):
            self.body_timer = self.loop.call_later(self.body_timeout_s, self.body_timed_out)

    def _cancel(self, timer: str) -> None:
        """Cancel the timer in attribute `timer` (head, body or write), if it runs."""
        running = getattr(self, timer)
        if running is not None:
            running.cancel()
            setattr(self, timer, None)

    def on_message_complete(self) -> None:
        self._cancel("body_timer")
        super().on_message_complete()
        self.reading_head = True
        self.head_bytes = 0

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in ("head_timer", "body_timer", "write_timer"):
            self._cancel(timer)
        super().connection_lost(exc)

    def head_timed_out(self) -> None:
        self.head_timer = None
        if self.transport.is_closing():
            return
        if self.head_bytes:
            self.refuse(408, "RequestHeadTimeout",
                        f"the request line and headers did not arrive within {self.head_timeout_s:g} s")
        else:  # nothing asked, nothing to answer
            self.transport.close()

    # -- the body deadline ----------------------------------------------------------------------------------
    def body_timed_out(self) -> None:
        """The body is late: the app answers 408 (RequestGuard); whatever the answer, the connection ends with it."""
        self.body_timer = None
        if self.cycle is None or self.cycle.response_complete:
            self.transport.close()
        else:
            self.cycle.keep_alive = False

    # -- the idle-write timeout ------------------------------------------------------------------------------
    def pause_writing(self) -> None:
        super().pause_writing()
        if self.write_timer is None:
            self.write_buffered = self.transport.get_write_buffer_size()
            self.write_timer = self.loop.call_later(self.write_timeout_s, self.write_timed_out)

    def resume_writing(self) -> None:
        self._cancel("write_timer")
        super().resume_writing()

    def write_timed_out(self) -> None:
        self.write_timer = None
        buffered = self.transport.get_write_buffer_size()
        if buffered < self.write_buffered:  # the client took something: not idle
            self.write_buffered = buffered
            self.write_timer = self.loop.call_later(self.write_timeout_s, self.write_timed_out)
            return
        log.warning("cut off a response: its client took nothing for %g s", self.write_timeout_s)
        sock = self.transport.get_extra_info("socket")
        if sock is not None:  # a reset: the kernel drops what it still holds for this client, too
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        self.transport.abort()  # (uvicorn's flow control wakes the app's send; the app sees a disconnect)

    # -- the head size bound -------------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        heads, was_reading_head = self.heads, self.reading_head
        super().data_received(data)
        if self.heads != heads:  # a head ended in this read; what may follow it is at most one read
            self.head_bytes = 0
        elif was_reading_head and self.reading_head and not self.transport.is_closing():
            self.head_bytes += len(data)
            if self.head_bytes > self.max_head_bytes:
                self.refuse(431, "RequestHeaderFieldsTooLarge",
                            f"the request line and headers exceed {self.max_head_bytes} bytes")

    # -- refusals with the error body ----------------------------------------------------------------------
    def send_400_response(self, msg: str) -> None:
        """httptools could not parse the request (uvicorn answers it in plain text)."""
        self.refuse(400, "BadRequest", "the request is not valid HTTP/1.1")

    def refuse(self, status: int, code: str, message: str) -> None:
        """Answer with the error body and close; not while an earlier response is still being written."""
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None
        self.reading_head = False
        if self.cycle is None or self.cycle.response_complete:
            body = error_body(code, message)
            head = [STATUS_LINE[status]]
            headers = [*self.server_state.default_headers, *SECURITY_HEADERS,
                       (b"x-request-id", request_id(self.headers or ()).encode("ascii"))]
            head += [name + b": " + value + b"\r\n" for name, value in headers]
            head.append(b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
                        % len(body))
            self.transport.write(b"".join(head) + body)
        self.transport.close()


def _announces_body(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"content-length":
            return value.strip().lstrip(b"0") != b""
        if name == b"transfer-encoding":
            return True
    return False
