"""Interval files (a grid operator's volumes) → register readings → `/aggregations` gives the volumes back
(docs/semantics.md §14), on every backend; and the `;` dialect of the register CSV."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from connect_readings.cli import main
from connect_readings.domain.timefmt import format_datetime
from connect_readings.ingest.importer import import_file
from connect_readings.ingest.intervals import number, register_of
from connect_readings.storage.base import Store
from connect_readings.storage.sqlite import SQLiteStore

from .conftest import ENTITY

FIXTURES = Path(__file__).parent / "fixtures" / "intervals"
HEADER = "Van Datum;Van Tijdstip;Tot Datum;Tot Tijdstip;EAN;Meter;Metertype;Register;Volume;Eenheid;Validatiestatus\n"
BRUSSELS = ZoneInfo("Europe/Brussels")


def row(start: str, end: str, register: str, volume: str, unit: str = "kWh", status: str = "Gevalideerd") -> str:
    (d0, t0), (d1, t1) = start.split(), end.split()
    return f"{d0};{t0};{d1};{t1};541448820012345678;1SAG1100012345;Digitale Meter;{register};{volume};{unit};{status}\n"


def load(store: Store, text: str, **options: Any) -> Any:
    return import_file(store, ENTITY, io.BytesIO(text.encode()), "interval", **options)  # type: ignore[arg-type]


def stored(store: Store) -> list[tuple[str, dict[str, Any]]]:
    return [(format_datetime(r.ts), r.data) for r in store.readings(ENTITY, 0, 2**62, 10_000)]


def kwh(total: float, **tiers: float) -> dict[str, Any]:
    return {**tiers, "total": total, "unit": "kWh"}


# hand-computed: Brussels is +01:00 in January, so 01-01-2024 00:00 local is 2023-12-31T23:00Z
CASES = [
    pytest.param(
        row("01-01-2024 00:00:00", "01-01-2024 00:15:00", "Afname Nacht", "0,250")
        + row("01-01-2024 00:15:00", "01-01-2024 00:30:00", "Afname Nacht", "0,125"),
        [("2023-12-31T23:00:00Z", {"positiveActiveEnergy": kwh(0.0, t2=0.0)}),
         ("2023-12-31T23:15:00Z", {"positiveActiveEnergy": kwh(0.25, t2=0.25)}),
         ("2023-12-31T23:30:00Z", {"positiveActiveEnergy": kwh(0.375, t2=0.375)})],
        id="running-sum-from-zero"),
    pytest.param(  # day (t1) and night (t2) rows of one quarter, offtake and injection; total = t1 + t2
        row("15/01/2024 06:45", "15/01/2024 07:00", "Afname Nacht", "0,1")
        + row("15/01/2024 06:45", "15/01/2024 07:00", "Afname Dag", "0")
        + row("15/01/2024 06:45", "15/01/2024 07:00", "Injectie Nacht", "0,020")
        + row("15/01/2024 07:00", "15/01/2024 07:15", "Afname Dag", "0,2")
        + row("15/01/2024 07:00", "15/01/2024 07:15", "Afname Nacht", "0,000")
        + row("15/01/2024 07:00", "15/01/2024 07:15", "Injectie Dag", "0,005"),
        [("2024-01-15T05:45:00Z", {"positiveActiveEnergy": kwh(0.0, t1=0.0, t2=0.0),
                                   "negativeActiveEnergy": kwh(0.0, t2=0.0)}),
         ("2024-01-15T06:00:00Z", {"positiveActiveEnergy": kwh(0.1, t1=0.0, t2=0.1),
                                   "negativeActiveEnergy": kwh(0.02, t1=0.0, t2=0.02)}),
         ("2024-01-15T06:15:00Z", {"positiveActiveEnergy": kwh(0.3, t1=0.2, t2=0.1),
                                   "negativeActiveEnergy": kwh(0.025, t1=0.005)})],
        id="tiers-and-directions"),
    pytest.param(  # a gap (00:15–00:30 missing): both of its ends are readings, so it holds 0
        row("01-01-2024 00:00:00", "01-01-2024 00:15:00", "Afname Dag", "1,000")
        + row("01-01-2024 00:30:00", "01-01-2024 00:45:00", "Afname Dag", "2,000")
        + row("01-01-2024 00:45:00", "01-01-2024 01:00:00", "Afname Dag", "", status="Ontbrekend"),
        [("2023-12-31T23:00:00Z", {"positiveActiveEnergy": kwh(0.0, t1=0.0)}),
         ("2023-12-31T23:15:00Z", {"positiveActiveEnergy": kwh(1.0, t1=1.0)}),
         ("2023-12-31T23:30:00Z", {"positiveActiveEnergy": kwh(1.0, t1=1.0)}),
         ("2023-12-31T23:45:00Z", {"positiveActiveEnergy": kwh(3.0, t1=3.0)})],
        id="gap-holds-zero"),
    pytest.param(  # gas hours in m³ (and l); an estimated hour is flagged on the reading that ends it
        row("01-07-2024 00:00:00", "01-07-2024 01:00:00", "Afname", "0,123", "m³")
        + row("01-07-2024 01:00:00", "01-07-2024 02:00:00", "Afname", "500", "l", "Geschat"),
        [("2024-06-30T22:00:00Z", {"positiveGasVolume": {"value": 0.0, "unit": "m3"}}),
         ("2024-06-30T23:00:00Z", {"positiveGasVolume": {"value": 0.123, "unit": "m3"}}),
         ("2024-07-01T00:00:00Z", {"positiveGasVolume": {"value": 0.623, "unit": "m3"},
                                   "gasQuality": {"value": 1.0, "unit": "Geschat"}})],
        id="gas-and-quality"),
    pytest.param(  # Wh, OBIS register names, rows out of order
        row("01-01-2024 00:15:00", "01-01-2024 00:30:00", "1.8.1", "1.500,5", "Wh")
        + row("01-01-2024 00:00:00", "01-01-2024 00:15:00", "1.8.1", "250", "Wh"),
        [("2023-12-31T23:00:00Z", {"positiveActiveEnergy": kwh(0.0, t1=0.0)}),
         ("2023-12-31T23:15:00Z", {"positiveActiveEnergy": kwh(0.25, t1=0.25)}),
         ("2023-12-31T23:30:00Z", {"positiveActiveEnergy": kwh(1.7505, t1=1.7505)})],
        id="units-obis-order"),
    pytest.param(  # explicit offsets win over the zone and the row order: the second 02:00 given first
        row("27-10-2024 02:00:00+01:00", "27-10-2024 02:15:00+01:00", "Afname Nacht", "0,2")
        + row("27-10-2024 02:00:00+02:00", "27-10-2024 02:15:00+02:00", "Afname Nacht", "0,1"),
        [("2024-10-27T00:00:00Z", {"positiveActiveEnergy": kwh(0.0, t2=0.0)}),
         ("2024-10-27T00:15:00Z", {"positiveActiveEnergy": kwh(0.1, t2=0.1)}),
         ("2024-10-27T01:00:00Z", {"positiveActiveEnergy": kwh(0.1, t2=0.1)}),
         ("2024-10-27T01:15:00Z", {"positiveActiveEnergy": kwh(0.3, t2=0.3)})],
        id="explicit-offsets"),
]


@pytest.mark.parametrize(("rows", "expected"), CASES)
def test_hand_computed_files(store: Store, rows: str, expected: list[tuple[str, dict[str, Any]]]) -> None:
    report = load(store, HEADER + rows)
    assert report.rejected == []
    assert stored(store) == expected


def test_bad_rows_are_rejected_with_their_line_numbers(store: Store) -> None:
    text = HEADER + (row("01-01-2024 00:00:00", "01-01-2024 00:15:00", "Afname Dag", "0,1")
                     + row("01-01-2024 00:15:00", "01-01-2024 00:30:00", "Afname Dag", "abc")
                     + row("01-01-2024 00:30:00", "01-01-2024 00:45:00", "Afname Dag", "-0,1")
                     + row("31-03-2024 02:15:00", "31-03-2024 02:30:00", "Afname Dag", "0,1")
                     + row("01-01-2024 00:45:00", "01-01-2024 01:00:00", "Reactief", "0,1")
                     + row("01-01-2024 00:00:00", "01-01-2024 00:15:00", "Afname Dag", "0,1")
                     + "01-01-2024;00:45:00\n")
    report = load(store, text)
    assert [line for line, _ in sorted(report.rejected)] == [3, 4, 5, 6, 7, 8]
    assert "not a number" in dict(report.rejected)[3] and "overlaps the interval of line 2" in dict(report.rejected)[7]
    assert report.read == 7 and report.written == 2


def test_a_later_file_continues_the_register_and_other_metrics_stay(store: Store) -> None:
    load(store, HEADER + row("01-01-2024 00:00:00", "01-01-2024 00:15:00", "Afname Dag", "1,5"))
    load(store, HEADER + row("01-01-2024 00:00:00", "01-01-2024 01:00:00", "Afname", "2", "m3"))
    load(store, HEADER + row("01-01-2024 00:15:00", "01-01-2024 00:30:00", "Afname Dag", "0,25"))
    assert stored(store) == [
        ("2023-12-31T23:00:00Z", {"positiveActiveEnergy": kwh(0.0, t1=0.0),
                                  "positiveGasVolume": {"value": 0.0, "unit": "m3"}}),
        ("2023-12-31T23:15:00Z", {"positiveActiveEnergy": kwh(1.5, t1=1.5)}),
        ("2023-12-31T23:30:00Z", {"positiveActiveEnergy": kwh(1.75, t1=1.75)}),
        ("2024-01-01T00:00:00Z", {"positiveGasVolume": {"value": 2.0, "unit": "m3"}}),
    ]


def test_each_file_owns_its_quality_flags(store: Store) -> None:
    electricity = HEADER + row("01-01-2024 00:45:00", "01-01-2024 01:00:00", "Afname Dag", "0,1", status="Geschat")
    load(store, electricity)
    load(store, HEADER + row("01-01-2024 00:00:00", "01-01-2024 01:00:00", "Afname", "2", "m3"))
    assert stored(store)[-1][1]["quality"] == {"value": 1.0, "unit": "Geschat"}
    load(store, electricity.replace("Geschat", "Gevalideerd"))  # validated later: the flag goes
    assert stored(store)[-1] == ("2024-01-01T00:00:00Z", {"positiveActiveEnergy": kwh(0.1, t1=0.1),
                                                          "positiveGasVolume": {"value": 2.0, "unit": "m3"}})


def quarter_hours(client: Any, start: str, end: str, resolution: str = "15 minutes") -> list[tuple[str, dict[str, Any]]]:
    params = {"start": start, "end": end, "resolution": resolution, "pageSize": 10_000}
    response = client.get(f"/v1/entities/{ENTITY}/aggregations", params=params)
    assert response.status_code == 200, response.text
    return [(item["timeframe"]["start"], item["data"]) for item in response.json()["data"]]


def test_the_autumn_day_gives_its_100_quarter_hours_back(client: Any, store: Store) -> None:
    text = (FIXTURES / "fluvius_2024-10-27.csv").read_text(encoding="utf-8")
    report = load(store, text)
    assert report.rejected == [] and report.read == 120 and report.written == 101
    assert report.notes == ["intervals not measured (kept as `quality`): Geschat 3"]
    buckets = quarter_hours(client, "2024-10-26T22:00:00Z", "2024-10-27T23:00:00Z")
    assert len(buckets) == 100
    offtake = [line.split(";")[8] for line in text.splitlines()[1:] if "Afname" in line]
    assert [data["positiveActiveEnergy"]["total"] for _, data in buckets] == [float(number(v)) for v in offtake]
    assert [data["positiveActiveEnergy"]["t2"] for _, data in buckets] == [float(number(v)) for v in offtake]
    # the repeated hour: 02:00–03:00 CEST (00:00Z) then 02:00–03:00 CET (01:00Z), eight quarter-hours
    assert [start for start, _ in buckets[8:16]] == [f"2024-10-27T0{h}:{m:02d}:00Z" for h in (0, 1) for m in (0, 15, 30, 45)]
    injected = [float(number(line.split(";")[8])) for line in text.splitlines()[1:] if "Injectie" in line]
    assert [data["negativeActiveEnergy"]["total"] for _, data in buckets[40:60]] == injected
    gas = (FIXTURES / "fluvius_gas_2024-10-27.csv").read_text(encoding="utf-8")
    report = load(store, gas)  # each hour in m³, then again in kWh (untiered `Afname`): the kWh rows are skipped
    assert report.rejected == [] and report.notes == ["25 gas row(s) in kWh skipped (the m³ volumes are imported)"]
    hours = quarter_hours(client, "2024-10-26T22:00:00Z", "2024-10-27T23:00:00Z", "1 hour")
    assert len(hours) == 25
    assert [data["positiveGasVolume"]["value"] for _, data in hours] == [
        float(number(line.split(";")[8])) for line in gas.splitlines()[1:] if "m³" in line]
    assert [data["positiveActiveEnergy"]["total"] for _, data in hours[:4]] == [  # electricity: untouched
        float(sum(number(line.split(";")[8]) for line in text.splitlines()[1:][i * 4:i * 4 + 4])) for i in range(4)]
    # importing the gas file kept the electricity at the hours they share
    assert len(quarter_hours(client, "2024-10-26T22:00:00Z", "2024-10-27T23:00:00Z")) == 100


# zone, steps (minutes), the UTC starts to draw from (before a spring and an autumn change), the first pass of
# the autumn's repeated wall times (UTC): Brussels, and Lord Howe with its 30-minute shift
CLOCK_CHANGES = [
    ("Europe/Brussels", [15, 60], [datetime(2024, 3, 30, 20, tzinfo=UTC), datetime(2024, 10, 26, 20, tzinfo=UTC)],
     (datetime(2024, 10, 27, 0, tzinfo=UTC), datetime(2024, 10, 27, 1, tzinfo=UTC))),
    ("Australia/Lord_Howe", [15], [datetime(2024, 4, 6, 10, tzinfo=UTC), datetime(2024, 10, 5, 10, tzinfo=UTC)],
     (datetime(2024, 4, 6, 14, 30, tzinfo=UTC), datetime(2024, 4, 6, 15, tzinfo=UTC))),
]


@pytest.mark.parametrize("zone, steps, starts, repeated", CLOCK_CHANGES, ids=[c[0] for c in CLOCK_CHANGES])
@pytest.mark.parametrize("seed", range(8))
def test_random_volumes_come_back_exactly(client: Any, store: Store, seed: int, zone: str, steps: list[int],
                                          starts: list[datetime], repeated: tuple[datetime, datetime]) -> None:
    """Random quarter-hour (or hour) volumes with 3 decimals, gaps, day/night tiers, over a DST change: every
    interval's volume (and each bucket's total = Σ tiers) comes back from /aggregations, exactly to 9 decimals."""
    rng = random.Random(seed)
    tz = ZoneInfo(zone)
    step = rng.choice(steps)
    start = rng.choice(starts)
    lines, expected = [], {}
    t = start
    for _ in range(rng.randint(20, 120)):
        end = t + timedelta(minutes=step)
        first_pass = repeated[0] <= t < repeated[1]
        if rng.random() < 0.1 and not first_pass:  # a gap (not in the first of two 02:00–03:00: §14)
            t = end
            continue
        a, b = t.astimezone(tz), end.astimezone(tz)
        tiers = {}
        for tier, name in (("t1", "Afname Dag"), ("t2", "Afname Nacht")):
            if rng.random() < 0.7 or first_pass:
                millis = rng.choice([0, rng.randint(0, 999), rng.randint(0, 99_999_999)])
                tiers[tier] = Fraction(millis, 1000)
                volume = f"{Decimal(millis) / 1000:f}".replace(".", ",")
                lines.append(row(f"{a:%d-%m-%Y %H:%M:%S}", f"{b:%d-%m-%Y %H:%M:%S}", name, volume))
        if tiers:
            expected[format_datetime(int(t.timestamp()) * 1_000_000)] = tiers
        t = end
    if rng.random() < 0.3:  # a register's rows after the other's (each in time order: that tells the autumn hours apart)
        lines.sort(key=lambda line: "Nacht" in line)
    report = load(store, HEADER + "".join(lines), time_zone=zone)
    assert report.rejected == []
    if expected:  # the stored registers are the exact sums, rounded once (no float drift)
        registers = [data["positiveActiveEnergy"] for _, data in stored(store)]
        assert registers[-1]["total"] == float(sum(sum(tiers.values()) for tiers in expected.values()))
        for tier in ("t1", "t2"):
            last = [r[tier] for r in registers if tier in r]
            assert last[-1:] == [float(sum(tiers[tier] for tiers in expected.values() if tier in tiers))][:len(last)]
    buckets = dict(quarter_hours(client, format_datetime(int(start.timestamp()) * 1_000_000),
                                 format_datetime(int(t.timestamp()) * 1_000_000), f"{step} minutes"))
    for stamp, tiers in expected.items():
        data = buckets[stamp]["positiveActiveEnergy"]
        assert Fraction(str(data["total"])) == round(sum(tiers.values()), 9), stamp
        for tier, volume in tiers.items():
            assert Fraction(str(data[tier])) == round(volume, 9), (stamp, tier)
    # buckets the file has no volume for: a gap holds 0, never a share of a neighbour's volume
    for stamp, data in buckets.items():
        if stamp not in expected:
            assert data["positiveActiveEnergy"]["total"] == 0, stamp


def test_cli_imports_an_interval_file_and_a_file_of_only_bad_rows_fails(tmp_path: Path) -> None:
    db = str(tmp_path / "x.db")
    result = CliRunner().invoke(main, ["import", str(FIXTURES / "fluvius_2024-10-27.csv"), "--entity", str(ENTITY),
                                       "--format", "interval", "--preset", "fluvius", "--database", db])
    assert result.exit_code == 0, result.output
    assert "read 120, written 101, replaced 0, rejected 0" in result.output and "Geschat 3" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + row("01-01-2024 00:00:00", "01-01-2024 00:15:00", "Afname Dag", "veel")
                   + row("32-01-2024 00:00:00", "01-01-2024 00:15:00", "Afname Dag", "0,1"), encoding="utf-8")
    result = CliRunner().invoke(main, ["import", str(bad), "--entity", str(ENTITY), "--format", "interval",
                                       "--time-zone", "Europe/Amsterdam", "--database", db])
    assert result.exit_code != 0
    assert "line 2: 'veel' is not a number" in result.output and "line 3:" in result.output
    assert "rejected 2" in result.output and "every line was rejected (as interval)" in result.output
    assert len(SQLiteStore(db).readings(ENTITY, 0, 2**62, 1000)) == 101


def test_a_file_of_only_bad_rows_exits_non_zero(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + row("01-01-2024 00:00:00", "01-01-2024 00:15:00", "Afname Dag", "veel"), encoding="utf-8")
    result = CliRunner().invoke(main, ["import", str(bad), "--entity", str(ENTITY), "--format", "interval",
                                       "--database", str(tmp_path / "x.db")])
    assert result.exit_code != 0 and "line 2: 'veel' is not a number" in result.output


def test_generic_columns(store: Store) -> None:
    text = ("start,end,channel,kwh\n"
            "2024-01-01 00:00,2024-01-01 00:15,offtake,0.5\n"
            "2024-01-01 00:15,2024-01-01 00:30,offtake,0.25\n")
    report = load(store, text, time_zone="UTC", columns="start=start,end=end,register=channel,volume=kwh")
    assert report.rejected == []
    assert [data["positiveActiveEnergy"]["total"] for _, data in stored(store)] == [0.0, 0.5, 0.75]
    shared = ("Datum;Van;Tot;Register;kWh\n"  # one date column: an interval ending at midnight ends the next day
              "02-01-2024;23:45;00:00;Afname;0,5\n")
    assert load(store, shared, time_zone="UTC", columns="start=Datum+Van,end=Datum+Tot,register=Register,volume=kWh"
                ).rejected == []
    assert stored(store)[-2:] == [("2024-01-02T23:45:00Z", {"positiveActiveEnergy": kwh(0.0)}),
                                  ("2024-01-03T00:00:00Z", {"positiveActiveEnergy": kwh(0.5)})]


def test_generic_columns_take_the_default_zone_when_nothing_else_gives_one(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 20: --columns without --time-zone, for an entity without a zone: CONNECT_READINGS_DEFAULT_TIME_ZONE
    (the zone such an entity is queried in), else a clear refusal."""
    source = tmp_path / "export.csv"
    source.write_text("start,end,channel,kwh\n2024-07-01 00:00,2024-07-01 00:15,offtake,0.5\n", encoding="utf-8")
    command = ["import", str(source), "--entity", str(ENTITY), "--format", "interval",
               "--columns", "start=start,end=end,register=channel,volume=kwh", "--database", str(tmp_path / "x.db")]
    monkeypatch.delenv("CONNECT_READINGS_DEFAULT_TIME_ZONE", raising=False)
    refused = CliRunner().invoke(main, command)
    assert refused.exit_code != 0 and "CONNECT_READINGS_DEFAULT_TIME_ZONE" in refused.output
    monkeypatch.setenv("CONNECT_READINGS_DEFAULT_TIME_ZONE", "Europe/Amsterdam")
    done = CliRunner().invoke(main, command)
    assert done.exit_code == 0, done.output
    stamps = [r.ts for r in SQLiteStore(str(tmp_path / "x.db")).readings(ENTITY, 0, 2**62, 10)]
    assert [format_datetime(t) for t in stamps] == ["2024-06-30T22:00:00Z", "2024-06-30T22:15:00Z"]  # (+02:00)


def test_register_names() -> None:
    assert register_of("Afname Dag", "kWh")[:2] == ("positiveActiveEnergy", "t1")
    assert register_of("Afname Nacht", "kWh")[:2] == ("positiveActiveEnergy", "t2")
    assert register_of("Injectie Dag", "kWh")[:2] == ("negativeActiveEnergy", "t1")
    assert register_of("Injectie Nacht", "kWh")[:2] == ("negativeActiveEnergy", "t2")
    assert register_of("Afname", "m³")[:2] == ("positiveGasVolume", None)
    assert register_of("Teruglevering 2.8.2", "kWh")[:2] == ("negativeActiveEnergy", "t2")
    assert register_of("Levering 1.8.1", "Wh") == ("positiveActiveEnergy", "t1", Decimal("0.001"))
    assert register_of("Afname", "kWh", "Gasmeter")[0] == "positiveGasEnergy"
    with pytest.raises(ValueError):
        register_of("Reactief", "kvarh")


def test_gas_energy_alone_is_rejected_and_the_english_export_is_read(store: Store) -> None:
    report = load(store, HEADER + row("01-01-2024 00:00:00", "01-01-2024 01:00:00", "Afname", "1,5", "kWh").replace(
        "Digitale Meter", "Gas"))
    assert report.rejected == [(2, "gas energy in kWh has no register here; export the m³ volumes")]
    english = ("From (date);From (time);Until (date);Until (time);EAN code;Meter;Meter type;Register;Volume;Unit;"
               "Validation status;Description\n"
               "01/02/2024;00:00:00;01/02/2024;00:15:00;=\"541448820012345678\";1SAG1;Digital meter;Offtake Night;"
               "0,042;kWh;Read;\n"
               "01/02/2024;00:15:00;01/02/2024;00:30:00;=\"541448820012345678\";1SAG1;Digital meter;Offtake Night;"
               "0,008;kWh;Estimated;\n")
    report = load(store, english)
    assert report.rejected == [] and report.notes == ["intervals not measured (kept as `quality`): Estimated 1"]
    assert stored(store)[-1] == ("2024-01-31T23:30:00Z", {"positiveActiveEnergy": kwh(0.05, t2=0.05),
                                                          "quality": {"value": 1.0, "unit": "Estimated"}})


def test_european_register_csv(store: Store, tmp_path: Path) -> None:
    text = ("timestamp;positiveActiveEnergy.total;positiveActiveEnergy.unit\n"
            "27/10/2024 02:30;1234,5;kWh\n"
            "27/10/2024 02:30;1235,25;kWh\n"
            "27/10/2024 03:30;1.236,125;kWh\n"
            "31/03/2024 02:30;1,0;kWh\n")
    report = import_file(store, ENTITY, io.BytesIO(text.encode("utf-8-sig")), "csv",  # type: ignore[arg-type]
                         time_zone="Europe/Brussels")
    assert [line for line, _ in report.rejected] == [5]
    assert stored(store) == [("2024-10-27T00:30:00Z", {"positiveActiveEnergy": {"total": 1234.5, "unit": "kWh"}}),
                             ("2024-10-27T01:30:00Z", {"positiveActiveEnergy": {"total": 1235.25, "unit": "kWh"}}),
                             ("2024-10-27T02:30:00Z", {"positiveActiveEnergy": {"total": 1236.125, "unit": "kWh"}})]
    without = tmp_path / "x.csv"
    without.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["import", str(without), "--entity", str(ENTITY), "--database",
                                       str(tmp_path / "x.db")])
    assert result.exit_code != 0 and "--time-zone" in result.output
    result = CliRunner().invoke(main, ["import", str(FIXTURES / "fluvius_2024-10-27.csv"), "--entity", str(ENTITY),
                                       "--database", str(tmp_path / "x.db")])  # (.csv: the register CSV)
    assert result.exit_code != 0 and "use --format interval" in result.output
