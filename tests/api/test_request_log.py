"""X-Request-ID on every response, and one log line per request naming route, entity and subject, never the
token. (The JSON format from a real multi-worker server: tests/test_operations_server.py.)"""

from __future__ import annotations

import io
import logging
import re
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from connect_readings.logs import JsonFormatter, TextFormatter

from ..conftest import ENTITY, ApiClient, energy, make_token

READINGS = f"/v1/entities/{ENTITY}/readings"
GENERATED = re.compile(r"[0-9a-f]{32}")


def _lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "connect_readings.access"]


def test_a_well_formed_request_id_is_kept_and_returned(client: ApiClient) -> None:
    for given in ("f0b1c2d3-aaaa-4bbb-8ccc-123456789abc", "req.42:7", "x" * 128, "YWJj+/=="):
        response = client.get("/healthz", headers={"X-Request-ID": given})
        assert response.headers["x-request-id"] == given


@pytest.mark.parametrize("given", ["", "x" * 129, "two words", "semi;colon", "quote\"", "ünïcode"])
def test_a_malformed_request_id_is_replaced(client: ApiClient, given: str) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": given.encode("utf-8")})  # type: ignore[dict-item]
    assert GENERATED.fullmatch(response.headers["x-request-id"])


def test_every_response_carries_a_request_id(client: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Answers of the handlers, of the routing (404, 405), of RequestGuard (431) and of an unexpected error."""
    client.ingest(ENTITY, [energy("2024-05-27T13:00:00Z", 1)])
    client.token = ""
    responses = [
        client.get("/healthz"),
        client.get(f"{READINGS}/last"),  # 401
        client.get("/nowhere"),  # 404
        client.delete(READINGS, headers={"Authorization": f"Bearer {make_token()}"}),  # 405
        client.get(f"{READINGS}/last", headers={"X-Big": "x" * 20_000}),  # 431
    ]
    store = client.app.state.api.store  # type: ignore[attr-defined]

    def boom(*args: Any) -> Any:
        raise RuntimeError("simulated failure")

    monkeypatch.setattr(store, "last_reading", boom)
    # (the plain test client: a 500 is not in the document)
    failed = TestClient.request(client, "GET", f"{READINGS}/last", headers={"Authorization": f"Bearer {make_token()}"})
    assert failed.status_code == 500 and failed.json()["errors"][0]["code"] == "InternalError"
    responses.append(failed)
    assert [r.status_code for r in responses] == [200, 401, 404, 405, 431, 500]
    ids = [r.headers.get("x-request-id") for r in responses]
    assert all(i and GENERATED.fullmatch(i) for i in ids) and len(set(ids)) == len(ids)


def test_one_line_per_request_with_route_entity_and_subject_never_the_token(
        client: ApiClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="connect_readings")
    token = make_token(sub="meter-reader-7")
    client.token = token
    client.ingest(ENTITY, [energy("2024-05-27T13:00:00Z", 1), energy("2024-05-27T14:00:00Z", 2)])
    client.get(f"{READINGS}/last", headers={"X-Request-ID": "trace-1"})
    client.get(READINGS, params={"start": "nope"})
    client.get("/v1/entities/not-an-id/readings/last")
    client.get("/healthz", headers={"Authorization": None})
    lines = _lines(caplog)
    assert len(lines) == 5
    fields = [line.fields for line in lines]  # type: ignore[attr-defined]
    template = "/v1/entities/{entityId}/readings"
    assert [(f["method"], f["route"], f["status"]) for f in fields] == [
        ("POST", template, 200), ("GET", template + "/last", 200), ("GET", template, 400),
        ("GET", template + "/last", 404), ("GET", "/healthz", 200)]
    assert fields[1]["request_id"] == "trace-1"
    assert [f["entity_id"] for f in fields] == [str(ENTITY)] * 3 + [None, None]  # "not-an-id" is not repeated
    assert [f["subject"] for f in fields] == ["meter-reader-7"] * 4 + [None]
    assert all(isinstance(f["duration_ms"], float) and f["duration_ms"] >= 0 for f in fields)
    assert fields[1]["path"] == f"{READINGS}/last"
    text = "\n".join(JsonFormatter().format(r) + "\n" + TextFormatter().format(r) for r in caplog.records)
    assert token not in text and token.split(".")[-1] not in text
    assert "meter-reader-7" in text


def test_json_and_text_lines(client: ApiClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="connect_readings")
    client.get("/v1/entities/x%0Ainjected line/readings", headers={"X-Request-ID": "abc"})
    (record,) = _lines(caplog)
    line = orjson.loads(JsonFormatter().format(record))
    assert line["level"] == "info" and line["logger"] == "connect_readings.access"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"])
    assert {k: line[k] for k in ("request_id", "method", "route", "status", "entity_id", "subject")} == {
        "request_id": "abc", "method": "GET", "route": "/v1/entities/{entityId}/readings", "status": 404,
        "entity_id": None, "subject": None}
    text = TextFormatter().format(record)
    assert "\n" not in text  # the decoded newline of the path is quoted, so it cannot start a forged line
    assert " request_id=abc " in text and 'path="/v1/entities/x\\ninjected line/readings"' in text


def test_an_unexpected_error_is_logged_with_its_request_id(client: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lines the app logs while answering a request name it (formatted as they are logged, as in the server)."""
    client.ingest(ENTITY, [energy("2024-05-27T13:00:00Z", 1)])
    monkeypatch.setattr(client.app.state.api.store, "last_reading", _boom)  # type: ignore[attr-defined]
    written = io.StringIO()
    handler = logging.StreamHandler(written)
    handler.setFormatter(JsonFormatter())
    app_log = logging.getLogger("connect_readings")
    app_log.addHandler(handler)
    try:
        TestClient.request(client, "GET", f"{READINGS}/last", headers={"Authorization": f"Bearer {client.token}",
                                                                       "X-Request-ID": "failing-1"})
    finally:
        app_log.removeHandler(handler)
    lines = [orjson.loads(line) for line in written.getvalue().splitlines()]
    error = next(line for line in lines if line["level"] == "error")
    assert error["request_id"] == "failing-1" and "simulated failure" in error["exception"]


def _boom(*args: Any) -> Any:
    raise RuntimeError("simulated failure")


def test_the_request_log_can_be_turned_off(tmp_path: Any, caplog: pytest.LogCaptureFixture) -> None:
    from connect_readings.api.app import create_app
    from connect_readings.config import Settings

    from ..conftest import SECRET

    assert Settings.from_env({"CONNECT_READINGS_REQUEST_LOG": "false"}).request_log is False
    assert Settings.from_env({"CONNECT_READINGS_REQUEST_LOG": "on"}).request_log is True
    with pytest.raises(ValueError, match="CONNECT_READINGS_REQUEST_LOG"):
        Settings.from_env({"CONNECT_READINGS_REQUEST_LOG": "perhaps"})
    caplog.set_level(logging.INFO, logger="connect_readings")
    settings = Settings(database=str(tmp_path / "quiet.db"), jwt_secret=SECRET, request_log=False)
    with ApiClient(create_app(settings)) as quiet:
        response = quiet.get(f"{READINGS}/last")
    assert response.status_code == 404 and response.headers["x-request-id"]  # ids stay
    assert _lines(caplog) == []


def _held_handler() -> tuple[Any, io.StringIO]:
    from connect_readings.logs import LineHandler

    written = io.StringIO()
    handler = LineHandler(written)
    handler.setFormatter(TextFormatter())
    return handler, written


def test_access_lines_are_held_on_the_loop_and_written_together_within_the_hold_time() -> None:
    import asyncio
    import time

    from connect_readings import logs

    handler, written = _held_handler()
    lines = logs.AccessLines(handler, "text")

    async def three_requests() -> tuple[str, str, float]:
        began = time.monotonic()
        for n in range(3):
            lines(f"GET / 200 {n}", {"request_id": f"r{n}"}, frozenset({"request_id"}))
        held = written.getvalue()
        while not written.getvalue():
            await asyncio.sleep(0.01)
        return held, written.getvalue(), time.monotonic() - began

    held, after, waited = asyncio.run(three_requests())
    assert held == ""  # nothing written while the requests are answered
    assert [line.split(": ", 1)[1] for line in after.splitlines()] == [
        f"GET / 200 {n} request_id=r{n}" for n in range(3)]
    assert logs.ACCESS_HOLD_S <= waited < logs.ACCESS_HOLD_S + 1.0


def test_held_lines_are_written_before_any_other_line_and_at_the_size_limit() -> None:
    import asyncio

    from connect_readings import logs

    handler, written = _held_handler()
    lines = logs.AccessLines(handler, "text")

    async def scenario() -> list[str]:
        lines("GET / 200", {"request_id": "first"})
        record = logging.LogRecord("connect_readings.store", logging.WARNING, __file__, 1, "later", None, None)
        handler.handle(record)  # an app line: the held access line goes out before it
        order = [line.split(" ", 3)[2] for line in written.getvalue().splitlines()]
        big = "x" * logs.ACCESS_HOLD_BYTES
        lines("GET / 200", {"path": big})  # past the size limit: written at once, no waiting
        return order + [str(len(written.getvalue()) > logs.ACCESS_HOLD_BYTES)]

    assert asyncio.run(scenario()) == ["connect_readings.access:", "connect_readings.store:", "True"]


def test_held_lines_are_written_at_flush_and_without_a_loop() -> None:
    from connect_readings import logs

    handler, written = _held_handler()
    logs.AccessLines(handler, "text")("GET / 200", {})  # no running loop (a script): written at once
    assert written.getvalue().endswith("GET / 200\n")
    handler.hold("held\n")
    handler.flush()  # what logging.shutdown does at exit
    assert written.getvalue().endswith("held\n")
