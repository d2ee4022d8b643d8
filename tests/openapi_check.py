"""Validate every response the suite sees against the served OpenAPI document."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import httpx
from openapi_schema_validator import OAS31Validator

from connect_readings.api.app import openapi_document


@lru_cache(maxsize=1)
def _routes() -> list[tuple[re.Pattern[str], str]]:
    doc = openapi_document()
    return [(re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), path) for path in doc["paths"]]


def _resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = doc
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def response_content(method: str, path: str, status: int) -> dict[str, Any] | None:
    """The documented `content` (media type → object) of this response; None when the path is not the
    document's or the method has no operation; AssertionError when the status is undocumented."""
    doc = openapi_document()
    for pattern, template in _routes():
        if pattern.match(path):
            operation = doc["paths"][template].get(method.lower())
            if operation is None:
                return None
            response = operation["responses"].get(str(status))
            if response is None:
                raise AssertionError(f"{method} {path}: status {status} is not documented")
            return _resolve(doc, response).get("content", {})
    return None


def response_schema(method: str, path: str, status: int) -> dict[str, Any] | None:
    """The JSON schema the document gives for this response, or None when it documents none."""
    content = (response_content(method, path, status) or {}).get("application/json")
    return content["schema"] if content else None


def check_response(response: httpx.Response, root_path: str = "") -> None:
    """`root_path`: the prefix the app serves the document's paths under (its `servers` entry)."""
    request = response.request
    path = request.url.path
    if root_path:  # outside it, no path of the document is served ("" matches none)
        path = path[len(root_path):] if path.startswith(root_path + "/") else ""
    if path == "/openapi.json":
        return
    media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type == "text/csv":  # not JSON: only the status and the media type are checked
        content = response_content(request.method, path, response.status_code)
        assert content is not None and "text/csv" in content, (
            f"{request.method} {path} {response.status_code}: text/csv is not documented")
        return
    if response.status_code == 204:  # No Content: documented (raises if not), and no body
        response_content(request.method, path, 204)
        assert response.content == b"", f"{request.method} {path} 204 has a body"
        return
    schema = response_schema(request.method, path, response.status_code)
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body.get("errors"), list) and body["errors"], body
        assert all(isinstance(e.get("code"), str) and e["code"] for e in body["errors"]), body
        schema = schema or {"$ref": "#/components/schemas/Connect.Errors.Results.ConnectApiErrorResult"}
    if schema is None:
        if _routes_match(path):
            raise AssertionError(f"{request.method} {path} {response.status_code}: no schema documented")
        return
    wrapper = {**schema, "components": openapi_document()["components"]}
    OAS31Validator(wrapper).validate(response.json())


def _routes_match(path: str) -> bool:
    return any(p.match(path) for p, _ in _routes())
