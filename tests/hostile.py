"""Hostile clients for the server tests and the soak: connections that send nothing, and connections that
trickle a request head that never ends (slowloris). Every connection the server closes is opened again, so
the attack holds its numbers for as long as it runs. Only 127.0.0.1.
"""

from __future__ import annotations

import selectors
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

SLOW_HEAD = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "  # then one more "a" per tick, forever


@dataclass
class AttackStats:
    opened: int = 0
    closed_by_server: int = 0
    connect_errors: int = 0
    answers: Counter[int] = field(default_factory=Counter)
    """Status codes the server answered on attacking connections (e.g. 408 to a trickled head)."""
    bodies: list[bytes] = field(default_factory=list)
    """The first few answers, whole."""
    held_min: int = 1 << 30
    """The fewest connections open at any tick after the attack was up."""


class Attack:
    """`idle` connections that send nothing and `slow` ones that send one byte every `tick_s`, held open
    (reopened when the server closes them) by one thread until `stop()`."""

    def __init__(self, port: int, idle: int, slow: int, tick_s: float = 0.5, host: str = "127.0.0.1") -> None:
        self.address = (host, port)
        self.idle, self.slow, self.tick_s = idle, slow, tick_s
        self.stats = AttackStats()
        self._stop = threading.Event()
        self._up = threading.Event()
        self._thread = threading.Thread(target=self._run, name="attack", daemon=True)
        self._selector = selectors.DefaultSelector()
        self._slow: dict[socket.socket, int] = {}  # socket → bytes of the head sent
        self._received: dict[socket.socket, bytes] = {}

    def start(self, timeout: float = 60.0) -> "Attack":
        self._thread.start()
        if not self._up.wait(timeout):
            raise TimeoutError("the attack could not open its connections")
        return self

    def stop(self) -> AttackStats:
        self._stop.set()
        self._thread.join(timeout=30)
        return self.stats

    def __enter__(self) -> "Attack":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def open_connections(self) -> int:
        return len(self._selector.get_map())

    def _open(self, slow: bool) -> None:
        try:
            sock = socket.create_connection(self.address, timeout=5)
        except OSError:
            self.stats.connect_errors += 1
            time.sleep(0.01)
            return
        sock.setblocking(False)
        self._selector.register(sock, selectors.EVENT_READ, slow)
        self._received[sock] = b""
        if slow:
            self._slow[sock] = 0
        self.stats.opened += 1

    def _close(self, sock: socket.socket) -> None:
        self._selector.unregister(sock)
        self._slow.pop(sock, None)
        answer = self._received.pop(sock, b"")
        if answer.startswith(b"HTTP/1.1 "):
            self.stats.answers[int(answer.split(b" ", 2)[1])] += 1
            if len(self.stats.bodies) < 5:
                self.stats.bodies.append(answer)
        sock.close()

    def _run(self) -> None:
        try:
            for i in range(self.idle + self.slow):
                self._open(slow=i >= self.idle)
            self._up.set()
            next_tick = time.monotonic()
            while not self._stop.is_set():
                for key, _ in self._selector.select(timeout=0.05):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    try:
                        data = sock.recv(65536)
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError:
                        data = b""
                    if data:
                        self._received[sock] += data
                        continue
                    self.stats.closed_by_server += 1
                    slow = bool(key.data)
                    self._close(sock)
                    self._open(slow)
                if time.monotonic() >= next_tick:
                    next_tick += self.tick_s
                    self.stats.held_min = min(self.stats.held_min, self.open_connections)
                    self._trickle()
        finally:
            for key in list(self._selector.get_map().values()):
                self._close(key.fileobj)  # type: ignore[arg-type]
            self._selector.close()

    def _trickle(self) -> None:
        for sock, sent in list(self._slow.items()):
            piece = SLOW_HEAD[sent:sent + 1] or b"a"
            try:
                sock.send(piece)
                self._slow[sock] = sent + 1
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                pass  # closed: the selector reports it
