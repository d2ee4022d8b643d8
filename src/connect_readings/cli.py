"""`connect-readings`: serve, import, demo, token, entities, migrate, copy, backup, restore, mqtt. Thin: flags → Settings → calls."""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from .storage.base import Store

from .config import Settings, env_name, setting_type

DEMO_DAYS = 30
"""Days of data of a new demo database (`demo --days`)."""


def settings_options(*names: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Flags for these settings: `--jwt-secret` for `jwt_secret`, help and type from `Settings`.

    Flags default to None, so `Settings.from_env(**flags)` (the one place settings are read) takes each
    from its flag when given, else from its CONNECT_READINGS_* variable, else its default.
    """
    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for name in reversed(names):
            field = Settings.__dataclass_fields__[name]
            kind = setting_type(name)
            shown = "" if field.default is None else f" [default: {_shown(field.default)}]"
            flags = [*FLAG_ALIASES.get(name, ()), f"--{name.replace('_', '-')}"]
            if kind is bool and name in FLAG_ALIASES:  # `--tls`: a switch, as it always was
                option = click.option(*flags, name, is_flag=True, flag_value=True, default=None,
                                      help=f"{field.metadata['help']} (env {env_name(name)})")
            else:
                option = click.option(*flags, name, default=None, type=str if kind is tuple else kind,
                                      help=f"{field.metadata['help']}{shown} (env {env_name(name)})")
            command = option(command)
        return command
    return decorate


FLAG_ALIASES: dict[str, tuple[str, ...]] = {
    "mqtt_broker": ("--broker",), "mqtt_config": ("--config",), "mqtt_client_id": ("--client-id",),
    "mqtt_share_group": ("--share-group",), "mqtt_batch_readings": ("--batch-readings",),
    "mqtt_batch_ms": ("--batch-ms",), "mqtt_session_expiry_s": ("--session-expiry",),
    "mqtt_username": ("--username",), "mqtt_password": ("--password",), "mqtt_tls": ("--tls",),
    "mqtt_ca_file": ("--ca-file",), "mqtt_stats_interval_s": ("--stats-interval",),
    "mqtt_max_payload_bytes": ("--max-payload-bytes",),
}
"""The flags the MQTT settings had before they were settings (`connect-readings mqtt --broker …`), kept."""
MQTT_SETTINGS = tuple(name for name in Settings.__dataclass_fields__ if name.startswith("mqtt_"))


def _shown(value: object) -> str:
    return ",".join(value) if isinstance(value, tuple) else str(value)


SERVER_SETTINGS = tuple(name for name in Settings.__dataclass_fields__ if not name.startswith("mqtt_"))


def _settings(flags: dict[str, Any]) -> Settings:
    """`Settings.from_env(**flags)`, a bad value (of a flag or a variable) said as an error, not a traceback."""
    try:
        return Settings.from_env(**flags)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


def _say_database(settings: Settings, flags: dict[str, Any], say: Callable[[str], None] | None = None) -> None:
    """One line on stderr naming the database, when the command line did not: every command's default is the
    same file (DEFAULT_DATABASE, in the working directory), so `demo`, `token`, `import` and `serve` meet.
    `say`: where the line goes instead (a logger, so that a JSON log holds nothing else)."""
    if flags.get("database") is not None:
        return
    given = os.environ.get(env_name("database"))
    source = f"from {env_name('database')}" if given else f"the default; --database or {env_name('database')} for another"
    line = f"using the database {_without_password(settings.database)} ({source})"
    if say is not None:
        say(line)
    else:
        click.echo(line, err=True)


def _without_password(database: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    from .storage.base import is_postgres_url

    if not is_postgres_url(database):
        return database
    parts = urlsplit(database)
    if parts.password is None:
        return database
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)))


@click.group()
@click.version_option(package_name="connect-readings")
def main() -> None:
    """Store energy-device readings and serve exact time-bucketed aggregations."""


@main.command()
@settings_options(*SERVER_SETTINGS)
def serve(**flags: Any) -> None:
    """Serve the API."""
    settings = _settings(flags)
    _say_database(settings, flags)
    _serve(settings)


@main.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--entity", default=None, type=click.UUID, help="the entity the readings belong to")
@click.option("--prices", "price_id", default=None, help="import prices into this price series instead (e.g. "
              "be-dayahead): --format entsoe (an ENTSO-E day-ahead XML document) or csv (start,end,price)")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "p1", "interval", "entsoe"]), default=None,
              help="default: from the file's extension (.csv, .p1, .xml for --prices, else jsonl); interval: a grid "
                   "operator's interval volumes; entsoe: ENTSO-E day-ahead prices (README, Import formats)")
@click.option("--unit", default=None, type=click.Choice(["EUR/MWh", "EUR/kWh"]),
              help="--prices with --format csv: the unit of the prices [default: EUR/MWh]")
@click.option("--name", default=None, help="--prices: the series' name [default: kept, or none]")
@click.option("--sequence", default=None, type=click.IntRange(1), help="--prices with --format entsoe: keep only "
              "the TimeSeries of this classification sequence position")
@click.option("--time-zone", default=None, help="zone of local times (interval files, a ';' CSV) [default for "
              "interval files: the entity's zone, else the preset's (Europe/Brussels for fluvius), else "
              "CONNECT_READINGS_DEFAULT_TIME_ZONE]")
@click.option("--preset", type=click.Choice(["fluvius"]), default=None, help="interval file layout [default: fluvius]")
@click.option("--columns", default=None, help="interval file layout by column names instead of a preset: "
              "start=DATE+TIME,end=DATE+TIME,register=…,volume=…[,unit=…][,status=…]")
@settings_options("database")
def import_(file: Path, entity: uuid.UUID | None, price_id: str | None, fmt: str | None, unit: str | None,
            name: str | None, sequence: int | None, time_zone: str | None, preset: str | None,
            columns: str | None, **flags: Any) -> None:
    """Bulk-import readings (idempotent: re-importing replaces, never duplicates), or prices (--prices)."""
    from tqdm import tqdm

    if (entity is None) == (price_id is None):
        raise click.UsageError("give either --entity UUID (readings) or --prices ID (a price series)")
    if price_id is not None:
        _import_prices(file, price_id, fmt, unit, name, sequence, time_zone, flags)
        return
    if fmt == "entsoe" or unit is not None or name is not None or sequence is not None:
        raise click.UsageError("--format entsoe, --unit, --name and --sequence import prices: give --prices ID")

    from .domain.errors import DomainError
    from .ingest.importer import import_file
    from .storage import open_store

    settings = _settings(flags)
    fmt = fmt or {".csv": "csv", ".p1": "p1"}.get(file.suffix.lower(), "jsonl")
    _say_database(settings, flags)
    store = open_store(settings.database, ingest_on_workers=settings.citus_ingest_on_workers)
    began = time.perf_counter()
    with file.open("rb") as handle, tqdm(total=file.stat().st_size, unit="B", unit_scale=True,
                                          disable=None, file=sys.stderr) as bar:
        try:
            report = import_file(store, entity, handle, fmt, bar.update, time_zone, preset, columns,
                                 settings.default_time_zone)
        except DomainError as exc:
            store.close()
            raise click.ClickException(exc.message + _format_hint(file, fmt)) from None
    elapsed = time.perf_counter() - began
    click.echo(f"read {report.read}, written {report.written}, replaced {report.replaced}, "
               f"rejected {len(report.rejected)} in {elapsed:.1f} s ({report.read / max(elapsed, 1e-9):,.0f} readings/s)")
    failed = bool(report.rejected) and len(report.rejected) == report.read
    shown = 5 if failed else 100  # (when all failed, the first few say why; the rest say the same)
    for note in report.notes:
        click.echo(f"  note: {note}")
    for line_no, message in report.rejected[:shown]:
        click.echo(f"  line {line_no}: {message}")
    if len(report.rejected) > shown:
        click.echo(f"  … and {len(report.rejected) - shown} more")
    store.close()
    if failed:
        unit = "telegram" if fmt == "p1" else "line"
        message = f"every {unit} was rejected (as {fmt}); nothing was written." + _format_hint(file, fmt)
        raise click.ClickException(message)  # (a file that gives nothing is a failure, whatever chose its format)


def _import_prices(file: Path, price_id: str, fmt: str | None, unit: str | None, name: str | None,
                   sequence: int | None, time_zone: str | None, flags: dict[str, Any]) -> None:
    """`import FILE --prices ID`: an ENTSO-E document or a start,end,price CSV into a price series, through the
    store's put_prices (each interval replaces what it overlaps of the stored series: re-importing is safe)."""
    from .domain.errors import DomainError
    from .domain.prices import PriceSeries, check_disjoint, check_price_id
    from .domain.timefmt import format_datetime, parse_time_zone
    from .ingest.entsoe import parse_entsoe, parse_price_csv
    from .storage import open_store

    fmt = fmt or {".xml": "entsoe", ".csv": "csv"}.get(file.suffix.lower())
    if fmt not in ("entsoe", "csv"):
        raise click.UsageError("--prices takes --format entsoe (ENTSO-E day-ahead XML) or --format csv "
                               "(start,end,price)")
    if fmt == "entsoe" and unit is not None:
        raise click.UsageError("--unit applies to --format csv (an ENTSO-E document names its own unit, EUR/MWh)")
    if fmt == "csv" and sequence is not None:
        raise click.UsageError("--sequence applies to --format entsoe")
    settings = _settings(flags)
    try:
        check_price_id(price_id)
        if fmt == "entsoe":
            unit = "EUR/MWh"
            intervals = parse_entsoe(file.read_bytes(), sequence)
        else:
            unit = unit or "EUR/MWh"
            zone = parse_time_zone(time_zone or settings.default_time_zone)
            intervals = parse_price_csv(file.read_text(encoding="utf-8"), zone, unit)
        check_disjoint(intervals)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    except ValueError as exc:
        raise click.ClickException(f"the file's intervals overlap ({exc}); give --sequence to keep one "
                                   "TimeSeries") from None
    _say_database(settings, flags)
    store = open_store(settings.database)
    try:
        count, created = store.put_prices(PriceSeries(price_id, name, unit), intervals, time.time_ns() // 1000)
    finally:
        store.close()
    span = (f" from {format_datetime(intervals[0].start)} to {format_datetime(intervals[-1].end)}"
            if intervals else "")
    click.echo(f"read {len(intervals)} price intervals{span}; {'created' if created else 'updated'} "
               f"{price_id}, which holds {count}")


def _format_hint(file: Path, fmt: str) -> str:
    """" The file looks like …: try --format X." when another format recognises the file's start, else ""."""
    from .ingest.importer import FORMAT_NAMES, guess_format

    with file.open("rb") as handle:
        guess = guess_format(handle.read(64 * 1024))
    if guess is None or guess == fmt:
        return ""
    return f" The file looks like {FORMAT_NAMES[guess]}: try --format {guess}."


@main.command()
@click.option("--days", default=None, type=click.IntRange(1, 3650),
              help=f"days of data, ending now [default: {DEMO_DAYS}, or what an existing demo database holds]; "
                   "a number other than what the demo database holds rebuilds it")
@click.option("--no-serve", is_flag=True, help="create the data and print the token, then exit")
@settings_options(*SERVER_SETTINGS)
def demo(days: int | None, no_serve: bool, **flags: Any) -> None:
    """Fill the database with realistic synthetic meters, print a token and curl commands, then serve.

    The database is every command's: --database, else CONNECT_READINGS_DATABASE, else connect-readings.db in
    the working directory, so `token`, `import`, `entities` and `serve` without --database reach the demo's
    data. The demo writes only into an empty database or one it made (it refuses one holding other entities).
    """
    from tqdm import tqdm

    from .demo import DEMO_ENTITIES, EV_CHARGER, HOUSEHOLD, ev_session, load_demo
    from .domain.timefmt import format_datetime
    from .storage import open_store

    settings = _settings(flags)
    _say_database(settings, flags)
    store = open_store(settings.database)
    held = _demo_days(settings, store)
    if held is not None and days is not None and days != held:
        click.echo(f"rebuilding {settings.database}: it holds {_days(held)}, --days asks for {days}", err=True)
        store = _emptied(settings, store, held, days)
        held = None
    if held is None:
        days = days or DEMO_DAYS
        now = time.time_ns() // 1000
        total = days * (8640 + 24 + 1440)
        with tqdm(total=total, unit=" readings", disable=None, file=sys.stderr) as bar:
            written = load_demo(store, now, days, bar.update)
        store.meta_value(DEMO_DAYS_KEY, str(days))
        click.echo(f"created {settings.database} with {written:,} readings ({_days(days)})")
        last_ts = now
    else:
        last = store.last_reading(HOUSEHOLD)
        assert last is not None
        last_ts = last.ts
        click.echo(f"using the existing demo database {settings.database} ({_days(held)} of data, ending "
                   f"{format_datetime(last_ts)}; --days N rebuilds it with another span)")
    # (tariffs:write too: the demo's tariffs and prices are there to be changed and the costs compared)
    token = _mint(settings, store, [], True, "readings:read readings:write tariffs:write", 7 * 86400)
    store.close()
    today = last_ts - last_ts % 86_400_000_000
    start = format_datetime(today - 86_400_000_000)
    week = format_datetime(today - 7 * 86_400_000_000)
    tomorrow = format_datetime(today + 86_400_000_000)
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from .demo import DEMO_TIME_ZONE
    last_local = datetime.fromtimestamp(last_ts / 1_000_000, ZoneInfo(DEMO_TIME_ZONE)).date()
    local_week = (last_local - timedelta(days=7)).isoformat()  # a local date: the costs' days are whole local days
    plugged, unplugged = (format_datetime(t) for t in ev_session(last_ts))
    base = f"http://{settings.host}:{settings.port}"
    click.echo("\nentities:")
    for entity_id, label in DEMO_ENTITIES.items():
        click.echo(f"  {entity_id}  {label}")
    click.echo(f"default time zone of entities without one: {settings.default_time_zone or 'UTC'} "
               f"({env_name('default_time_zone')}; the demo's are in Europe/Brussels)")
    click.echo(f"\nbearer token (7 days, all entities):\n{token}\n")
    click.echo(f"dashboard (signs in with the token):\n  {base}/#token={token}\nAPI docs: {base}/docs\n")
    click.echo("try:")
    click.echo(f'  export TOKEN={token}')
    click.echo(f'  curl -H "Authorization: Bearer $TOKEN" "{base}/v1/entities/{HOUSEHOLD}/aggregations'
               f'?start={start}&resolution=15%20minutes"')
    click.echo(f'  curl -H "Authorization: Bearer $TOKEN" "{base}/v1/entities/{HOUSEHOLD}/aggregations'
               f'?start={start}&resolution=1%20day&timeZone=Europe/Berlin"')
    click.echo(f'  curl -H "Authorization: Bearer $TOKEN" "{base}/v1/entities/{HOUSEHOLD}/readings/last"')
    click.echo(f'  curl -H "Authorization: Bearer $TOKEN" "{base}/v1/entities/{HOUSEHOLD}/statistics'
               f'?start={week}&resolution=1%20day&timeZone=Europe/Brussels"')
    click.echo(f'  curl -H "Authorization: Bearer $TOKEN" "{base}/v1/entities/{EV_CHARGER}/statistics'
               f'?start={plugged}&end={unplugged}&resolution=1%20hour&metrics=stateOfCharge,range,positiveActiveInstantaneousPower"')
    click.echo(f'  curl -H "Authorization: Bearer $TOKEN" "{base}/v1/entities/{HOUSEHOLD}/statistics/capacity-tariff'
               f'?start={week}&end={tomorrow}"')
    click.echo(f'  curl -H "Authorization: Bearer $TOKEN" "{base}/v1/entities/{HOUSEHOLD}/costs'
               f'?start={local_week}&resolution=1%20day"')
    click.echo(f'  curl -H "Authorization: Bearer $TOKEN" "{base}/v1/entities/{HOUSEHOLD}/tariff"'
               "  # PUT it back changed (the token may: tariffs:write), then ask the costs again\n")
    if not no_serve:
        _serve(settings)


DEMO_DAYS_KEY = "demo_days"
"""The store's meta key recording the days of data `demo` made."""


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def _demo_days(settings: Settings, store: Store) -> int | None:
    """The days of data of the demo database, None when it holds none yet; ClickException when the database
    holds entities other than the demo's (the demo never writes into someone's real data)."""
    from .demo import DAY, DEMO_ENTITIES, HOUSEHOLD, SECOND

    others = [e.entity_id for e in store.entities(None, len(DEMO_ENTITIES) + 1) if e.entity_id not in DEMO_ENTITIES]
    if others:
        store.close()
        raise click.ClickException(
            f"{_without_password(settings.database)} holds entities other than the demo's (e.g. {others[0]}); the "
            f"demo writes only into an empty database or one it made. Give it a database of its own, e.g. --database "
            f"connect-readings-demo.db, and the same --database (or {env_name('database')}) to token, import and serve.")
    last = store.last_reading(HOUSEHOLD)
    if last is None:
        return None
    recorded = store.meta_get(DEMO_DAYS_KEY)
    if recorded is not None and recorded.isdigit():
        return int(recorded)
    first = store.readings(HOUSEHOLD, 0, 2**62, 1)[0].ts  # (a demo database of before the key: its span)
    return max(1, round((last.ts - first + 10 * SECOND) / DAY))


def _emptied(settings: Settings, store: Store, held: int, days: int) -> Store:
    """A new, empty demo database in place of `store`'s (a SQLite file: deleted and made again)."""
    from .storage import open_store
    from .storage.base import is_postgres_url

    store.close()
    if is_postgres_url(settings.database):
        raise click.ClickException(
            f"the demo database holds {_days(held)}; giving it {days} means deleting it, which the demo does only to "
            f"a SQLite file. Drop and create the PostgreSQL database yourself, or run demo with --days {held}.")
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(settings.database + suffix).unlink(missing_ok=True)
    return open_store(settings.database)


@main.command()
@click.option("--entity", "entities", multiple=True, type=click.UUID, help="an entity the token may see (repeatable)")
@click.option("--all", "all_entities", is_flag=True, help="every entity")
@click.option("--scope", default="readings:read", show_default=True,
              help='space-separated: readings:read, readings:write, entities:write, tariffs:write '
                   '(e.g. "readings:read readings:write")')
@click.option("--ttl", default="1h", show_default=True, help="lifetime, e.g. 15m, 1h, 7 days")
@settings_options("database", "jwt_secret", "jwt_issuer", "jwt_audience")
def token(entities: tuple[uuid.UUID, ...], all_entities: bool, scope: str, ttl: str, **flags: Any) -> None:
    """Mint an HS256 bearer token (with the database's generated secret when no secret is set)."""
    from .domain.errors import DomainError
    from .domain.interval import parse_resolution
    from .storage import open_store

    if bool(entities) == all_entities:
        raise click.UsageError("give either --entity UUID (one or more) or --all")
    try:
        lifetime = parse_resolution(ttl)
    except DomainError as exc:
        raise click.BadParameter(exc.message, param_hint="--ttl") from None
    if lifetime.months:
        raise click.BadParameter("use days or hours, not months", param_hint="--ttl")
    seconds = lifetime.days * 86400 + lifetime.micros / 1e6
    settings = _settings(flags)
    if not settings.jwt_secret:
        _say_database(settings, flags)
    store = None if settings.jwt_secret else open_store(settings.database)
    click.echo(_mint(settings, store, [str(e) for e in entities], all_entities, scope, seconds))
    if store is not None:
        store.close()


def _mint(settings: Settings, store: Store | None, entities: list[str], all_entities: bool, scope: str,
          ttl_s: float) -> str:
    import secrets

    from .api.auth import MIN_SECRET_BYTES, mint_token

    secret = settings.jwt_secret or store.meta_value("jwt_secret", secrets.token_urlsafe(32))  # type: ignore[union-attr]
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise click.UsageError(f"the JWT secret must be at least {MIN_SECRET_BYTES} bytes (the server refuses shorter ones)")
    return mint_token(secret, "*" if all_entities else entities, scope, ttl_s, settings.jwt_issuer, settings.jwt_audience)


def _serve(settings: Settings) -> None:
    from .server import serve
    from .storage import open_store

    # migrate once, before workers race to do it
    open_store(settings.database, compress_after_days=settings.timescaledb_compress_after_days).close()
    _start_operations(settings)
    os.environ.update(settings.to_env())
    serve(settings)


def _start_operations(settings: Settings) -> None:
    """Settings checked, and the metrics listener started, before any worker (api/operations.py)."""
    from .api import operations

    try:
        operations.start(settings)
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None


@main.group(invoke_without_command=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="a table, or one JSON object per line (the API's entity JSON)")
@settings_options("database")
@click.pass_context
def entities(ctx: click.Context, fmt: str, **flags: Any) -> None:
    """List the registered entities (id, type, name, last seen), by id; `entities set ID …` describes one."""
    import orjson

    from .wire.encode import entity as entity_json
    from .domain.timefmt import format_datetime
    from .storage import open_store

    if ctx.invoked_subcommand is not None:
        return
    settings = _settings(flags)
    _say_database(settings, flags)
    store = open_store(settings.database)
    try:
        rows: list[tuple[str, str, str, str]] = []
        after = None
        while True:
            page = store.entities(after, 1000)
            for record in page:
                if fmt == "json":
                    click.echo(orjson.dumps(entity_json(record)).decode())
                else:
                    rows.append((str(record.entity_id), record.type or "-", record.name or "-",
                                 "-" if record.last_seen is None else format_datetime(record.last_seen)))
            if len(page) < 1000:
                break
            after = page[-1].entity_id
    finally:
        store.close()
    if fmt == "table":
        header = ("id", "type", "name", "last seen")
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
        for row in [header, *rows]:
            click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


@entities.command("set")
@click.argument("entity_id", metavar="ID", type=click.UUID)
@click.option("--name", default=None, help="at most 200 characters (empty: none)")
@click.option("--type", "kind", default=None, help="Battery, ChargePoint, EV, HeatPump, SolarPlant, RetrofitMeter, "
              "Meter or Inverter (empty: none)")
@click.option("--time-zone", default=None, help="IANA name, the default zone of its queries, e.g. Europe/Brussels "
              "(empty: none, so the default_time_zone setting, else UTC)")
@settings_options("database")
@click.pass_context
def entities_set(ctx: click.Context, entity_id: uuid.UUID, name: str | None, kind: str | None,
                 time_zone: str | None, **flags: Any) -> None:
    """Set an entity's name, type or time zone, keeping the rest of its description (registers it if new).

    The rules are those of PUT /v1/entities/{id}; an empty value clears the field.
    """
    import orjson

    from .domain.entities import parse_entity
    from .domain.errors import DomainError
    from .storage import open_store

    given = {"name": name, "type": kind, "timeZone": time_zone}
    if all(value is None for value in given.values()):
        raise click.UsageError("give at least one of --name, --type, --time-zone")
    if flags.get("database") is None and ctx.parent is not None:  # (`entities --database X set …`)
        flags["database"] = ctx.parent.params.get("database")
    settings = _settings(flags)
    _say_database(settings, flags)
    store = open_store(settings.database)
    try:
        old = store.entity(entity_id)
        document: dict[str, Any] = {} if old is None else {
            "type": old.type, "name": old.name, "brand": old.brand, "identifier": old.identifier,
            "parentId": None if old.parent_id is None else str(old.parent_id), "properties": old.properties,
            "timeZone": old.time_zone}
        document.update({key: value or None for key, value in given.items() if value is not None})
        try:
            record = parse_entity(orjson.dumps(document), entity_id, time.time_ns() // 1000,
                                  lambda parent: store.entity_head(parent) is not None)
            stored, created = store.put_entity(record)
        except DomainError as exc:
            raise click.ClickException(exc.message) from None
    finally:
        store.close()
    zone = stored.time_zone or f"none (so {settings.default_time_zone or 'UTC'})"
    click.echo(f"{'registered' if created else 'updated'} {entity_id}: type {stored.type or '-'}, "
               f"name {stored.name or '-'}, time zone {zone}")


@main.command()
@settings_options("database", "timescaledb_compress_after_days")
def migrate(**flags: Any) -> None:
    """Apply pending schema migrations (PostgreSQL or SQLite) and print the schema version."""
    from .storage import open_store

    settings = _settings(flags)
    _say_database(settings, flags)
    # opening a store migrates it
    store = open_store(settings.database, compress_after_days=settings.timescaledb_compress_after_days)
    try:
        click.echo(f"schema version {store.migrate()}")
    finally:
        store.close()


@main.command()
@settings_options(*MQTT_SETTINGS, "database", "metrics_port", "metrics_host", "max_batch", "log_format")
def mqtt(**flags: Any) -> None:
    """Ingest readings from an MQTT broker (QoS 1, persistent session; acknowledged after commit).

    Every option is a setting (`CONNECT_READINGS_MQTT_*`, config.py); --broker and --config are required."""
    import dataclasses

    from .ingest import mqtt as ingest
    from .logs import configure_process_logging
    from .storage import open_store

    settings = _settings(flags)
    configure_process_logging(settings.log_format)
    for name, flag in (("mqtt_broker", "--broker"), ("mqtt_config", "--config")):
        if getattr(settings, name) is None:
            raise click.UsageError(f"Missing option '{flag}' (or {env_name(name)}).")
    if settings.mqtt_ca_file is not None and not Path(settings.mqtt_ca_file).is_file():
        raise click.BadParameter(f"no such file: {settings.mqtt_ca_file}", param_hint="'--ca-file'")
    _say_database(settings, flags, ingest.log.info)
    try:
        address = ingest.parse_broker(settings.mqtt_broker, settings.mqtt_tls)
        if settings.mqtt_username is not None or settings.mqtt_password is not None:
            address = dataclasses.replace(
                address, username=settings.mqtt_username or address.username,
                password=settings.mqtt_password if settings.mqtt_password is not None else address.password)
        ingest.check_share_group(settings.mqtt_share_group)
        options = ingest.Options(
            broker=address, rules=ingest.load_config(Path(settings.mqtt_config)), database=settings.database,
            client_id=settings.mqtt_client_id or ingest.default_client_id(), share_group=settings.mqtt_share_group,
            batch_readings=settings.mqtt_batch_readings, batch_ms=settings.mqtt_batch_ms,
            session_expiry_s=settings.mqtt_session_expiry_s, ca_file=settings.mqtt_ca_file,
            max_batch=settings.max_batch, stats_s=settings.mqtt_stats_interval_s, metrics_port=settings.metrics_port,
            metrics_host=settings.metrics_host, max_payload_bytes=settings.mqtt_max_payload_bytes)
        store = open_store(settings.database, ingest_on_workers=settings.citus_ingest_on_workers)
        try:
            process = ingest.Ingest(options, store)
            process.run()
        finally:
            store.close()
    except ingest.ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if process.failure:
        raise click.ClickException(process.failure)


@main.command("copy")
@click.option("--from", "source", required=True, help="the database to copy from (a SQLite file or a postgresql:// URL)")
@click.option("--to", "target", required=True, help="the database to copy into (migrated if needed)")
@click.option("--batch", default=5_000, show_default=True, type=click.IntRange(1, 100_000), help="readings per ingest")
def copy_(source: str, target: str, batch: int) -> None:
    """Copy one database into another, e.g. an embedded one into PostgreSQL (idempotent: safe to re-run)."""
    from tqdm import tqdm

    from .ingest.copy import copy_store
    from .storage import open_store
    from .storage.base import is_postgres_url

    if not is_postgres_url(source) and not Path(source).is_file():
        raise click.BadParameter(f"no such database file: {source}", param_hint="--from")
    if not is_postgres_url(target):
        raise click.BadParameter("must be a postgresql:// URL", param_hint="--to")
    src = open_store(source)
    dst = open_store(target)
    began = time.perf_counter()
    try:
        with tqdm(total=src.reading_count(), unit=" readings", unit_scale=True, disable=None, file=sys.stderr) as bar:
            report = copy_store(src, dst, batch, bar.update)
    finally:
        dst.close()
        src.close()
    elapsed = time.perf_counter() - began
    click.echo(f"copied {report.readings:,} readings of {report.entities:,} entities in {elapsed:.1f} s "
               f"(written {report.written:,}, replaced {report.replaced:,})")
    if report.meta_copied:
        click.echo(f"signing keys in place: {', '.join(report.meta_copied)}")
    for key in report.meta_conflicts:
        click.echo(f"warning: the target already has another {key}; kept it, so tokens signed with the "
                   f"source database's {key} will not be accepted there", err=True)


# -- backup and restore (a SQLite database; PostgreSQL has pg_dump and pg_restore) ----------------------------
CONNECT_READINGS_TABLES = frozenset({"meta", "entities", "readings", "resets", "series"})
"""Tables every connect-readings SQLite database has (from migration 1 and 2 on): how a file is recognised."""


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else many or one + 's'}"


def _pg_hint(database: str, command: str, file: str) -> str:
    """The pg_dump/pg_restore command line for `database` (a PostgreSQL URL), without its password."""
    import shlex
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(database)
    if parts.password is not None:
        parts = parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", "@", 1))
    url = urlunsplit(parts)
    if command == "pg_dump":
        return (f"  pg_dump --format=custom --file {shlex.quote(file)} {shlex.quote(url)}\n"
                "(the password from PGPASSWORD or ~/.pgpass; pg_dump's copy is consistent while the server serves)")
    return (f"  pg_restore --clean --if-exists --no-owner --dbname {shlex.quote(url)} {shlex.quote(file)}\n"
            "(the password from PGPASSWORD or ~/.pgpass; then `connect-readings migrate --database URL` upgrades "
            "the schema of an older dump)")


def _sqlite_state(path: str) -> tuple[int, int, int] | None:
    """(schema version, entities, readings) of a connect-readings SQLite file, read without writing to it;
    None when the file is a SQLite database of something else. click.ClickException when it is no SQLite
    database at all."""
    import sqlite3

    try:
        conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise click.ClickException(f"{path} cannot be opened as a SQLite database: {exc}") from None
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version < 1 or not CONNECT_READINGS_TABLES <= tables:
            return None
        entities = conn.execute("SELECT count(*) FROM entities").fetchone()[0]
        readings = conn.execute("SELECT count(*) FROM readings").fetchone()[0]
        return version, entities, readings
    except sqlite3.DatabaseError:  # (a file that is not a database fails at its first read)
        raise click.ClickException(f"{path} is not a SQLite database (not a connect-readings backup)") from None
    finally:
        conn.close()


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="overwrite FILE when it exists")
@settings_options("database")
def backup(file: Path, force: bool, **flags: Any) -> None:
    """Copy the SQLite database into FILE, consistently, while the server may be serving it.

    SQLite's online backup: one read transaction, so FILE holds the database as of one instant (writers go on
    meanwhile). FILE is written beside itself and renamed into place, so a failed backup leaves no partial
    file. For PostgreSQL, it prints the pg_dump command to use instead.
    """
    import sqlite3
    import tempfile

    from .storage.base import is_postgres_url

    settings = _settings(flags)
    _say_database(settings, flags)
    database = settings.database
    if is_postgres_url(database):
        raise click.ClickException("backup copies a SQLite database; for PostgreSQL use its own tools:\n"
                                   + _pg_hint(database, "pg_dump", str(file)))
    if not Path(database).is_file():
        raise click.ClickException(f"no such database file: {database}")
    if _sqlite_state(database) is None:
        raise click.ClickException(f"{database} is not a connect-readings database (no readings schema)")
    if file.exists() and not force:
        raise click.ClickException(f"{file} exists; give --force to overwrite it")
    if file.resolve() == Path(database).resolve():
        raise click.ClickException("FILE is the database itself; give another path")
    handle, temporary = tempfile.mkstemp(prefix=f".{file.name}.", suffix=".partial", dir=file.parent or ".")
    os.close(handle)
    try:
        os.chmod(temporary, Path(database).stat().st_mode & 0o777)  # (readable by whom the database is)
        source = sqlite3.connect(database, timeout=30.0)
        target = sqlite3.connect(temporary)
        try:
            source.backup(target)  # all pages in one step: one read transaction, one consistent state
            target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file (a store reopens it in WAL)
            version = target.execute("PRAGMA user_version").fetchone()[0]
            entities = target.execute("SELECT count(*) FROM entities").fetchone()[0]
            readings = target.execute("SELECT count(*) FROM readings").fetchone()[0]
        finally:
            target.close()
            source.close()
        os.replace(temporary, file)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    click.echo(f"wrote {file}: {_count(entities, 'entity', 'entities')}, {_count(readings, 'reading')}, "
               f"{file.stat().st_size:,} bytes "
               f"(schema version {version})")


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="replace a database that holds data")
@settings_options("database")
def restore(file: Path, force: bool, **flags: Any) -> None:
    """Copy a backup FILE into the SQLite database, then migrate it (an older backup is upgraded).

    Refuses a database that holds entities or readings unless --force (everything in it is replaced), and a
    FILE that is not a connect-readings SQLite database. Stop the server first: a running one keeps answering
    from what it remembered of the replaced data.
    """
    import sqlite3

    from .storage.base import is_postgres_url, latest_migration
    from .storage.sqlite import SQLiteStore

    settings = _settings(flags)
    _say_database(settings, flags)
    database = settings.database
    if is_postgres_url(database):
        raise click.ClickException("restore writes a SQLite database; for PostgreSQL use its own tools:\n"
                                   + _pg_hint(database, "pg_restore", str(file)))
    if not file.is_file():
        raise click.ClickException(f"no such backup file: {file}")
    state = _sqlite_state(str(file))
    if state is None:
        raise click.ClickException(f"{file} is a SQLite database but not a connect-readings one (it has no "
                                   "readings schema); nothing was restored")
    version, entities, readings = state
    if version > latest_migration("sqlite"):
        raise click.ClickException(f"{file} has schema version {version}, newer than this connect-readings knows "
                                   f"({latest_migration('sqlite')}); restore it with a newer version")
    if Path(database).exists() and Path(database).stat().st_size > 0 and not force:
        held = _sqlite_state(database)
        if held is None:
            raise click.ClickException(f"{database} exists and is not a connect-readings database; give --force "
                                       "to replace it")
        if held[1] or held[2]:
            raise click.ClickException(f"{database} holds {_count(held[1], 'entity', 'entities')} and "
                                       f"{_count(held[2], 'reading')}; give --force to replace them with the "
                                       "backup's")
    if Path(database).resolve() == file.resolve():
        raise click.ClickException("FILE is the database itself; give another path")
    source = sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True)
    target = sqlite3.connect(database, timeout=30.0)
    try:
        source.backup(target)  # page by page through the target's own connection: its WAL stays consistent
    except sqlite3.Error as exc:
        raise click.ClickException(f"restoring into {database} failed, nothing was changed: {exc}") from None
    finally:
        target.close()
        source.close()
    store = SQLiteStore(database)  # opening it migrates an older backup to the current schema
    try:
        now = store.migrate()
    finally:
        store.close()
    upgraded = f"schema version {version} → {now}" if now != version else f"schema version {now}"
    click.echo(f"restored {file} into {database}: {_count(entities, 'entity', 'entities')}, "
               f"{_count(readings, 'reading')} ({upgraded})")


if __name__ == "__main__":
    main()
