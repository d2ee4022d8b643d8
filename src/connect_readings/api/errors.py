"""One exception type → the customer's ConnectApiErrorResult body, for every non-2xx response."""

from __future__ import annotations

import logging

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ..domain.errors import DomainError

log = logging.getLogger("connect_readings")

_HTTP_CODES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
    431: "RequestHeaderFieldsTooLarge",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "RequestTimeout",
}


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, description: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.description = description
        self.headers = headers


def error_body(code: str, message: str, description: str | None = None) -> bytes:
    return orjson.dumps({"errors": [{"code": code, "message": message, "description": description}]})


def error_response(
    status: int, code: str, message: str, description: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    return Response(error_body(code, message, description), status, headers=headers, media_type="application/json")


async def on_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.description, exc.headers)


async def on_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return error_response(400, exc.code, exc.message, exc.description)


# Starlette's own refusals, in our words (its details are its own text).
_HTTP_MESSAGES = {
    404: "there is no such path; see /openapi.json",
    405: "this path does not take that method; the Allow header lists those it takes",
}


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "HttpError")
    message = _HTTP_MESSAGES.get(exc.status_code, "the request cannot be served")
    return error_response(exc.status_code, code, message, headers=exc.headers)


async def on_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return internal_error_response()


def internal_error_response() -> Response:
    # Sent from outside every middleware, so it adds the headers the Edge adds to all other responses.
    return error_response(500, "InternalError", "the server failed to answer this request; it was logged",
                          headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})
