"""The browser side: the dashboard at `/`, the interactive API docs at `/docs`, and their static files.

No authentication to load a page or a file (they hold no data); the pages call the API with the bearer token
the user pastes. Everything is served from this package (`connect_readings/web/`) and from installed Python
packages (`plotly`'s plotly.min.js, `openapi-ui-bundles`' Swagger UI 5), so it works offline. Scripts are files,
never inline: the pages carry a Content-Security-Policy that allows same-origin scripts only.

Like every answer, pages and files carry `Cache-Control: no-store` (the Edge's): one rule for every response
(docs/semantics.md §6). The price is that a browser fetches the vendored scripts (plotly.min.js, 4.8 MB) again on
each load of the dashboard; over a slow link, a caching proxy in front may keep `/static/` (it holds no data and
changes only with an upgrade): docs/operations.md.

Pages and files go gzip-compressed (`Content-Encoding: gzip`, `Vary: Accept-Encoding`) to a client that accepts
gzip (plotly.min.js: 1.5 MB sent). Python's `gzip` compresses each file once, off the event loop, and the bytes
are kept in memory (they are fixed: this package's files and installed packages'); not a per-response middleware,
which would compress 4.8 MB on the event loop for every load.
"""

from __future__ import annotations

import gzip
from functools import lru_cache
from importlib import resources
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .errors import error_response

CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
"""Same-origin scripts only (no inline script, no eval); inline styles, which Plotly and Swagger UI set."""

TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml"}
OURS = ("dashboard.js", "dashboard.css", "docs.js", "docs.css")
SWAGGER_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "favicon-16x16.png")


@lru_cache(maxsize=16)
def _web_file(name: str) -> bytes:
    return (resources.files("connect_readings") / "web" / name).read_bytes()


@lru_cache(maxsize=1)
def plotly_path() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


@lru_cache(maxsize=1)
def swagger_dir() -> Path:
    from openapi_ui_bundles.swagger_ui import static_path  # Swagger UI 5: renders OpenAPI 3.1

    return Path(str(static_path))


@lru_cache(maxsize=16)
def _vendor(path: str) -> bytes:
    return Path(path).read_bytes()


@lru_cache(maxsize=16)
def _gzipped(name: str) -> bytes:
    """The file `name` (as served under /static/, or a page) gzip-compressed, once (mtime 0: the same bytes)."""
    return gzip.compress(_body(name), compresslevel=9, mtime=0)


def _body(name: str) -> bytes:
    if name == "plotly.min.js":
        return _vendor(str(plotly_path()))
    if name.startswith("swagger-ui/"):
        return _vendor(str(swagger_dir() / name[len("swagger-ui/"):]))
    return _web_file(name)


def accepts_gzip(request: Request) -> bool:
    """Accept-Encoding names gzip (or *) with a q-value above 0."""
    for part in request.headers.get("accept-encoding", "").split(","):
        coding, _, params = part.partition(";")
        if coding.strip().lower() in ("gzip", "x-gzip", "*"):
            q = params.strip().lower()
            try:
                return not q.startswith("q=") or float(q[2:]) > 0
            except ValueError:
                return False
    return False


async def _file(request: Request, name: str) -> Response:
    media_type = TYPES.get(Path(name).suffix, "application/octet-stream")
    headers = {"Vary": "Accept-Encoding"}  # (no-store and nosniff come from the Edge, as on every answer)
    if name.endswith(".html"):
        headers.update({"Content-Security-Policy": CSP, "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"})
    if accepts_gzip(request) and not name.endswith(".png"):  # (a PNG is compressed already)
        body = await run_in_threadpool(_gzipped, name)  # (compressed on the first request only)
        headers["Content-Encoding"] = "gzip"
    else:
        body = await run_in_threadpool(_body, name)
    return Response(body, media_type=media_type, headers=headers)


async def dashboard(request: Request) -> Response:
    return await _file(request, "index.html")


async def docs(request: Request) -> Response:
    return await _file(request, "docs.html")


async def static(request: Request) -> Response:
    name = request.path_params["name"]
    if name in OURS or name == "plotly.min.js" or (
            name.startswith("swagger-ui/") and name[len("swagger-ui/"):] in SWAGGER_FILES):
        return await _file(request, name)
    return error_response(404, "NotFound", "no such file")


ROUTES = [
    Route("/", dashboard, methods=["GET"]),
    Route("/docs", docs, methods=["GET"]),
    Route("/static/{name:path}", static, methods=["GET"]),
]
