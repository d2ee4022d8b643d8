"""Diagnostic: the hot page's cost inside the app, without sockets, uvicorn or h11.

Calls the ASGI app directly (the real `create_app` on the real store, then the control's patches) and
reports µs per request, plus a cProfile of each. Tells how much of a request is the app (routing, auth,
params, page, encoding) and, by difference with wrk's figures, how much is the HTTP server.

    python -m bench.asgi_profile [--requests 3000] [--cprofile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import time
from typing import Any

from connect_readings.api.app import create_app
from connect_readings.config import Settings
from connect_readings.demo import HOUSEHOLD

from .common import SECRET, token
from .datasets import HOT_QUERY, household_db


def scope_for(path: str, query: str, bearer: str) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8080"), (b"authorization", f"Bearer {bearer}".encode())],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8080),
    }


async def drive(app: Any, scope: dict[str, Any], n: int) -> tuple[float, bytes]:
    body = bytearray()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            body.extend(message.get("body", b""))

    began = time.perf_counter()
    for _ in range(n):
        body.clear()
        await app(scope, receive, send)
    return (time.perf_counter() - began) / n, bytes(body)


def measure(label: str, app: Any, scope: dict[str, Any], n: int, profile: bool) -> bytes:
    asyncio.run(drive(app, scope, 200))  # warm-up
    per, body = asyncio.run(drive(app, scope, n))
    print(f"{label}: {per * 1e6:,.0f} µs per request in the app ({1 / per:,.0f} req/s on one core, no HTTP server)")
    if profile:
        prof = cProfile.Profile()
        prof.enable()
        asyncio.run(drive(app, scope, n))
        prof.disable()
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(18)
        print(out.getvalue().split("\n", 6)[-1])
    return body


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--cprofile", action="store_true")
    args = parser.parse_args()
    db = household_db()
    path = f"/v1/entities/{HOUSEHOLD}/aggregations"
    scope = scope_for(path, HOT_QUERY, token())
    settings = Settings(database=str(db), jwt_secret=SECRET)
    ours = measure("ours   ", create_app(settings), scope, args.requests, args.cprofile)

    from . import control

    control.install(str(db), [f"{path}?{HOT_QUERY}"])
    from connect_readings.api import app as app_module

    app = app_module.create_app(settings)
    from .control import MemoryStore
    import sqlite3
    import uuid

    conn = sqlite3.connect(str(db))
    entities = {uuid.UUID(bytes=r[0]) for r in conn.execute("SELECT entity_id FROM entities")}
    conn.close()
    app.state.api.store = MemoryStore(entities)
    ctl = measure("control", app, scope, args.requests, args.cprofile)
    print("identical bodies:", ours == ctl)


if __name__ == "__main__":
    main()
