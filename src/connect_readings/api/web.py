"""The browser side: the dashboard at `/`, the interactive API docs at `/docs`, and their static files.

No authentication to load a page or a file (they hold no data); the pages call the API with the bearer token
the user pastes. Everything is served from this package (`connect_readings/web/`) and from installed Python
packages (`plotly`'s plotly.min.js, `openapi-ui-bundles`' Swagger UI 5), so it works offline. Scripts are files,
never inline: the pages carry a Content-Security-Policy that allows same-origin scripts only.

Files go through Starlette's `StaticFiles` (read off the event loop, `ETag` and `Last-Modified`, 304 to a
matching `If-None-Match`), from one directory of links to the files we serve and nothing else. Unlike the API's
answers (`no-store`), pages and files carry `Cache-Control: no-cache`: a browser keeps them and revalidates on
every load, so plotly.min.js (4.8 MB) crosses the wire once per upgrade, not per visit (docs/semantics.md §7).
To a client that accepts gzip, the file's gzip-compressed copy is served (`Content-Encoding: gzip`,
`Vary: Accept-Encoding`; plotly.min.js 1.5 MB): each file is compressed once, off the event loop, into that
directory on its first request, not per response by a middleware.
"""

from __future__ import annotations

import atexit
import gzip
import os
import shutil
import tempfile
import threading
from functools import lru_cache
from importlib import resources
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route
from starlette.staticfiles import NotModifiedResponse, StaticFiles
from starlette.types import Scope

from .errors import error_response

CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
"""Same-origin scripts only (no inline script, no eval); inline styles, which Plotly and Swagger UI set."""

TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml"}
PAGES = ("index.html", "docs.html")
OURS = ("dashboard.js", "dashboard.css", "docs.js", "docs.css")
SWAGGER_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "favicon-16x16.png")
REVALIDATE = "no-cache"
"""Kept by the browser, checked with the server (If-None-Match → 304) before each use."""


@lru_cache(maxsize=1)
def plotly_path() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


@lru_cache(maxsize=1)
def swagger_dir() -> Path:
    from openapi_ui_bundles.swagger_ui import static_path  # Swagger UI 5: renders OpenAPI 3.1

    return Path(str(static_path))


def _sources() -> dict[str, Path]:
    """Served name → the installed file it is."""
    web = Path(str(resources.files("connect_readings") / "web"))
    return {**{name: web / name for name in (*PAGES, *OURS)}, "plotly.min.js": plotly_path(),
            **{f"swagger-ui/{name}": swagger_dir() / name for name in SWAGGER_FILES}}


_lock = threading.Lock()


@lru_cache(maxsize=1)
def _root() -> Path:
    """A private directory holding a link to each served file (and, once asked for, its .gz copy): what
    StaticFiles may serve is exactly what is in it. Removed at exit."""
    root = Path(tempfile.mkdtemp(prefix="connect-readings-web-"))
    atexit.register(shutil.rmtree, root, True)
    for name, source in _sources().items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        try:
            (root / name).symlink_to(source)
        except OSError:  # (no symlinks here: a copy, with the source's mtime for a stable ETag)
            shutil.copy2(source, root / name)
    return root


def _compressed(name: str) -> str:
    """`name`.gz beside `name` in the root, made once (mtime 0 inside; the file's mtime is the source's, so its
    ETag stays the same across restarts)."""
    target = _root() / f"{name}.gz"
    with _lock:
        if not target.exists():
            source = _root() / name
            partial = target.with_suffix(".gz.partial")
            partial.write_bytes(gzip.compress(source.read_bytes(), compresslevel=9, mtime=0))
            stat = source.stat()
            os.utime(partial, ns=(stat.st_atime_ns, stat.st_mtime_ns))
            os.replace(partial, target)
    return f"{name}.gz"


class WebFiles(StaticFiles):
    """StaticFiles with our headers: the original's type, gzip for a .gz copy, no-cache, a page's CSP."""

    def file_response(self, full_path: os.PathLike[str] | str, stat_result: os.stat_result, scope: Scope,
                      status_code: int = 200) -> Response:
        name = os.fspath(full_path)
        compressed = name.endswith(".gz")
        original = name[:-3] if compressed else name
        headers = {"Cache-Control": REVALIDATE, "Vary": "Accept-Encoding"}
        if compressed:
            headers["Content-Encoding"] = "gzip"
        if original.endswith(".html"):
            headers.update({"Content-Security-Policy": CSP, "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"})
        media_type = TYPES.get(Path(original).suffix, "application/octet-stream")
        response = FileResponse(full_path, status_code=status_code, stat_result=stat_result, headers=headers,
                                media_type=media_type)
        if self.is_not_modified(response.headers, Headers(scope=scope)):
            return NotModifiedResponse(response.headers)
        return response


@lru_cache(maxsize=1)
def _web_files() -> WebFiles:
    return WebFiles(directory=_root(), follow_symlink=True)


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
    files = await run_in_threadpool(_web_files)
    if accepts_gzip(request) and not name.endswith(".png"):  # (a PNG is compressed already)
        name = await run_in_threadpool(_compressed, name)
    try:
        return await files.get_response(name, request.scope)
    except HTTPException:  # (only a file removed under us: the names are checked before)
        return error_response(404, "NotFound", "no such file")


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
