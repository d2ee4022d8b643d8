"""`connect-readings`: serve, import, demo, token, entities, migrate, copy, mqtt. Thin: flags → Settings → calls."""

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

DEMO_DATABASE = "connect-readings-demo.db"


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
            command = click.option(
                f"--{name.replace('_', '-')}", name, default=None, type=str if kind is tuple else kind,
                help=f"{field.metadata['help']}{shown} (env {env_name(name)})",
            )(command)
        return command
    return decorate


def _shown(value: object) -> str:
    return ",".join(value) if isinstance(value, tuple) else str(value)


SERVER_SETTINGS = tuple(name for name in Settings.__dataclass_fields__)


@click.group()
@click.version_option(package_name="connect-readings")
def main() -> None:
    """Store energy-device readings and serve exact time-bucketed aggregations."""


@main.command()
@settings_options(*SERVER_SETTINGS)
def serve(**flags: Any) -> None:
    """Serve the API."""
    _serve(Settings.from_env(**flags))


@main.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--entity", required=True, type=click.UUID, help="the entity the readings belong to")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "p1"]), default=None,
              help="default: from the file's extension (.csv, .p1, else jsonl)")
@settings_options("database")
def import_(file: Path, entity: uuid.UUID, fmt: str | None, **flags: Any) -> None:
    """Bulk-import readings (idempotent: re-importing replaces, never duplicates)."""
    from tqdm import tqdm

    from .domain.errors import DomainError
    from .ingest.importer import import_file
    from .storage import open_store

    settings = Settings.from_env(**flags)
    fmt = fmt or {".csv": "csv", ".p1": "p1"}.get(file.suffix.lower(), "jsonl")
    store = open_store(settings.database)
    began = time.perf_counter()
    with file.open("rb") as handle, tqdm(total=file.stat().st_size, unit="B", unit_scale=True,
                                          disable=None, file=sys.stderr) as bar:
        try:
            report = import_file(store, entity, handle, fmt, bar.update)
        except DomainError as exc:
            raise click.ClickException(exc.message) from None
    elapsed = time.perf_counter() - began
    click.echo(f"read {report.read}, written {report.written}, replaced {report.replaced}, "
               f"rejected {len(report.rejected)} in {elapsed:.1f} s ({report.read / max(elapsed, 1e-9):,.0f} readings/s)")
    for line_no, message in report.rejected[:100]:
        click.echo(f"  line {line_no}: {message}")
    if len(report.rejected) > 100:
        click.echo(f"  … and {len(report.rejected) - 100} more")
    store.close()


@main.command()
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 3650))
@click.option("--no-serve", is_flag=True, help="create the data and print the token, then exit")
@settings_options(*SERVER_SETTINGS)
def demo(days: int, no_serve: bool, **flags: Any) -> None:
    """Create a database with realistic synthetic meters, print a token and curl commands, then serve.

    The database defaults to connect-readings-demo.db (not the server's default database).
    """
    from tqdm import tqdm

    from .demo import DEMO_ENTITIES, EV_CHARGER, HOUSEHOLD, ev_session, load_demo
    from .domain.timefmt import format_datetime
    from .storage import open_store

    if flags.get("database") is None and not os.environ.get(env_name("database")):
        flags["database"] = DEMO_DATABASE
    settings = Settings.from_env(**flags)
    store = open_store(settings.database)
    last = store.last_reading(HOUSEHOLD)
    if last is None:
        now = time.time_ns() // 1000
        total = days * (8640 + 24 + 1440)
        with tqdm(total=total, unit=" readings", disable=None, file=sys.stderr) as bar:
            written = load_demo(store, now, days, bar.update)
        click.echo(f"created {settings.database} with {written:,} readings")
        last_ts = now
    else:
        last_ts = last.ts
        click.echo(f"using the existing demo database {settings.database}")
    token = _mint(settings, store, [], True, "readings:read readings:write", 7 * 86400)
    store.close()
    today = last_ts - last_ts % 86_400_000_000
    start = format_datetime(today - 86_400_000_000)
    week = format_datetime(today - 7 * 86_400_000_000)
    tomorrow = format_datetime(today + 86_400_000_000)
    plugged, unplugged = (format_datetime(t) for t in ev_session(last_ts))
    base = f"http://{settings.host}:{settings.port}"
    click.echo("\nentities:")
    for entity_id, label in DEMO_ENTITIES.items():
        click.echo(f"  {entity_id}  {label}")
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
               f'?start={week}&end={tomorrow}"\n')
    if not no_serve:
        _serve(settings)


@main.command()
@click.option("--entity", "entities", multiple=True, type=click.UUID, help="an entity the token may see (repeatable)")
@click.option("--all", "all_entities", is_flag=True, help="every entity")
@click.option("--scope", default="readings:read", show_default=True, help='e.g. "readings:read readings:write"')
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
    settings = Settings.from_env(**flags)
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

    open_store(settings.database).close()  # migrate once, before workers race to do it
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


@main.command()
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="a table, or one JSON object per line (the API's entity JSON)")
@settings_options("database")
def entities(fmt: str, **flags: Any) -> None:
    """List the registered entities (id, type, name, last seen), by id."""
    import orjson

    from .wire.encode import entity as entity_json
    from .domain.timefmt import format_datetime
    from .storage import open_store

    settings = Settings.from_env(**flags)
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


@main.command()
@settings_options("database")
def migrate(**flags: Any) -> None:
    """Apply pending schema migrations (PostgreSQL or SQLite) and print the schema version."""
    from .storage import open_store

    store = open_store(Settings.from_env(**flags).database)  # opening a store migrates it
    try:
        click.echo(f"schema version {store.migrate()}")
    finally:
        store.close()


@main.command()
@click.option("--broker", required=True, envvar="CONNECT_READINGS_MQTT_BROKER", show_envvar=True,
              help="mqtt://[user:password@]host[:1883] or mqtts://… (TLS)")
@click.option("--config", "config_file", required=True, type=click.Path(path_type=Path),
              help="TOML file of [[topics]]: topic pattern or topic → entity, and payload format")
@click.option("--client-id", default=None, help="MQTT client id of the persistent session; each process needs its "
              "own  [default: connect-readings-<hostname>]")
@click.option("--share-group", default=None, help="subscribe as $share/NAME/…: processes of one group split the messages")
@click.option("--batch-readings", default=5000, show_default=True, type=click.IntRange(1, 100_000),
              help="commit once a batch holds this many readings (or messages)")
@click.option("--batch-ms", default=200, show_default=True, type=click.IntRange(1, 60_000),
              help="commit a batch at the latest this long after its first message")
@click.option("--session-expiry", default=86400, show_default=True, type=click.IntRange(0, 2**32 - 1),
              help="seconds the broker keeps our session and queues messages while we are away")
@click.option("--username", default=None, envvar="CONNECT_READINGS_MQTT_USERNAME", show_envvar=True,
              help="broker user name (overrides the URL's)")
@click.option("--password", default=None, envvar="CONNECT_READINGS_MQTT_PASSWORD", show_envvar=True,
              help="broker password (overrides the URL's)")
@click.option("--tls", is_flag=True, help="TLS (as an mqtts:// URL)")
@click.option("--ca-file", default=None, type=click.Path(exists=True, dir_okay=False),
              help="CA certificates to verify the broker with (default: the system's)")
@click.option("--stats-interval", default=10.0, show_default=True, type=click.FloatRange(0.1, 3600),
              help="seconds between progress log lines")
@click.option("--max-payload-bytes", default=16 * 1024 * 1024, show_default=True, type=click.IntRange(1, 268_435_455),
              envvar="CONNECT_READINGS_MQTT_MAX_PAYLOAD_BYTES", show_envvar=True,
              help="a larger message is rejected unread (logged, counted, acknowledged)")
@settings_options("database", "metrics_port", "metrics_host", "max_batch")
def mqtt(broker: str, config_file: Path, client_id: str | None, share_group: str | None, batch_readings: int,
         batch_ms: int, session_expiry: int, username: str | None, password: str | None, tls: bool,
         ca_file: str | None, stats_interval: float, max_payload_bytes: int, **flags: Any) -> None:
    """Ingest readings from an MQTT broker (QoS 1, persistent session; acknowledged after commit)."""
    import dataclasses
    import logging

    from .ingest import mqtt as ingest
    from .storage import open_store

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    settings = Settings.from_env(**flags)
    try:
        address = ingest.parse_broker(broker, tls)
        if username is not None or password is not None:
            address = dataclasses.replace(address, username=username or address.username,
                                          password=password if password is not None else address.password)
        ingest.check_share_group(share_group)
        options = ingest.Options(
            broker=address, rules=ingest.load_config(config_file), database=settings.database,
            client_id=client_id or ingest.default_client_id(), share_group=share_group,
            batch_readings=batch_readings, batch_ms=batch_ms, session_expiry_s=session_expiry, ca_file=ca_file,
            max_batch=settings.max_batch, stats_s=stats_interval, metrics_port=settings.metrics_port,
            metrics_host=settings.metrics_host, max_payload_bytes=max_payload_bytes)
        store = open_store(settings.database)
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


if __name__ == "__main__":
    main()
