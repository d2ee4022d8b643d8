"""Test-only server: the real server and the real app plus one route that fails, which production lacks.

    python -m tests.apps --host 127.0.0.1 --port N --database X --workers 1

`GET /test/bug` raises inside a handler, as a bug would, so a test can watch what a real server process
does with the connection after a 500.
"""

from __future__ import annotations

import argparse

from starlette.applications import Starlette
from starlette.requests import Request

from connect_readings.api.app import app_from_env
from connect_readings.config import Settings
from connect_readings.server import serve


async def _bug(request: Request) -> None:
    raise RuntimeError("a bug, on purpose (tests/apps.py)")


def failing_app() -> Starlette:
    app = app_from_env()
    app.add_route("/test/bug", _bug, methods=["GET"])
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    for flag in ("--host", "--port", "--database", "--workers"):
        parser.add_argument(flag)
    args = parser.parse_args()
    settings = Settings.from_env(host=args.host, port=int(args.port), database=args.database,
                                 workers=int(args.workers))
    serve(settings, app="tests.apps:failing_app")


if __name__ == "__main__":
    main()
