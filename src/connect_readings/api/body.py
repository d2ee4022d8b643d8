"""Request bodies: declared as JSON (415 otherwise) and read within their size limit (413). What a body holds
is parsed by the ingest channel's own parser (`ingest.batch.parse_batch`)."""

from __future__ import annotations

from starlette.requests import Request

from .errors import ApiError


def require_json(content_type: str | None) -> None:
    """415 unless the body is declared `application/json` (parameters allowed; a charset only if UTF-8)."""
    media_type, *parameters = (content_type or "").split(";")
    if media_type.strip().lower() == "application/json" and all(
        name.strip().lower() != "charset" or value.strip().strip('"').lower() in ("utf-8", "utf8")
        for name, _, value in (parameter.partition("=") for parameter in parameters)
    ):
        return
    # Connection: close, as for 413: the body is not read.
    raise ApiError(415, "UnsupportedMediaType",
                   "the request body must be JSON, sent with Content-Type: application/json",
                   headers={"Connection": "close"})


async def limited_body(request: Request, limit: int) -> bytes:
    """The whole body, or 413 as soon as it is declared or streamed beyond `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and (not (declared.isascii() and declared.isdigit()) or int(declared) > limit):
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> ApiError:
    # Connection: close, so the server drops the connection instead of reading the rest of the body.
    return ApiError(413, "PayloadTooLarge", f"the request body exceeds {limit} bytes", headers={"Connection": "close"})
