"""A small, bounded pool of threads that run the blocking part of requests, so the event loop never waits.

Each request hands its store work (and the parsing of a large body) to one of these threads and awaits the
answer. Compared with Starlette's thread pool (anyio, 40 threads), a few threads fed from one queue keep far
fewer threads contending for the GIL, and one hop costs less: the hot page serves 4,900 against 2,800
requests/s (`python -m bench.versus`, see BENCHMARKS.md).
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class ThreadPool:
    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._jobs: queue.SimpleQueue[tuple[asyncio.AbstractEventLoop, asyncio.Future[Any], Callable[..., Any], tuple[Any, ...]]] = queue.SimpleQueue()
        self._started = 0
        self._lock = threading.Lock()

    def run(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """`fn(*args)` in a pool thread; the future completes on the calling loop."""
        if self._started < self.threads:
            self._start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((loop, future, fn, args))
        return future

    def _start(self) -> None:
        with self._lock:
            while self._started < self.threads:
                self._started += 1
                threading.Thread(target=self._work, name=f"connect-readings-store-{self._started}", daemon=True).start()

    def _work(self) -> None:
        take = self._jobs.get
        while True:
            loop, future, fn, args = take()
            try:
                result, error = fn(*args), None
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting request
                result, error = None, exc
            try:
                loop.call_soon_threadsafe(_settle, future, result, error)
            except RuntimeError:  # the loop has closed (shutdown): nobody awaits the answer any more
                pass


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():  # the request gave up (its deadline); the work still ran to its own deadline
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
