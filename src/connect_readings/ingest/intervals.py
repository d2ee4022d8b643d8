"""Interval volumes (a grid operator's export) → cumulative register readings, exactly (docs/semantics.md §14).

A portal such as Fluvius' "verbruikshistoriek" exports a row per register per interval: local start and end
(`dd-mm-yyyy` or `dd/mm/yyyy`, `HH:MM[:SS]`), a register name (`Afname Dag`, `Injectie Nacht`, …), the
interval's volume with a decimal comma, its unit and a validation status. Per register series the rows are
sorted by start and summed with `Decimal`: each interval's start and end get a reading whose register is the
running sum, so the register rises by exactly the interval's volume across it and stays flat across a gap,
and `/aggregations` at the file's resolution gives every volume back.

The same module reads the European spreadsheet dialect of the register CSV (`;`, decimal comma,
`dd/mm/yyyy hh:mm` local times): `LocalDialect`.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from ..domain.errors import DomainError
from ..domain.readings import Reading, parse_reading
from ..domain.timefmt import format_datetime, parse_time_zone, to_micros

if TYPE_CHECKING:
    from ..storage.base import Store


@dataclass(frozen=True)
class Layout:
    """Where a file keeps what: `start`/`end` are one date-time column or (date column, time column)."""

    start: tuple[str, ...]
    end: tuple[str, ...]
    register: str
    volume: str
    unit: str | None = None
    status: str | None = None
    zone: str | None = None  # the default time zone when neither --time-zone nor the entity gives one


# Fluvius "verbruikshistoriek" (kwartier- / uurtotalen), columns by name as the portal describes them (the files in
# tests/fixtures/intervals/ are written to it by hand):
# Van Datum;Van Tijdstip;Tot Datum;Tot Tijdstip;EAN;Meter;Metertype;Register;Volume;Eenheid;Validatiestatus
PRESETS: dict[str, tuple[Layout, ...]] = {  # a preset's layouts, the first whose columns the header has
    "fluvius": (
        Layout(("Van Datum", "Van Tijdstip"), ("Tot Datum", "Tot Tijdstip"), "Register", "Volume", "Eenheid",
               "Validatiestatus", "Europe/Brussels"),
        Layout(("From (date)", "From (time)"), ("Until (date)", "Until (time)"), "Register", "Volume", "Unit",
               "Validation status", "Europe/Brussels"),  # the portal in English
    ),
}

# Statuses of a measured volume; any other (Geschat, Ontbrekend, …) is counted and kept as `quality`.
MEASURED = frozenset({"", "gevalideerd", "gemeten", "valide", "validé", "mesuré", "measured", "validated", "valid",
                      "read", "gelezen"})

_ENERGY = {"wh": Decimal("0.001"), "kwh": Decimal(1), "mwh": Decimal(1000)}
_VOLUME = {"m3": Decimal(1), "m³": Decimal(1), "dm3": Decimal("0.001"), "dm³": Decimal("0.001"), "l": Decimal("0.001")}
_NIGHT = ("nacht", "night", "dal", "off-peak", "offpeak", "nuit")
_DAY = ("dag", "day", "piek", "peak", "jour")
_OUT = ("injectie", "injection", "productie", "production", "teruglevering", "export", "2.8.")
_IN = ("afname", "offtake", "verbruik", "consumption", "levering", "import", "prélèvement", "1.8.")

# Gas energy (kWh): no register here. A gas export gives every hour in m³ and again in kWh (untiered `Afname`,
# `Offtake`); with the m³ rows present those kWh rows are skipped, without them they are rejected.
GAS_ENERGY = {False: "positiveGasEnergy", True: "negativeGasEnergy"}
_GAS_OF = {"positiveGasEnergy": "positiveGasVolume", "negativeGasEnergy": "negativeGasVolume",
           "positiveActiveEnergy": "positiveGasVolume", "negativeActiveEnergy": "negativeGasVolume"}

_DATE = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$|^(\d{4})-(\d{2})-(\d{2})$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?\s*(Z|[+-]\d{2}:?\d{2})?$", re.IGNORECASE)
_NUMBER = re.compile(r"^[+-]?\d+(?:[.,]\d+)?$|^[+-]?\d{1,3}(?:\.\d{3})+,\d+$|^[+-]?\d{1,3}(?:,\d{3})+\.\d+$")


def number(text: str) -> Decimal:
    """`0,123`, `0.123`, `1.234,5`, `1,234.5` → Decimal; ValueError otherwise. One `,` or `.` is the decimal point."""
    text = text.strip().replace("\u00a0", "").replace(" ", "")
    if not _NUMBER.match(text):
        raise ValueError(f"{text!r} is not a number")
    if "," in text and "." in text:
        text = text.replace(".", "").replace(",", ".") if text.rindex(",") > text.rindex(".") else text.replace(",", "")
    return Decimal(text.replace(",", "."))


def zone_for(name: str | None) -> tzinfo:
    return parse_time_zone(name) or UTC


@dataclass
class _Local:
    wall: datetime  # naive
    offset: timedelta | None  # an explicit offset in the file


def _local(date_text: str, time_text: str | None) -> _Local:
    date_text = date_text.strip()
    if time_text is None:  # one column: "dd-mm-yyyy HH:MM[:SS]" or ISO "yyyy-mm-ddTHH:MM…"
        parts = re.split(r"[ Tt]", date_text, maxsplit=1)
        date_text, time_text = parts[0], (parts[1] if len(parts) > 1 else "00:00")
    d = _DATE.match(date_text)
    t = _TIME.match(time_text.strip())
    if not d or not t:
        raise ValueError(f"not a date and time: {date_text!r} {time_text.strip()!r}")
    day, month, year = (int(d[1]), int(d[2]), int(d[3])) if d[1] else (int(d[6]), int(d[5]), int(d[4]))
    hour, minute, second = int(t[1]), int(t[2]), int(t[3] or 0)
    wall = datetime(year, month, day) + timedelta(hours=hour, minutes=minute, seconds=second)  # 24:00 is midnight
    offset = None
    if t[4]:
        sign = -1 if t[4][0] == "-" else 1
        digits = t[4].replace(":", "")[1:] if t[4].upper() != "Z" else "0000"
        offset = sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return _Local(wall, offset)


def _instant(wall: datetime, zone: tzinfo, fold: int) -> int:
    return to_micros(wall.replace(tzinfo=zone, fold=fold))


def _exists(wall: datetime, zone: tzinfo) -> bool:
    aware = wall.replace(tzinfo=zone)
    return aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall


def _ambiguous(wall: datetime, zone: tzinfo) -> bool:
    return _exists(wall, zone) and _instant(wall, zone, 0) != _instant(wall, zone, 1)


def interval_instants(start: _Local, end: _Local, zone: tzinfo, latest: int | None) -> tuple[int, int]:
    """(start, end) in UTC microseconds. `latest` is the latest start of the series' earlier rows (file order):
    a repeated autumn wall time is the earlier instant unless the series is already past it, so the second
    `02:00` of an autumn night is the later instant (even when the first `02:00` is missing). An interval
    shorter than a day ends at the first instant after its start that its end's wall time can name (taking the
    start's offset as one name), so the first `02:45–03:00` of the autumn night is a quarter-hour, and so is
    spring's `01:45–03:00`; a day or longer ends at its end's own wall time."""
    if start.offset is not None:
        s = to_micros(start.wall.replace(tzinfo=timezone(start.offset)))
    else:
        if not _exists(start.wall, zone):
            raise ValueError(f"{start.wall:%d-%m-%Y %H:%M} is not a local time in {zone}")
        s = _instant(start.wall, zone, 0)
        if latest is not None and s <= latest and _ambiguous(start.wall, zone):
            s = _instant(start.wall, zone, 1)
    if end.offset is not None:
        return s, to_micros(end.wall.replace(tzinfo=timezone(end.offset)))
    length = end.wall - start.wall
    own = {_instant(end.wall, zone, 0), _instant(end.wall, zone, 1)}
    if length >= timedelta(days=1):
        later = sorted(e for e in own if e > s)
        return s, (later[0] if later else s)
    candidates = [e for e in (*own, s + length // timedelta(microseconds=1)) if e > s]
    return s, (min(candidates) if candidates else s)


def register_of(name: str, unit: str, context: str = "") -> tuple[str, str | None, Decimal]:
    """(metric, tier or None for an untiered register, factor to kWh or m3) of a register name and unit;
    `GAS_ENERGY` for gas in kWh (a register or meter type naming gas).

    Belgian tiers: day (`Dag`, piek, 1.8.1) is `t1`, night (`Nacht`, dal, 1.8.2) is `t2`, as the meters number them.
    """
    key = name.strip().lower()
    u = unit.strip().lower().replace(" ", "")
    obis = re.search(r"\b[12]\.8\.([12])\b", key)
    out = any(word in key for word in _OUT)
    into = any(word in key.replace("teruglevering", "") for word in _IN)
    if out == into:
        raise ValueError(f"register {name.strip()!r} is neither offtake (Afname) nor injection (Injectie)")
    if u in _VOLUME:
        return ("negativeGasVolume" if out else "positiveGasVolume"), None, _VOLUME[u]
    if u not in _ENERGY:
        raise ValueError(f"unit {unit.strip()!r} is neither energy (kWh) nor volume (m³)")
    if "gas" in key or "gas" in context.lower():
        return GAS_ENERGY[out], None, _ENERGY[u]
    tier = None
    if obis:
        tier = "t1" if obis[1] == "1" else "t2"
    elif any(word in key for word in _NIGHT):
        tier = "t2"
    elif any(word in key for word in _DAY):
        tier = "t1"
    return ("negativeActiveEnergy" if out else "positiveActiveEnergy"), tier, _ENERGY[u]


@dataclass
class _Row:
    line: int
    metric: str
    tier: str | None
    start: int
    end: int
    volume: Decimal
    status: str


def parse_columns(spec: str) -> Layout:
    """`start=Van Datum+Van Tijdstip,end=…,register=…,volume=…[,unit=…][,status=…]` → Layout."""
    fields: dict[str, str] = {}
    for part in spec.split(","):
        key, sep, value = part.partition("=")
        if not sep or key.strip() not in {"start", "end", "register", "volume", "unit", "status"}:
            raise DomainError("InvalidColumns",
                              f"--columns: {part.strip()!r} is not start|end|register|volume|unit|status=COLUMN")
        fields[key.strip()] = value.strip()
    missing = {"start", "end", "register", "volume"} - fields.keys()
    if missing:
        raise DomainError("InvalidColumns", f"--columns needs {', '.join(sorted(missing))}")
    return Layout(tuple(c.strip() for c in fields["start"].split("+")),
                  tuple(c.strip() for c in fields["end"].split("+")),
                  fields["register"], fields["volume"], fields.get("unit"), fields.get("status"))


def layout_for(preset: str | None, columns: str | None) -> tuple[Layout, ...]:
    if columns:
        return (parse_columns(columns),)
    name = preset or "fluvius"
    if name not in PRESETS:
        raise DomainError("InvalidColumns", f"no preset {name!r} (presets: {', '.join(PRESETS)})")
    return PRESETS[name]


def looks_like_intervals(header_line: str) -> bool:
    """Whether a header line has every column of a preset's layout (for the register CSV's hint)."""
    names = {name.strip().strip('"').lower() for name in re.split(r"[;,]", header_line)}
    return any(all(column.lower() in names for column in (*layout.start, *layout.end, layout.register, layout.volume))
               for layouts in PRESETS.values() for layout in layouts)


def resolve_zone(store: Store, entity_id: uuid.UUID, time_zone: str | None, layout: Layout | None,
                 default_zone: str | None = None) -> tzinfo:
    """--time-zone, else the entity's registered zone, else the layout's (Europe/Brussels for Fluvius), else the
    service's default zone for entities without one (CONNECT_READINGS_DEFAULT_TIME_ZONE)."""
    if time_zone is None:
        head = store.entity_head(entity_id)
        time_zone = head[1] if head is not None and head[1] else (layout.zone if layout else None) or default_zone
    if time_zone is None:
        raise DomainError("MissingTimeZone", "local times need --time-zone (or an entity with a registered zone, "
                          "or CONNECT_READINGS_DEFAULT_TIME_ZONE)")
    return zone_for(time_zone)


def import_intervals(
    store: Store, entity_id: uuid.UUID, handle: io.BufferedReader, progress: Callable[[int], None], report: Any,
    writer: Any, time_zone: str | None = None, preset: str | None = None, columns: str | None = None,
    default_zone: str | None = None,
) -> None:
    """Read every row, then write the boundary readings (rejects into `report.rejected`, notes into `report.notes`)."""
    layouts = layout_for(preset, columns)
    raw = handle.read()
    progress(len(raw))
    text = raw.decode("utf-8-sig", errors="replace")
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [name.strip() for name in next(reader, [])]
    index = {name.lower(): i for i, name in enumerate(header)}
    for layout in layouts:
        needed = [*layout.start, *layout.end, layout.register, layout.volume, *filter(None, (layout.unit, layout.status))]
        absent = [name for name in needed if name.lower() not in index]
        if not absent:
            break
    else:
        raise DomainError("InvalidIntervals", f"the header lacks the column(s) {', '.join(map(repr, absent))}")
    zone = resolve_zone(store, entity_id, time_zone, layout, default_zone)

    def cell(row: list[str], name: str | None) -> str:
        return row[index[name.lower()]].strip() if name else ""

    def _when(row: list[str], columns: tuple[str, ...]) -> tuple[str, str | None]:
        return (cell(row, columns[0]), cell(row, columns[1])) if len(columns) > 1 else (cell(row, columns[0]), None)

    context_cols = [i for name, i in index.items() if name in {"metertype", "meter type", "energietype", "type"}]
    rows: list[_Row] = []
    latest: dict[tuple[str, str | None], int] = {}
    shared_date = len(layout.start) == 2 and layout.start[0].lower() == layout.end[0].lower()
    empty = 0
    for row in reader:
        line = reader.line_num
        if not row or not "".join(row).strip():
            continue
        report.read += 1
        if len(row) < len(header):
            report.rejected.append((line, f"expected {len(header)} cells, got {len(row)}"))
            continue
        try:
            volume_text = cell(row, layout.volume)
            metric, tier, factor = register_of(cell(row, layout.register), cell(row, layout.unit) or "kWh",
                                               " ".join(row[i] for i in context_cols))
            start = _local(*_when(row, layout.start))
            end = _local(*_when(row, layout.end))
            key = (metric, tier)
            s, e = interval_instants(start, end, zone, latest.get(key))
            if e <= s and shared_date:  # one date column for both: `23:45–00:00` ends the next day
                s, e = interval_instants(start, _Local(end.wall + timedelta(days=1), end.offset), zone, latest.get(key))
            latest[key] = max(s, latest.get(key, s))
            if e <= s:
                raise ValueError("the interval ends before it starts")
            if not volume_text:
                empty += 1  # no value for this interval: a gap
                continue
            volume = number(volume_text) * factor
            if volume < 0:
                raise ValueError("a negative volume")
        except (ValueError, InvalidOperation, OverflowError) as exc:
            message = "the volume is not a number" if isinstance(exc, InvalidOperation) else str(exc)
            report.rejected.append((line, message))
            continue
        rows.append(_Row(line, metric, tier, s, e, volume, cell(row, layout.status)))
    if empty:
        report.notes.append(f"{empty} row(s) without a volume, left as gaps")
    rows = _without_gas_energy(rows, report)
    readings = boundary_readings(store, entity_id, rows, report)
    writer.extend(readings)


def _without_gas_energy(rows: list[_Row], report: Any) -> list[_Row]:
    """Gas kWh rows out: skipped when the file has the m³ rows of that direction (then an untiered kWh register of
    that direction is gas energy too), rejected otherwise."""
    volumes = {r.metric for r in rows if r.metric.endswith("GasVolume")}
    kept, skipped = [], 0
    for r in rows:
        gas = r.metric in GAS_ENERGY.values() or (r.tier is None and _GAS_OF.get(r.metric) in volumes)
        if not gas:
            kept.append(r)
        elif _GAS_OF[r.metric] in volumes:
            skipped += 1
        else:
            report.rejected.append((r.line, "gas energy in kWh has no register here; export the m³ volumes"))
    if skipped:
        report.notes.append(f"{skipped} gas row(s) in kWh skipped (the m³ volumes are imported)")
    return kept


def boundary_readings(store: Store | None, entity_id: uuid.UUID | None, rows: list[_Row], report: Any) -> list[Reading]:
    """The readings at every interval boundary: per series the running sum (from the stored register at its first
    boundary, else 0) where no interval of it is under way; `quality` where a non-measured interval ends."""
    series: dict[tuple[str, str | None], list[_Row]] = {}
    for row in sorted(rows, key=lambda r: (r.start, r.end, r.line)):
        kept = series.setdefault((row.metric, row.tier), [])
        if kept and row.start < kept[-1].end:
            report.rejected.append((row.line, f"overlaps the interval of line {kept[-1].line} of the same register"))
            continue
        kept.append(row)
    stamps = sorted({t for rs in series.values() for r in rs for t in (r.start, r.end)})
    stored = _stored_readings(store, entity_id, stamps)
    values: dict[int, dict[str, dict[str, Any]]] = {t: {} for t in stamps}
    metrics: dict[str, list[_Row]] = {}
    for (metric, tier), rs in series.items():
        metrics.setdefault(metric, []).extend(rs)
        if tier is not None:
            _fill(values, stamps, rs, metric, tier, stored)
    for metric, rs in metrics.items():
        _fill(values, stamps, rs, metric, "value" if "Gas" in metric else "total", stored)
    statuses: Counter[str] = Counter(r.status for rs in series.values() for r in rs if r.status.lower() not in MEASURED)
    if statuses:
        report.notes.append("intervals not measured (kept as `quality`): "
                            + ", ".join(f"{status} {count}" for status, count in sorted(statuses.items())))
    flagged: dict[int, dict[str, list[str]]] = {}  # t → quality metric → statuses of the intervals ending at t
    for rs in series.values():
        for r in rs:
            if r.status.lower() not in MEASURED:
                flagged.setdefault(r.end, {}).setdefault(_quality(r.metric), []).append(r.status)
    owned = {*metrics, *map(_quality, metrics)}  # the file's registers and their quality metrics
    last_line = {r.end: r.line for rs in series.values() for r in rs}
    readings = []
    for t in stamps:
        # the file's metrics replace the stored reading's (its registers and their quality); other metrics stay
        kept = stored.get(t)
        data: dict[str, Any] = {} if kept is None else {m: v for m, v in kept.data.items() if m not in owned}
        for metric, fields in values[t].items():
            main = "value" if "Gas" in metric else "total"
            if main in fields:
                data[metric] = {**fields, "unit": "m3" if "Gas" in metric else "kWh"}
        for name, found in flagged.get(t, {}).items():
            data[name] = {"value": len(found), "unit": found[0][:16]}
        if not data or not any(m in data for m in metrics):
            continue
        try:
            readings.append(parse_reading({"timestamp": format_datetime(t), "data": data}))
        except DomainError as exc:
            report.rejected.append((last_line.get(t, 0), exc.message))
    return readings


def _quality(metric: str) -> str:
    """Electricity's intervals are flagged as `quality`, gas's as `gasQuality` (each file owns its own)."""
    return "gasQuality" if "Gas" in metric else "quality"


def _fill(values: dict[int, dict[str, dict[str, Any]]], stamps: list[int], rows: list[_Row], metric: str, name: str,
          stored: dict[int, Reading]) -> None:
    """Set values[t][metric][name] = base + Σ volumes ended by t, at every t of the series' span inside no interval."""
    starts = sorted(r.start for r in rows)
    by_end = sorted(rows, key=lambda r: r.end)
    ends = [r.end for r in by_end]
    sums = [Decimal(0)]
    for r in by_end:
        sums.append(sums[-1] + r.volume)
    first, last = starts[0], ends[-1]
    base = _base(stored.get(first), metric, name)
    for t in stamps[bisect_left(stamps, first):bisect_right(stamps, last)]:
        done = bisect_right(ends, t)
        if bisect_left(starts, t) - done > 0:  # an interval with start < t < end: its register is unknown at t
            continue
        values[t].setdefault(metric, {})[name] = float(base + sums[done])


def _stored_readings(store: Store | None, entity_id: uuid.UUID | None, stamps: list[int]) -> dict[int, Reading]:
    """The stored readings at the file's boundaries (its own span, paged), by timestamp."""
    if store is None or entity_id is None or not stamps:
        return {}
    from ..storage.base import as_reading

    wanted = set(stamps)
    found: dict[int, Reading] = {}
    start, end = stamps[0], stamps[-1] + 1
    while True:
        page = store.readings(entity_id, start, end, 10_000)
        found.update((r.ts, as_reading(r)) for r in page if r.ts in wanted)
        if len(page) < 10_000:
            return found
        start = page[-1].ts + 1


def _base(reading: Reading | None, metric: str, name: str) -> Decimal:
    """The stored register at a series' first boundary (the end of an earlier file), so a file continues it; else 0."""
    measurement = reading.data.get(metric) if reading is not None else None
    value = measurement.get(name) if isinstance(measurement, dict) else None
    return Decimal(repr(value)) if isinstance(value, (int, float)) and not isinstance(value, bool) else Decimal(0)


class LocalDialect:
    """The register CSV as a European spreadsheet saves it: decimal comma, `dd/mm/yyyy hh:mm` wall times in
    `zone` (the second of an autumn night's repeated wall times is the later instant; a skipped one is refused)."""

    def __init__(self, zone: tzinfo) -> None:
        self.zone = zone
        self.seen: set[datetime] = set()

    def number(self, cell: str) -> float:
        return float(number(cell))

    def timestamp(self, cell: str) -> str:
        try:
            local = _local(cell, None)
        except ValueError:
            return cell  # (the reading parser says what is wrong with it)
        if local.offset is not None:
            return format_datetime(to_micros(local.wall.replace(tzinfo=timezone(local.offset))))
        if not _exists(local.wall, self.zone):
            raise DomainError("InvalidReading", f"{cell.strip()!r} is not a local time in {self.zone}")
        fold = 1 if local.wall in self.seen and _ambiguous(local.wall, self.zone) else 0
        self.seen.add(local.wall)
        return format_datetime(_instant(local.wall, self.zone, fold))
