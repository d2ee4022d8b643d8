"""The dashboard, /docs and their static files over the ASGI app (the browser tests are tests/test_browser.py):
no token needed, scripts as files under a same-origin CSP, relative links so a root path works."""

from __future__ import annotations

import dataclasses

from connect_readings.api.app import create_app
from connect_readings.config import Settings
from connect_readings.storage.base import Store

from ..conftest import ApiClient


def test_pages_and_files_under_a_root_path(settings: Settings, store: Store) -> None:
    with ApiClient(create_app(dataclasses.replace(settings, root_path="/connect"), store)) as client:
        page = client.get("/connect/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert 'src="static/dashboard.js"' in page.text and "<script>" not in page.text  # relative, no inline
        docs = client.get("/connect/docs")
        assert docs.status_code == 200 and 'src="static/swagger-ui/swagger-ui-bundle.js"' in docs.text
        for path in ("dashboard.js", "dashboard.css", "docs.js", "plotly.min.js", "swagger-ui/swagger-ui.css"):
            assert client.get(f"/connect/static/{path}").status_code == 200, path
        assert client.get("/connect/static/swagger-ui/index.html").status_code == 404  # only the files we use
        assert client.get("/docs").status_code == 404  # outside the root path
