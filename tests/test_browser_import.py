"""A grid operator's file, imported with the CLI, seen in the dashboard (real `connect-readings import` and
`serve`, real headless Chromium): the autumn clock-change day of a Fluvius quarter-hour export is drawn as
100 quarter-hours whose table holds the file's volumes exactly, and marks its two estimated quarter-hours (and
no other) in a Quality column (`/statistics?metrics=quality`). Its screenshot is the README's import picture."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from .test_browser import SCREENSHOTS, browser, open_dashboard, table, wait_js  # noqa: F401 (browser: a fixture)
from .test_crash_safety import Server, token

ENTITY = uuid.UUID("5e1f0a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b")
BRUSSELS = ZoneInfo("Europe/Brussels")
HEADER = ("Van Datum;Van Tijdstip;Tot Datum;Tot Tijdstip;EAN;Meter;Metertype;Register;Volume;Eenheid;"
          "Validatiestatus\n")
DAY = datetime(2024, 10, 27)  # 25 hours in Brussels: the 02:00–03:00 quarter-hours twice


def quarter_hours() -> list[tuple[datetime, datetime]]:
    """The day's quarter-hours as (start, end) aware datetimes in Brussels, in time order (100 of them)."""
    first = DAY.replace(tzinfo=BRUSSELS).astimezone(ZoneInfo("UTC"))
    last = (DAY + timedelta(days=1)).replace(tzinfo=BRUSSELS).astimezone(ZoneInfo("UTC"))
    out = []
    t = first
    while t < last:
        out.append((t.astimezone(BRUSSELS), (t + timedelta(minutes=15)).astimezone(BRUSSELS)))
        t += timedelta(minutes=15)
    return out


def volume(k: int, register: str) -> Decimal:
    """A household's autumn Sunday: night offtake, a morning and an evening peak, a little midday solar."""
    hour = k / 4
    if register == "Injectie Dag":
        return Decimal(max(0, round(0.3 * (1 - abs(hour - 13.5) / 3.5), 3))).quantize(Decimal("0.001"))
    base = 0.06 + (0.35 if 7 <= hour < 9 else 0) + (0.55 if 18 <= hour < 21 else 0) + 0.01 * (k % 5)
    return Decimal(str(round(base, 3)))


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, dict[str, Decimal]]]]:
    """A Fluvius file of the day (offtake on the night register, as a Sunday is, and injection), two of its
    intervals estimated, imported and served. Yields the server and the volumes by local wall time + offset."""
    folder = tmp_path_factory.mktemp("import")
    db, source = folder / "import.db", folder / "verbruikshistoriek.csv"
    expected: dict[str, dict[str, Decimal]] = {}
    lines = [HEADER]
    for register in ("Afname Nacht", "Injectie Dag"):
        for k, (start, end) in enumerate(quarter_hours()):
            v = volume(k, register)
            status = "Geschat" if register == "Afname Nacht" and k in (40, 41) else "Gevalideerd"
            lines.append(f"{start:%d-%m-%Y};{start:%H:%M:%S};{end:%d-%m-%Y};{end:%H:%M:%S};541448820012345678;"
                         f"1SAG1100012345;Digitale Meter;{register};{str(v).replace('.', ',')};kWh;{status}\n")
            expected.setdefault(start.isoformat(), {})[register] = v
    source.write_text("".join(lines), encoding="utf-8")
    cli = [str(Path(sys.executable).with_name("connect-readings"))]
    run = lambda *args: subprocess.run(cli + list(args) + ["--database", str(db)], capture_output=True, text=True,  # noqa: E731
                                       timeout=120, env={"PATH": "/usr/bin:/bin"})
    done = run("entities", "set", str(ENTITY), "--name", "Meter from the Fluvius file", "--type", "Meter",
               "--time-zone", "Europe/Brussels")
    assert done.returncode == 0, done.stderr
    done = run("import", str(source), "--entity", str(ENTITY), "--format", "interval")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rejected 0" in done.stdout and "Geschat 2" in done.stdout, done.stdout
    server = Server(db).start()
    yield server, expected
    server.stop()


@pytest.mark.parametrize("width", [1280, 360])
def test_an_imported_autumn_day_shows_its_100_quarter_hours(browser, imported, width: int) -> None:  # noqa: ANN001, F811
    server, expected = imported
    page, errors = open_dashboard(browser, server, width, token())
    page.select_option("#preset", "custom")
    page.fill("#from", "2024-10-27")
    page.fill("#to", "2024-10-27")
    page.select_option("#resolution", "15 minutes")
    page.evaluate("window.__dashboard.lastShow = null")
    page.click("#query button[type=submit]")
    wait_js(page, "window.__dashboard.lastShow !== null")
    page.wait_for_load_state("networkidle")
    data = page.evaluate("window.__dashboard.lastData")
    assert len(data["aggregations"]) == 100 and data["view"]["resolution"] == "15 minutes"
    stamps = [item["timeframe"]["start"] for item in data["aggregations"]]
    assert stamps == list(expected)  # 00:00+02:00 … 02:45+02:00, 02:00+01:00 … 23:45+01:00
    keys, rows = table(page)
    assert len(rows) == 100  # (the table pages by 100 rows: the whole day on one page)
    offtake, injection = keys.index("positiveActiveEnergy.t2"), keys.index("negativeActiveEnergy.t1")
    for stamp, row in zip(expected, rows):
        assert Decimal(row[1 + offtake]) == expected[stamp]["Afname Nacht"], stamp
        assert Decimal(row[1 + injection]) == expected[stamp]["Injectie Dag"], stamp
    labels = page.eval_on_selector_all("#table thead th", "els => els.map(e => e.textContent)")
    assert "Import Night (kWh)" in labels and "Export Day (kWh)" in labels  # a Belgian meter's tiers
    # the two estimated quarter-hours (k = 40, 41: their marks sit on the readings at their ends) and no other
    assert labels[-1] == "Quality" and keys[-1] == "quality"
    marked = {stamp: row[-1] for stamp, row in zip(expected, rows) if row[-1]}
    assert marked == {list(expected)[40]: "estimated (1)", list(expected)[41]: "estimated (1)"}, marked
    # the picture shows the marked rows: the table's own scroll brings the first one into view
    page.eval_on_selector("#table td[data-quality]", "c => { const w = c.closest('.table-wrap'); "
                          "w.scrollTop += c.getBoundingClientRect().top - w.getBoundingClientRect().top - w.clientHeight / 3; }")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"import-{width}.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= width + 1
    assert not errors, errors
    page.close()
