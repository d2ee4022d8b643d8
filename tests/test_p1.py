"""P1/DSMR telegrams → readings (connect_readings.ingest.p1) and `import --format p1`, on the telegrams of
tests/p1_telegrams.py (the committed files in tests/fixtures/p1 are made from them)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from connect_readings.api.app import create_app
from connect_readings.cli import main
from connect_readings.config import Settings
from connect_readings.domain.errors import DomainError
from connect_readings.domain.timefmt import format_datetime
from connect_readings.ingest.p1 import TelegramError, TelegramStream, split_telegrams, telegram_readings
from connect_readings.storage.sqlite import SQLiteStore

from . import p1_telegrams as t
from .conftest import SECRET, ApiClient

ENTITY = "8667fb97-68f2-485a-87c7-f3bdfa9482e1"
FIXTURES = t.FIXTURES


def readable(readings: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(format_datetime(r.ts), r.data) for r in readings]


def approx(readings: list[tuple[str, dict[str, Any]]]) -> Any:
    """Expected readings with their numbers compared to float precision (kW → W multiplies)."""
    return [(ts, {m: {f: pytest.approx(v) if isinstance(v, float) else v for f, v in fields.items()}
                  for m, fields in data.items()}) for ts, data in readings]


def test_fixture_files_are_the_ones_the_helper_writes() -> None:
    for name, content in t.FILES.items():
        assert (FIXTURES / name).read_bytes() == content, f"run python -m tests.p1_telegrams ({name})"


def test_crc16_is_crc16_arc() -> None:
    assert t.crc16(b"123456789") == 0xBB3D  # the catalogued check value of CRC-16/ARC


# -- the field mapping, per country ------------------------------------------------------------------------
MAPPING = [
    ("belgian_emucs17.txt", [
        ("2024-01-15T17:45:12Z", {
            "positiveActiveEnergy": {"t1": 4123.456, "t2": 3210.987, "total": 7334.443, "unit": "kWh"},
            "negativeActiveEnergy": {"t1": 812.345, "t2": 298.765, "total": 1111.11, "unit": "kWh"},
            "positiveActiveInstantaneousPower": {"l1": 412.0, "l2": 1058.0, "l3": 403.0, "total": 1873.0, "unit": "W"},
            "negativeActiveInstantaneousPower": {"l1": 0.0, "l2": 0.0, "l3": 0.0, "total": 0.0, "unit": "W"},
            "instantaneousVoltage": {"l1": 231.4, "l2": 229.8, "l3": 232.1, "unit": "V"},
            "instantaneousCurrent": {"l1": 1.92, "l2": 4.71, "l3": 1.87, "unit": "A"},
            "currentAverageDemand": {"value": 2.351, "unit": "kW"},
            "maximumDemandMonth": {"value": 4.872, "unit": "kW"},
        }),
        # gas on channel 1 (24.2.3, device type 3) at its own time; the water meter on channel 2 is not gas
        ("2024-01-15T17:40:00Z", {"positiveGasVolume": {"value": 2345.678, "unit": "m3"}}),
    ]),
    ("dutch_dsmr5.txt", [
        ("2024-06-12T12:30:25Z", {
            "positiveActiveEnergy": {"t1": 7654.321, "t2": 6543.21, "total": 14197.531, "unit": "kWh"},
            "negativeActiveEnergy": {"t1": 1234.567, "t2": 2345.678, "total": 3580.245, "unit": "kWh"},
            "positiveActiveInstantaneousPower": {"l1": 0.0, "l2": 0.0, "l3": 0.0, "total": 0.0, "unit": "W"},
            "negativeActiveInstantaneousPower": {"l1": 712.0, "l2": 893.0, "l3": 740.0, "total": 2345.0, "unit": "W"},
            "instantaneousVoltage": {"l1": 236.1, "l2": 235.4, "l3": 237.0, "unit": "V"},
            "instantaneousCurrent": {"l1": 3.0, "l2": 4.0, "l3": 3.0, "unit": "A"},
        }),
        ("2024-06-12T12:30:00Z", {"positiveGasVolume": {"value": 4321.987, "unit": "m3"}}),
    ]),
    ("dutch_dsmr4.txt", [
        ("2023-11-19T19:35:10Z", {
            "positiveActiveEnergy": {"t1": 12345.678, "t2": 10987.654, "total": 23333.332, "unit": "kWh"},
            "negativeActiveEnergy": {"t1": 0.0, "t2": 0.0, "total": 0.0, "unit": "kWh"},
            "positiveActiveInstantaneousPower": {"l1": 212.0, "l2": 561.0, "l3": 207.0, "total": 980.0, "unit": "W"},
            "negativeActiveInstantaneousPower": {"l1": 0.0, "l2": 0.0, "l3": 0.0, "total": 0.0, "unit": "W"},
            "instantaneousCurrent": {"l1": 1.0, "l2": 2.0, "l3": 1.0, "unit": "A"},
        }),
        ("2023-11-19T19:00:00Z", {"positiveGasVolume": {"value": 3456.789, "unit": "m3"}}),
    ]),
    ("single_phase_dsmr5.txt", [
        ("2024-03-20T06:15:02Z", {
            "positiveActiveEnergy": {"t1": 987.654, "t2": 1098.765, "total": 2086.419, "unit": "kWh"},
            "negativeActiveEnergy": {"t1": 0.0, "t2": 0.0, "total": 0.0, "unit": "kWh"},
            "positiveActiveInstantaneousPower": {"l1": 431.0, "total": 431.0, "unit": "W"},
            "negativeActiveInstantaneousPower": {"l1": 0.0, "total": 0.0, "unit": "W"},
            "instantaneousVoltage": {"l1": 229.6, "unit": "V"},
            "instantaneousCurrent": {"l1": 2.0, "unit": "A"},
        }),
    ]),
]


@pytest.mark.parametrize(("name", "expected"), MAPPING, ids=[name for name, _ in MAPPING])
def test_field_mapping(name: str, expected: list[tuple[str, dict[str, Any]]]) -> None:
    raw = (FIXTURES / name).read_bytes()
    assert readable(telegram_readings(raw)) == approx(expected)
    assert readable(telegram_readings(raw.decode("ascii"))) == approx(expected)  # str or bytes alike


def test_readings_carry_register_and_gauge_columns() -> None:
    electricity, gas = telegram_readings(t.BELGIAN)
    assert 7334.443 in electricity.registers and 1873.0 in electricity.gauges  # (as the HTTP API stores them)
    assert gas.registers.count(None) == len(gas.registers) - 1


# -- timestamps ----------------------------------------------------------------------------------------------
def dutch_at(stamp: str, gas_stamp: str = "240612143000S") -> bytes:
    lines = [line.replace("240612143025S", stamp).replace("240612143000S", gas_stamp) for line in t.DUTCH5_LINES]
    return t.telegram("ISK5\\2M550T-1012", lines)


TIMES = [  # (telegram time, gas time) → (electricity reading's time, gas reading's time or None when merged)
    ("240115184512W", "240115180000W", "2024-01-15T17:45:12Z", "2024-01-15T17:00:00Z"),  # winter: UTC+1
    ("240612143025S", "240612143000S", "2024-06-12T12:30:25Z", "2024-06-12T12:30:00Z"),  # summer: UTC+2
    ("231029023000S", "231029020000S", "2023-10-29T00:30:00Z", "2023-10-29T00:00:00Z"),  # the hour that repeats,
    ("231029023000W", "231029020000W", "2023-10-29T01:30:00Z", "2023-10-29T01:00:00Z"),  # told apart by S/W
    ("240331035959S", "240331010000W", "2024-03-31T01:59:59Z", "2024-03-31T00:00:00Z"),  # after the spring change
    ("240612150000S", "240612150000S", "2024-06-12T13:00:00Z", None),  # gas at the telegram's time: one reading
]


@pytest.mark.parametrize(("stamp", "gas_stamp", "at", "gas_at"), TIMES)
def test_timestamps(stamp: str, gas_stamp: str, at: str, gas_at: str | None) -> None:
    readings = readable(telegram_readings(dutch_at(stamp, gas_stamp)))
    assert readings[0][0] == at
    if gas_at is None:
        assert len(readings) == 1 and readings[0][1]["positiveGasVolume"]["value"] == pytest.approx(4321.987)
    else:
        assert [ts for ts, _ in readings] == [at, gas_at] and "positiveGasVolume" not in readings[0][1]


# -- the gas meter on any channel --------------------------------------------------------------------------
def with_mbus(lines: list[str]) -> bytes:
    body = [line for line in t.DUTCH5_LINES if not line.startswith("0-1:")]
    return t.telegram("ISK5\\2M550T-1012", body + lines)


GAS_CHANNELS = [
    ("channel 3, water on 1", ["0-1:24.1.0(007)", "0-1:24.2.1(240612143000S)(00077.123*m3)",
                               "0-3:24.1.0(003)", "0-3:24.2.1(240612143000S)(01234.567*m3)"], 1234.567),
    ("channel 4", ["0-4:24.1.0(003)", "0-4:96.1.0(4730303332353631323334353637383930)",
                   "0-4:24.2.1(240612143000S)(00042.000*m3)"], 42.0),
    ("no device type: the m3 meter", ["0-2:24.2.1(240612143000S)(00500.250*m3)"], 500.25),
    ("a water meter only", ["0-1:24.1.0(007)", "0-1:24.2.1(240612143000S)(00077.123*m3)"], None),
    ("no M-Bus device", [], None),
]


@pytest.mark.parametrize(("lines", "volume"), [(lines, volume) for _, lines, volume in GAS_CHANNELS],
                         ids=[name for name, _, _ in GAS_CHANNELS])
def test_gas_is_found_on_any_channel(lines: list[str], volume: float | None) -> None:
    readings = telegram_readings(with_mbus(lines))
    gas = [r.data["positiveGasVolume"]["value"] for r in readings if "positiveGasVolume" in r.data]
    assert gas == ([] if volume is None else [volume])


# -- bad telegrams ---------------------------------------------------------------------------------------------
def damaged(raw: bytes) -> bytes:
    return raw.replace(b"1-0:1.8.1(004123.456", b"1-0:1.8.1(004123.457")  # one digit off, the CRC kept


unknown = t.telegram("XMX5XMXABCE000018914", ["0-0:96.1.1(31333631)", "1-0:1.8.1(00185.000*kWh)",
                                               "0-0:96.14.0(0001)"])  # DSMR 2.2-like: no version line
BAD = [
    ("a damaged digit", damaged(t.BELGIAN), "checksum"),
    ("a wrong CRC", t.telegram("FLU5\\253769484_A", t.BELGIAN_LINES, crc=0x1234), "'1234' does not match"),
    ("garbage", b"hello world", "must start with '/'"),
    ("empty", b"", "must start with '/'"),
    ("text before the telegram", b"junk" + t.BELGIAN, "must start with '/'"),
    ("no closing line", t.BELGIAN[:t.BELGIAN.index(b"!")], "no closing '!'"),
    ("no checksum after '!'", t.BELGIAN[:t.BELGIAN.index(b"!") + 1], "no closing '!'"),
    ("non-ASCII", t.BELGIAN.replace(b"FLU5", b"FL\xdc5"), "not ASCII"),
    ("unknown version", unknown, "unknown telegram"),
    ("a garbled number under a good CRC",
     t.telegram("FLU5\\253769484_A", [x.replace("004123.456", "0041x3.456") for x in t.BELGIAN_LINES]),
     "cannot be read"),
    ("no timestamp", t.telegram("FLU5\\253769484_A", [x for x in t.BELGIAN_LINES if not x.startswith("0-0:1.0.0")]),
     "no readable timestamp"),
    ("no meter values", t.telegram("ISK5\\2M550T-1012", ["1-3:0.2.8(50)", "0-0:1.0.0(240612143025S)"]),
     "no meter values"),
    ("a negative register", t.telegram("ISK5\\2M550T-1012", ["1-3:0.2.8(50)", "0-0:1.0.0(240612143025S)",
                                                               "1-0:1.8.1(-00001.000*kWh)"]),
     "cannot be negative"),
    ("a unit that is no energy", t.telegram("ISK5\\2M550T-1012", ["1-3:0.2.8(50)", "0-0:1.0.0(240612143025S)",
                                                                    "1-0:1.8.1(000001.000*kW)"]),
     "'positiveActiveEnergy.unit' must be one of"),
]


@pytest.mark.parametrize(("raw", "words"), [(raw, words) for _, raw, words in BAD], ids=[name for name, _, _ in BAD])
def test_bad_telegrams_are_refused_in_words(raw: bytes, words: str) -> None:
    with pytest.raises(TelegramError) as caught:
        telegram_readings(raw)
    error = caught.value
    assert isinstance(error, DomainError) and error.code == "InvalidTelegram"
    assert words in error.message
    for internal in ("Error", "Traceback", "Decimal", "exception", "<", "dsmr"):
        assert internal not in error.message


def test_a_capture_that_lost_its_carriage_returns_still_checks() -> None:
    assert readable(telegram_readings(t.DUTCH5.replace(b"\r\n", b"\n"))) == readable(telegram_readings(t.DUTCH5))


# -- the splitter ------------------------------------------------------------------------------------------------
def lines_of(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


SPLITS = [  # (stream, [(line number, telegram)])
    ("one", t.DUTCH5, [(1, t.DUTCH5)]),
    ("back to back", t.DUTCH5 + t.DUTCH4, [(1, t.DUTCH5), (1 + t.DUTCH5.count(b"\n"), t.DUTCH4)]),
    ("blank lines between", b"\r\n" + t.DUTCH5 + b"\r\n\r\n" + t.DUTCH4,
     [(2, t.DUTCH5), (4 + t.DUTCH5.count(b"\n"), t.DUTCH4)]),
    ("a partial first telegram", t.DUTCH4[-60:] + t.DUTCH5, [(1 + t.DUTCH4[-60:].count(b"\n"), t.DUTCH5)]),
    ("cut short by the next", t.DUTCH4[:200] + t.DUTCH5,
     [(1, t.DUTCH4[:200]), (1 + t.DUTCH4[:200].count(b"\n"), t.DUTCH5)]),
    ("cut short by the end", t.DUTCH5 + t.DUTCH4[:200], [(1, t.DUTCH5), (1 + t.DUTCH5.count(b"\n"), t.DUTCH4[:200])]),
    ("nothing", b"", []),
    ("no telegram", b"hello\r\nworld\r\n", []),
]


@pytest.mark.parametrize(("stream", "expected"), [(s, e) for _, s, e in SPLITS], ids=[name for name, _, _ in SPLITS])
def test_split_telegrams(stream: bytes, expected: list[tuple[int, bytes]]) -> None:
    assert list(split_telegrams(lines_of(stream))) == expected


def test_split_then_read_a_capture_file() -> None:
    with (FIXTURES / "capture.p1").open("rb") as handle:
        parts = list(split_telegrams(handle))
    assert [line for line, _ in parts] == [17, 57, 96, 137, 176]
    outcomes = []
    for _, raw in parts:
        try:
            outcomes.append(len(telegram_readings(raw)))
        except TelegramError as exc:
            outcomes.append(exc.message)
    assert outcomes[:2] == [2, 2] and outcomes[3:] == [2, 2] and "checksum" in outcomes[2]


# -- a meter's stream of telegrams --------------------------------------------------------------------------------
def test_stream_gives_each_gas_value_once_and_merges_it_into_its_second() -> None:
    stream = TelegramStream()
    seen = [readable(stream.readings(dutch_at(stamp, gas))) for stamp, gas in [
        ("240612145959S", "240612144500S"),  # 12:59:59Z, the gas value of 12:45Z
        ("240612150000S", "240612144500S"),  # 13:00:00Z, still the old gas value: dropped
        ("240612150001S", "240612150000S"),  # 13:00:01Z, the gas value of 13:00:00Z: merged into that reading
        ("240612150002S", "240612150000S"),  # repeated: dropped
    ]]
    assert [[ts for ts, _ in readings] for readings in seen] == [
        ["2024-06-12T12:59:59Z", "2024-06-12T12:45:00Z"],
        ["2024-06-12T13:00:00Z"],
        ["2024-06-12T13:00:01Z", "2024-06-12T13:00:00Z"],
        ["2024-06-12T13:00:02Z"],
    ]
    merged = seen[2][1][1]
    assert merged["positiveGasVolume"]["value"] == pytest.approx(4321.987)
    assert merged["positiveActiveEnergy"] == seen[1][0][1]["positiveActiveEnergy"]  # the electricity of 13:00:00


def test_a_gas_value_is_merged_into_its_second_already_in_the_database(store: Any) -> None:
    """After a restart (a new stream) or from another process, the telegram of the gas value's second is in the
    database, not in the stream's memory: the gas value is merged into the stored reading, not written alone."""
    from functools import partial

    from connect_readings.storage.base import reading_at

    entity = uuid.UUID(ENTITY)
    before = TelegramStream(partial(reading_at, store, entity))
    for stamp in ("240612145959S", "240612150000S"):  # 13:00:00Z is stored with the old gas value (12:45Z)
        store.ingest(entity, before.readings(dutch_at(stamp, "240612144500S")))
    after = TelegramStream(partial(reading_at, store, entity))  # a restart: nothing remembered
    store.ingest(entity, after.readings(dutch_at("240612150001S", "240612150000S")))  # the gas value of 13:00Z
    stored = {format_datetime(r.ts): r.data for r in store.readings(entity, 0, 2**62, 10)}
    assert list(stored) == ["2024-06-12T12:45:00Z", "2024-06-12T12:59:59Z", "2024-06-12T13:00:00Z",
                            "2024-06-12T13:00:01Z"]
    assert stored["2024-06-12T13:00:00Z"]["positiveGasVolume"]["value"] == pytest.approx(4321.987)
    assert set(stored["2024-06-12T13:00:00Z"]) >= {"positiveActiveEnergy", "instantaneousVoltage"}


# -- import --format p1 -----------------------------------------------------------------------------------------------
def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_import_p1_end_to_end(tmp_path: Path) -> None:
    db = str(tmp_path / "x.db")
    source = FIXTURES / "capture.p1"  # the format from the extension
    code, out = run("import", str(source), "--entity", ENTITY, "--database", db)
    assert code == 0, out
    # 5 telegrams, 1 with a bad CRC; 4 electricity readings and 2 gas values (each once)
    assert "read 5, written 6, replaced 0, rejected 1" in out
    assert "line 96: the telegram's checksum" in out
    code, out = run("import", str(source), "--entity", ENTITY, "--database", db)
    assert "read 5, written 6, replaced 6, rejected 1" in out  # idempotent

    store = SQLiteStore(db)
    stored = [(format_datetime(r.ts), r.data) for r in store.readings(uuid.UUID(ENTITY), 0, 2**62, 100)]
    assert [ts for ts, _ in stored] == ["2024-01-15T17:40:00Z", "2024-01-15T17:45:00Z", "2024-01-15T17:45:13Z",
                                        "2024-01-15T17:45:14Z", "2024-01-15T17:45:16Z", "2024-01-15T17:45:17Z"]
    assert stored[0][1] == {"positiveGasVolume": {"value": 2345.678, "unit": "m3"}}
    assert stored[1][1] == {"positiveGasVolume": {"value": 2345.701, "unit": "m3"}}
    assert stored[2][1]["positiveActiveEnergy"]["t1"] == pytest.approx(4123.459)
    assert stored[2][1]["maximumDemandMonth"] == {"value": 4.872, "unit": "kW"}  # an extra metric, as sent

    with ApiClient(create_app(Settings(database=db, jwt_secret=SECRET), store)) as client:
        last = client.get(f"/v1/entities/{ENTITY}/readings/last").json()
        assert last["timestamp"] == "2024-01-15T17:45:17Z"
        assert last["data"]["positiveActiveInstantaneousPower"]["total"] == pytest.approx(1873.0)
        assert last["data"]["currentAverageDemand"] == {"value": 2.351, "unit": "kW"}
    store.close()


def test_import_p1_format_by_flag_and_nothing_written_for_only_bad_telegrams(tmp_path: Path) -> None:
    db = str(tmp_path / "x.db")
    source = tmp_path / "meter.txt"
    source.write_bytes(b"\r\n" + damaged(t.BELGIAN) + unknown)
    code, out = run("import", str(source), "--entity", ENTITY, "--database", db, "--format", "p1")
    assert code != 0, out  # every telegram rejected: the import failed
    assert "read 2, written 0, replaced 0, rejected 2" in out
    assert "line 2: the telegram's checksum" in out
    second = 2 + t.BELGIAN.count(b"\n")
    assert f"line {second}: unknown telegram" in out
    store = SQLiteStore(db)
    assert store.readings(uuid.UUID(ENTITY), 0, 2**62, 10) == []
    store.close()
