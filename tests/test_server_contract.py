"""The parts of uvicorn that `server.Protocol` and `server.GracefulServer` build on, which are not its public
API (pyproject.toml pins uvicorn to the minor version these were checked on; raising the pin starts here).

Each assertion names what server.py does with the part; the behaviour itself (deadlines, refusals with the
error body, idle write cut-off, graceful exit) is tested on a real server in tests/test_server.py and
tests/test_slow_clients.py. Why a subclass of uvicorn's httptools protocol rather than another server:
BENCHMARKS.md, "HTTP server and soak" (`python -m bench.servers`): ours ran within noise of stock uvicorn
httptools; granian was faster but cannot set the head deadline apart from the idle keep-alive timeout and
answers its own refusals without a body.
"""

from __future__ import annotations

import asyncio
import inspect

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

from connect_readings.server import GracefulServer, Protocol

HOOKS = ("connection_made", "connection_lost", "data_received", "on_message_begin", "on_headers_complete",
         "on_message_complete", "pause_writing", "resume_writing")


def test_the_pinned_minor_version() -> None:
    assert uvicorn.__version__.startswith("0.55."), "re-check this file before raising the pin in pyproject.toml"


def test_the_protocol_hooks_we_extend_exist_with_their_signatures() -> None:
    for name in HOOKS:
        ours, theirs = getattr(Protocol, name), getattr(HttpToolsProtocol, name)
        assert ours is not theirs, f"server.Protocol overrides {name}"
        assert list(inspect.signature(ours).parameters) == list(inspect.signature(theirs).parameters), name
    assert list(inspect.signature(HttpToolsProtocol.__init__).parameters) == [
        "self", "config", "server_state", "app_state", "_loop"]


def test_the_state_we_read_is_set_by_uvicorn() -> None:
    """`transport`, `loop`, `headers`, `server_state.default_headers` and `cycle` (None between requests; a
    cycle's `response_complete` and `keep_alive`), read by Protocol's timers and refusals."""
    loop = asyncio.new_event_loop()
    try:
        config = uvicorn.Config(app=_app, loop="asyncio", http="httptools", lifespan="off")
        config.load()
        state = ServerState()
        protocol = HttpToolsProtocol(config, state, {}, loop)
        assert protocol.loop is loop and protocol.cycle is None and protocol.server_state is state
        assert isinstance(state.default_headers, list)
        assert hasattr(protocol, "headers") and hasattr(protocol, "transport")
        assert {"response_complete", "keep_alive"} <= set(inspect.signature(RequestResponseCycle.__init__).parameters) \
            | _attributes_set_in(RequestResponseCycle.__init__)
    finally:
        loop.close()


def test_status_lines_and_the_server_internals() -> None:
    """STATUS_LINE: the head of Protocol's own refusals; `_captured_signals`: cleared by GracefulServer so the
    process exits 0 after a graceful shutdown; STARTUP_FAILURE: the exit status `serve` reports."""
    for status in (400, 408, 413, 431, 503):
        assert STATUS_LINE[status].startswith(f"HTTP/1.1 {status} ".encode())
    server = GracefulServer(uvicorn.Config(app=_app))
    assert isinstance(server._captured_signals, list)
    assert "handle_exit" in vars(uvicorn.Server) and isinstance(STARTUP_FAILURE, int)


async def _app(scope: object, receive: object, send: object) -> None:
    """An ASGI app that is never called: the tests only build uvicorn's objects."""


def _attributes_set_in(function: object) -> set[str]:
    source = inspect.getsource(function)  # type: ignore[arg-type]
    return {line.split("self.", 1)[1].split("=", 1)[0].strip().split(":")[0]
            for line in source.splitlines() if "self." in line and "=" in line}
