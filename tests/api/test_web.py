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


def test_files_are_served_gzip_compressed_when_accepted(settings: Settings, store: Store) -> None:
    """Issue 20: plotly.min.js is 4.8 MB; gzip (stdlib, compressed once) when the client accepts it, with every
    header the Edge adds and the page's CSP kept."""
    from connect_readings.api.web import plotly_path

    plotly = plotly_path().read_bytes()
    with ApiClient(create_app(settings, store)) as client:
        for accept in ("gzip", "deflate, gzip;q=0.8, br", "gzip, deflate"):
            response = client.get("/static/plotly.min.js", headers={"Accept-Encoding": accept})
            assert response.status_code == 200 and response.headers["content-encoding"] == "gzip", accept
            assert response.content == plotly  # (httpx decodes)
            assert int(response.headers["content-length"]) < len(plotly) // 3
            assert "accept-encoding" in response.headers["vary"].lower()
            assert response.headers["cache-control"] == "no-cache" and response.headers["etag"]
            assert response.headers["x-content-type-options"] == "nosniff" and response.headers["x-request-id"]
            assert response.headers["content-type"].startswith("text/javascript")
        for accept in ("identity", "gzip;q=0", "br"):
            response = client.get("/static/plotly.min.js", headers={"Accept-Encoding": accept})
            assert "content-encoding" not in response.headers, accept
            assert response.content == plotly and int(response.headers["content-length"]) == len(plotly)
        page = client.get("/", headers={"Accept-Encoding": "gzip"})
        assert page.headers["content-encoding"] == "gzip" and "script-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["cache-control"] == "no-cache" and 'src="static/dashboard.js"' in page.text
        swagger = client.get("/static/swagger-ui/swagger-ui-bundle.js", headers={"Accept-Encoding": "gzip"})
        assert swagger.headers["content-encoding"] == "gzip"
        ours = client.get("/static/dashboard.js", headers={"Accept-Encoding": "gzip"})
        assert ours.headers["content-encoding"] == "gzip" and "function status(" in ours.text


def test_swagger_try_it_out_prefills_no_fixed_end(client: ApiClient) -> None:
    """Issue 20: an `end` example (2024-05-28) made "Try it out" a 400 for any current start: no end carries one."""
    document = client.get("/openapi.json").json()
    parameters = [p for item in document["paths"].values() for op in item.values() if isinstance(op, dict)
                  for p in op.get("parameters", [])] + list(document["components"]["parameters"].values())
    ends = [p for p in parameters if p.get("name") == "end"]
    assert ends and not [p for p in ends if "example" in p or "examples" in p or "example" in p["schema"]]


def test_files_carry_an_etag_and_a_matching_request_gets_304(settings: Settings, store: Store) -> None:
    """Issue 20: a browser keeps the 4.8 MB plotly.min.js and revalidates it (no-cache + ETag from Starlette's
    StaticFiles): a reload costs a 304 without a body. The gzip copy has its own ETag (Vary: Accept-Encoding);
    the API's answers stay no-store."""
    with ApiClient(create_app(settings, store)) as client:
        for accept in ("gzip", "identity"):
            first = client.get("/static/plotly.min.js", headers={"Accept-Encoding": accept})
            etag = first.headers["etag"]
            again = client.get("/static/plotly.min.js", headers={"Accept-Encoding": accept, "If-None-Match": etag})
            assert again.status_code == 304 and again.content == b"", accept
            assert again.headers["etag"] == etag and again.headers["cache-control"] == "no-cache"
            assert "accept-encoding" in again.headers["vary"].lower()
            stale = client.get("/static/plotly.min.js", headers={"Accept-Encoding": accept, "If-None-Match": '"x"'})
            assert stale.status_code == 200 and len(stale.content) > 1_000_000
        gzip_tag = client.get("/static/plotly.min.js", headers={"Accept-Encoding": "gzip"}).headers["etag"]
        plain_tag = client.get("/static/plotly.min.js", headers={"Accept-Encoding": "identity"}).headers["etag"]
        assert gzip_tag != plain_tag
        page = client.get("/")
        assert client.get("/", headers={"If-None-Match": page.headers["etag"]}).status_code == 304
        assert client.get("/static/plotly.min.js.gz").status_code == 404  # only the names we serve
        assert client.get("/static/../pyproject.toml").status_code == 404
        api = client.get("/v1/entities")
        assert api.headers["cache-control"] == "no-store" and "etag" not in api.headers
