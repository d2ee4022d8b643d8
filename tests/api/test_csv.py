"""CSV answers of readings, aggregations and statistics (docs/semantics.md §11), on both backends."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import time
from typing import Any

import pytest

from connect_readings.api.app import create_app
from connect_readings.config import Settings
from connect_readings.wire import csv_rows

from ..conftest import ENTITY, OTHER, SECRET, ApiClient, make_token

WINDOW = {"start": "2024-05-27T00:00:00Z", "end": "2024-05-28T00:00:00Z"}
CSV_TYPE = "text/csv; charset=utf-8; header=present"
T0 = dt.datetime(2024, 5, 27, tzinfo=dt.timezone.utc)


def _readings(n: int = 60) -> list[dict[str, Any]]:
    """Every 20 minutes: both energy registers with tiers, gas, power, voltage, state of charge; every tenth
    reading an odometer (→ extra), one with a comma and a quote in an unknown metric's unit."""
    out = []
    for i in range(n):
        data: dict[str, Any] = {
            "positiveActiveEnergy": {"t1": i * 0.1, "t2": i * 0.2 + 1e-7, "total": i * 0.3 + 1e-7, "unit": "kWh"},
            "negativeActiveEnergy": {"total": i * 1.0, "unit": "kWh"},
            "positiveGasVolume": {"value": i * 0.01, "unit": "m3"},
            "positiveActiveInstantaneousPower": {"l1": float(i % 7) * 1000.0, "total": float(i % 5) / 3, "unit": "W"},
            "instantaneousVoltage": {"l1": 230.0 + i / 10, "unit": "V"},
            "stateOfCharge": {"value": float(i % 100), "unit": "%"},
        }
        if i % 10 == 0:
            data["odometer"] = {"value": 1000.0 + i, "unit": "km"}
        if i == 3:
            data["weirdThing"] = {"value": 1.5, "unit": 'a,b "c"\r\nd'}
        out.append({"timestamp": (T0 + dt.timedelta(minutes=20 * i)).isoformat(), "data": data})
    return out


def _parse(response: Any) -> tuple[list[str], list[dict[str, str]]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == CSV_TYPE
    text = response.content.decode("utf-8")
    assert text.endswith("\r\n")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    return rows[0], [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def _json_all(client: ApiClient, path: str, query: dict[str, str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params = {**query, "pageSize": "7"}
    while True:
        body = client.get(path, params=params).json()
        items.extend(body["data"])
        token = body["meta"]["continuationToken"]
        if token is None:
            return items
        params = {**query, "pageSize": "7", "continuationToken": token}


def _same(cell: str, value: Any) -> None:
    if value is None:
        assert cell == ""
    elif isinstance(value, float):
        assert float(cell) == value and cell == repr(value)
    elif isinstance(value, int):
        assert int(cell) == value
    else:
        assert cell == value


def _flat(item: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in item.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flat(value, name + "."))
        else:
            out[name] = value
    return out


def _compare(columns: list[str], rows: list[dict[str, str]], items: list[dict[str, Any]]) -> None:
    """Every JSON value is in its CSV cell (floats equal), and every other cell is empty."""
    assert len(rows) == len(items)
    for original, item in zip(rows, items):
        row = dict(original)
        data = dict(item.get("data") or {})
        extra = row.pop("extra", None)
        if extra is not None:
            for metric in (json.loads(extra) if extra else {}):
                data.pop(metric)
        flat = _flat({k: v for k, v in item.items() if k != "data"})
        flat.update(_flat(data))
        for name, value in flat.items():
            assert name in row, name
            _same(row[name], value)
        assert all(row[name] == "" for name in row if name not in flat)


@pytest.fixture
def seeded(client: ApiClient) -> ApiClient:
    response = client.ingest(ENTITY, _readings())
    assert response.status_code == 200, response.text
    return client


def _path(kind: str, entity: Any = ENTITY) -> str:
    return f"/v1/entities/{entity}/{kind}"


def test_readings_csv_round_trips_with_json(seeded: ApiClient) -> None:
    columns, rows = _parse(seeded.get(_path("readings"), params={**WINDOW, "format": "csv"}))
    assert tuple(columns) == csv_rows.READING_COLUMNS
    assert columns[:3] == ["id", "entityId", "timestamp"] and columns[-1] == "extra"
    assert len(rows) == 60  # more than several JSON pages of 7
    _compare(columns, rows, _json_all(seeded, _path("readings"), WINDOW))
    assert rows[0]["extra"] == '{"odometer":{"value":1000.0,"unit":"km"}}'
    assert rows[1]["extra"] == ""
    assert rows[0]["positiveActiveEnergy.total"] == "1e-07"


def test_quoting_follows_rfc_4180(seeded: ApiClient) -> None:
    response = seeded.get(_path("readings"), params={**WINDOW, "format": "csv"})
    text = response.content.decode()
    line = text.split("\r\n")[4]  # header, readings 0, 1, 2, then 3 … (its extra holds CR LF: quoted)
    assert line.endswith('"{""weirdThing"":{""value"":1.5,""unit"":""a,b \\""c\\""\\r\\nd""}}"')
    _, rows = _parse(response)
    assert rows[3]["extra"] == '{"weirdThing":{"value":1.5,"unit":"a,b \\"c\\"\\r\\nd"}}'
    assert '"' not in text.split("\r\n")[2]  # nothing quoted that needs no quotes


def test_aggregations_csv_round_trips_with_json(seeded: ApiClient) -> None:
    query = {**WINDOW, "resolution": "15 minutes", "timeZone": "Europe/Brussels"}
    response = seeded.get(_path("aggregations"), params={**query, "format": "csv"})
    columns, rows = _parse(response)
    assert tuple(columns) == csv_rows.AGGREGATION_COLUMNS
    assert columns[:6] == ["entityId", "id", "timeframe.start", "timeframe.end", "positiveActiveEnergy.t1",
                           "positiveActiveEnergy.t2"]
    assert columns[-2:] == ["negativeGasVolume.value", "negativeGasVolume.unit"]
    assert len(rows) > 50
    _compare(columns, rows, _json_all(seeded, _path("aggregations"), query))
    assert response.headers["content-disposition"] == (
        f'attachment; filename="{ENTITY}_aggregations-15min_20240527T000000Z_20240528T000000Z.csv"')


def test_statistics_csv_round_trips_with_json(seeded: ApiClient) -> None:
    query = {**WINDOW, "resolution": "1 hour"}
    columns, rows = _parse(seeded.get(_path("statistics"), params={**query, "format": "csv"}))
    assert "positiveActiveInstantaneousPower.l1.minAt" in columns
    assert "positiveActiveEnergy.peakDemand.energy" in columns
    assert "range.value.coveredSeconds" in columns  # fixed: no range in the data, still a column
    assert len(rows) == 20
    _compare(columns, rows, _json_all(seeded, _path("statistics"), query))


def test_statistics_csv_columns_follow_metrics(seeded: ApiClient) -> None:
    query = {**WINDOW, "resolution": "1 hour", "metrics": "positiveActiveEnergy,stateOfCharge"}
    columns, rows = _parse(seeded.get(_path("statistics"), params={**query, "format": "csv"}))
    assert columns == ["entityId", "id", "timeframe.start", "timeframe.end", "stateOfCharge.unit"] + [
        f"stateOfCharge.value.{s}" for s in csv_rows.STATISTICS_FIELDS] + ["positiveActiveEnergy.unit"] + [
        f"positiveActiveEnergy.peakDemand.{f}" for f in csv_rows.PEAK_FIELDS]
    _compare(columns, rows, _json_all(seeded, _path("statistics"), query))


def test_header_only_when_the_window_is_empty(seeded: ApiClient) -> None:
    response = seeded.get(_path("readings"), params={"start": "2020-01-01T00:00:00Z", "end": "2020-01-02T00:00:00Z",
                                                     "format": "csv"})
    columns, rows = _parse(response)
    assert rows == [] and tuple(columns) == csv_rows.READING_COLUMNS
    assert response.headers["content-disposition"] == (
        f'attachment; filename="{ENTITY}_readings_20200101T000000Z_20200102T000000Z.csv"')


@pytest.mark.parametrize("accept, is_csv", [
    ("text/csv", True),
    ("text/csv, application/json", True),
    ("application/json;q=0.9, text/csv", True),
    ("text/csv;q=0.5, application/json;q=0.5", True),
    ("text/csv;q=0.4, application/json;q=0.5", False),
    ("text/csv;q=0.5, */*", False),
    ("text/csv;q=0", False),
    ("application/json", False),
    ("*/*", False),
    (None, False),
])
def test_accept_negotiates(seeded: ApiClient, accept: str | None, is_csv: bool) -> None:
    response = seeded.get(_path("readings"), params=WINDOW, headers={"Accept": accept})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv" if is_csv else "application/json")


def test_format_overrides_accept(seeded: ApiClient) -> None:
    as_json = seeded.get(_path("aggregations"), params={**WINDOW, "resolution": "1 hour", "format": "json"},
                         headers={"Accept": "text/csv"})
    assert as_json.headers["content-type"].startswith("application/json")
    as_csv = seeded.get(_path("aggregations"), params={**WINDOW, "resolution": "1 hour", "format": "csv"},
                        headers={"Accept": "application/json"})
    assert as_csv.headers["content-type"] == CSV_TYPE


def _error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["errors"][0]["code"] == code


@pytest.mark.parametrize("kind", ["readings", "aggregations", "statistics"])
def test_errors_stay_json(seeded: ApiClient, kind: str) -> None:
    query = {**WINDOW, "resolution": "1 hour"}
    csv_accept = {"Accept": "text/csv"}
    _error(seeded.get(_path(kind), params={**query, "format": "xml"}), 400, "InvalidFormat")
    _error(seeded.get(_path(kind), params={**query, "format": "xml"}, headers=csv_accept), 400, "InvalidFormat")
    _error(seeded.get(_path(kind), params={**query, "pageSize": "5"}, headers=csv_accept), 400, "InvalidParameter")
    _error(seeded.get(_path(kind), params={**query, "format": "csv", "continuationToken": "x"}), 400,
           "InvalidParameter")
    # the same refusals as the JSON answer: bad input, 401, 403, 404 (an unknown entity, or one not visible)
    cases: list[tuple[dict[str, str], dict[str, str], Any]] = [
        ({"start": "nope", "resolution": "1 hour"}, {}, ENTITY),
        (query, {"Authorization": "Bearer nope"}, ENTITY),
        (query, {"Authorization": f"Bearer {make_token(scope='readings:write')}"}, ENTITY),
        (query, {}, OTHER),
        (query, {"Authorization": f"Bearer {make_token(entities=[str(OTHER)])}"}, ENTITY),
    ]
    for params, headers, entity in cases:
        as_json = seeded.get(_path(kind, entity), params=params, headers=headers)
        assert as_json.status_code in (400, 401, 403, 404)
        for variant in ({**params, "format": "csv"}, params):
            as_csv = seeded.get(_path(kind, entity), params=variant, headers={**headers, **csv_accept})
            _error(as_csv, as_json.status_code, as_json.json()["errors"][0]["code"])
            assert as_csv.content == as_json.content


@pytest.mark.parametrize("kind, query, counted, rows", [
    ("readings", {}, 60, 60),  # readings are counted
    ("aggregations", {"resolution": "1 hour"}, 24, 20),  # buckets are counted, with data (20) or not (4)
    ("statistics", {"resolution": "1 hour"}, 24, 20),
    ("aggregations", {"resolution": "1 day", "timeZone": "Europe/Brussels"}, 2, 1),  # 2 local days meet the window
])
def test_too_many_rows_is_refused_whole(store: Any, tmp_path: Any, kind: str, query: dict[str, str],
                                        counted: int, rows: int) -> None:
    settings = Settings(database=str(tmp_path / "unused.db"), jwt_secret=SECRET, csv_max_rows=counted - 1)
    with ApiClient(create_app(settings, store)) as client:
        assert client.ingest(ENTITY, _readings()).status_code == 200
        refused = client.get(_path(kind), params={**WINDOW, **query, "format": "csv"})
        _error(refused, 400, "TooManyRows")
        assert f"more than {counted - 1} {'readings' if kind == 'readings' else 'buckets'}" in refused.text
    settings = Settings(database=str(tmp_path / "unused.db"), jwt_secret=SECRET, csv_max_rows=counted)
    with ApiClient(create_app(settings, store)) as client:
        _, found = _parse(client.get(_path(kind), params={**WINDOW, **query, "format": "csv"}))
        assert len(found) == rows


@pytest.mark.parametrize("kind, query", [("readings", {}), ("aggregations", {"resolution": "1 hour"}),
                                         ("statistics", {"resolution": "1 hour"})])
def test_streamed_and_varies_on_accept(seeded: ApiClient, kind: str, query: dict[str, str]) -> None:
    """The file is streamed (no Content-Length: chunked); both answers say they depend on Accept, so a cache
    between never serves one for the other."""
    as_csv = seeded.get(_path(kind), params={**WINDOW, **query}, headers={"Accept": "text/csv"})
    _parse(as_csv)
    assert "content-length" not in as_csv.headers and as_csv.headers["vary"] == "Accept"
    as_json = seeded.get(_path(kind), params={**WINDOW, **query})
    assert as_json.status_code == 200 and as_json.headers["vary"] == "Accept"


def test_whole_window_across_chunks(store: Any, client: ApiClient, monkeypatch: Any) -> None:
    """The walk reads CHUNK items per call: with a chunk of 7 the 60 readings take 9 calls, one file."""
    from connect_readings.api import csv_export

    monkeypatch.setattr(csv_export, "CHUNK", 7)
    assert client.ingest(ENTITY, _readings()).status_code == 200
    _, rows = _parse(client.get(_path("readings"), params={**WINDOW, "format": "csv"}))
    assert [r["timestamp"] for r in rows] == [r["timestamp"] for r in _json_all(client, _path("readings"), WINDOW)]
    _, buckets = _parse(client.get(_path("aggregations"), params={**WINDOW, "resolution": "15 minutes",
                                                                  "format": "csv"}))
    assert len({b["id"] for b in buckets}) == len(buckets) > 50


AUTUMN = {"start": "2024-10-27T00:00:00", "end": "2024-10-27T05:00:00", "timeZone": "Europe/Brussels"}
"""Five wall-clock hours over Brussels' autumn change: six hours of time, 02:00-03:00 twice (+02:00, then +01:00)."""


def _whole_file(columns: Any, rows: list[list[str]]) -> bytes:
    """The file as ONE csv.writer call over all its rows (RFC 4180, CRLF, minimal quoting, UTF-8): what a
    streamed answer must equal byte for byte, however its chunks were cut and wherever they were encoded."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL).writerows([list(columns), *rows])
    return out.getvalue().encode("utf-8")


@pytest.mark.parametrize("kind", ["readings", "aggregations", "statistics"])
def test_bytes_equal_the_whole_file_across_chunks_and_the_autumn_change(client: ApiClient, monkeypatch: Any,
                                                                        kind: str) -> None:
    """With chunks of 7 items, the file over the autumn change is byte for byte the JSON answer's items written
    as one CSV: no row lost, doubled or re-quoted at a chunk's edge, and the repeated hour's offsets kept."""
    from connect_readings.api import csv_export

    monkeypatch.setattr(csv_export, "CHUNK", 7)
    readings = _readings(25)  # every 20 minutes from 2024-10-26T22:00Z: Brussels midnight, over the change
    for i, reading in enumerate(readings):
        reading["timestamp"] = (dt.datetime(2024, 10, 26, 22, tzinfo=dt.timezone.utc)
                                + dt.timedelta(minutes=15 * i)).isoformat()
    assert client.ingest(ENTITY, readings).status_code == 200
    query: dict[str, str] = dict(AUTUMN)
    if kind == "aggregations":
        query["resolution"] = "15 minutes"
    if kind == "statistics":
        query.update(resolution="15 minutes", metrics="positiveActiveEnergy,positiveActiveInstantaneousPower")
    response = client.get(_path(kind), params={**query, "format": "csv"})
    assert response.status_code == 200, response.text
    items = _json_all(client, _path(kind), query)
    if kind == "readings":
        columns, rows = csv_rows.READING_COLUMNS, [csv_rows.reading_row(item) for item in items]
    elif kind == "aggregations":
        columns, rows = csv_rows.AGGREGATION_COLUMNS, [csv_rows.aggregation_row(item) for item in items]
    else:
        from connect_readings.usecases.statistics import STATISTICS_METRICS

        chosen = ("positiveActiveEnergy", "positiveActiveInstantaneousPower")
        layout = csv_rows.statistics_layout(tuple(m for m in STATISTICS_METRICS if m in chosen))  # (their order)
        columns = tuple(name for name, _ in layout)
        rows = [csv_rows.statistics_row(item, layout) for item in items]
    assert len(rows) > 14  # three chunks or more
    assert response.content == _whole_file(columns, rows)
    if kind != "readings":  # the repeated hour: both of its first quarter-hours, by their offsets
        text = response.content.decode()
        assert "2024-10-27T02:00:00+02:00" in text and "2024-10-27T02:00:00+01:00" in text


def test_doctests() -> None:
    import doctest

    from connect_readings.api import csv_export

    assert doctest.testmod(csv_export).failed == 0
    assert doctest.testmod(csv_rows).failed == 0


def test_csv_uses_the_entitys_time_zone_like_json(seeded: ApiClient) -> None:
    """An entity's `timeZone` (the registry, §12) is the default of its queries, in CSV as in JSON."""
    seeded.token = make_token(scope="readings:read readings:write entities:write")
    assert seeded.put(f"/v1/entities/{ENTITY}", json={"timeZone": "Europe/Brussels"}).status_code == 200
    query = {"start": "2024-05-27T00:00:00Z", "end": "2024-05-27T06:00:00Z", "resolution": "1 hour"}
    items = seeded.get(_path("aggregations"), params=query).json()["data"]
    _, rows = _parse(seeded.get(_path("aggregations"), params={**query, "format": "csv"}))
    assert items[0]["timeframe"]["start"] == "2024-05-27T02:00:00+02:00"
    assert [row["timeframe.start"] for row in rows] == [item["timeframe"]["start"] for item in items]


def test_a_slow_reader_holds_no_store_thread(tmp_path: Any) -> None:
    """A real server with ONE store thread: a CSV download whose client stops reading (MBs, far past the socket
    buffers) leaves the thread free for other requests between chunks. The file is made chunk by chunk as the
    client reads, so a reading written during the stall, at the window's end, is in it; every reading once.
    The 2 s request deadline bounds each chunk's store work, not the transfer: the slowly read file takes longer."""
    import socket

    import httpx

    from ..test_crash_safety import Server, token

    count = 30_000
    server = Server(tmp_path / "slow.db", env={"CONNECT_READINGS_STORE_THREADS": "1",
                                               "CONNECT_READINGS_REQUEST_TIMEOUT_S": "2"}).start()
    try:
        auth = {"Authorization": f"Bearer {token()}"}

        def reading(i: int) -> dict[str, Any]:
            return {"timestamp": (T0 + dt.timedelta(seconds=10 * i)).isoformat(),
                    "data": {"positiveActiveEnergy": {"t1": i / 3, "t2": i / 7, "total": i / 3 + i / 7, "unit": "kWh"},
                             "instantaneousVoltage": {"l1": 230.125, "l2": 231.5, "l3": 229.0, "unit": "V"}}}

        def ingest(batch: list[dict[str, Any]]) -> None:
            response = httpx.post(f"{server.url}{_path('readings')}", json={"data": batch}, headers=auth, timeout=60)
            assert response.status_code == 200, response.text

        for first in range(0, count, 10_000):
            ingest([reading(i) for i in range(first, first + 10_000)])
        slow = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 17)
        slow.sendall(f"GET {_path('readings')}?start=2024-05-27T00:00:00Z&end=2024-06-27T00:00:00Z&format=csv "
                     f"HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {auth['Authorization']}\r\n\r\n".encode())
        received = slow.recv(1024)
        assert received.startswith(b"HTTP/1.1 200") and b"transfer-encoding: chunked" in received.lower()
        time.sleep(0.5)  # the server fills the buffers and waits for this reader
        began = stream_began = time.monotonic()
        ingest([reading(count)])  # the one store thread is free, and the stream has not got this far yet
        assert time.monotonic() - began < 5
        chunks = [received]
        while not b"".join(chunks[-2:]).endswith(b"\r\n0\r\n\r\n"):
            more = slow.recv(1 << 16)
            assert more, "the server closed the connection before the end of the file"
            chunks.append(more)
            if len(chunks) < 40:
                time.sleep(0.1)  # a slow client: ~4 s in all
        slow.close()
        assert time.monotonic() - stream_began > 3
        for _ in range(100):  # (the access log line is written just after the last byte)
            served = [line for line in server.log_path.read_text().splitlines() if "GET /v1/" in line]
            if served:
                break
            time.sleep(0.05)
        assert len(served) == 1 and " 200 " in served[0]
        assert float(served[0].rsplit("duration_ms=", 1)[1].split()[0]) > 2_000  # longer than the deadline
        body = _dechunk(b"".join(chunks).partition(b"\r\n\r\n")[2])
        rows = list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))
        assert len(rows) == count + 2 and len({row[2] for row in rows[1:]}) == count + 1
    finally:
        server.kill()


def _dechunk(data: bytes) -> bytes:
    """The body of an HTTP/1.1 chunked transfer."""
    out = bytearray()
    while True:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        out += data[:size]
        data = data[size + 2:]
