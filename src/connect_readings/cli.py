"""`connect-readings`: serve, import, demo, token. Thin: flags and environment → Settings → calls."""

from __future__ import annotations

import os
import sys
import time
import uuid
from pathlib import Path

import click

from .config import ENV_PREFIX, Settings

_DB_HELP = "SQLite file path, or postgresql://user@host:port/db"


def _env(name: str) -> str:
    return ENV_PREFIX + name.upper()


def database_option(default: str | None = None) -> click.Option:
    return click.option("--database", envvar=_env("database"), default=default, show_default=bool(default), help=_DB_HELP)


@click.group()
@click.version_option(package_name="connect-readings")
def main() -> None:
    """Store energy-device readings and serve exact time-bucketed aggregations."""


@main.command()
@click.option("--host", envvar=_env("host"), default="127.0.0.1", show_default=True)
@click.option("--port", envvar=_env("port"), default=8080, show_default=True, type=int)
@database_option()
@click.option("--workers", envvar=_env("workers"), default=1, show_default=True, type=click.IntRange(1, 64))
def serve(host: str, port: int, database: str | None, workers: int) -> None:
    """Serve the API."""
    settings = Settings.from_env(database=database)
    _serve(settings, host, port, workers)


@main.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--entity", required=True, type=click.UUID, help="the entity the readings belong to")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default=None,
              help="default: from the file's extension")
@database_option()
def import_(file: Path, entity: uuid.UUID, fmt: str | None, database: str | None) -> None:
    """Bulk-import readings (idempotent: re-importing replaces, never duplicates)."""
    from tqdm import tqdm

    from .domain.errors import DomainError
    from .importer import import_file
    from .storage.base import open_store

    settings = Settings.from_env(database=database)
    fmt = fmt or ("csv" if file.suffix.lower() == ".csv" else "jsonl")
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
@click.option("--host", envvar=_env("host"), default="127.0.0.1", show_default=True)
@click.option("--port", envvar=_env("port"), default=8080, show_default=True, type=int)
@database_option("connect-readings-demo.db")
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 3650))
@click.option("--no-serve", is_flag=True, help="create the data and print the token, then exit")
def demo(host: str, port: int, database: str, days: int, no_serve: bool) -> None:
    """Create a database with realistic synthetic meters, print a token and curl commands, then serve."""
    from tqdm import tqdm

    from .demo import DEMO_ENTITIES, HOUSEHOLD, load_demo
    from .domain.timefmt import format_datetime
    from .storage.base import open_store

    settings = Settings.from_env(database=database)
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
    start = format_datetime(last_ts - last_ts % 86_400_000_000 - 86_400_000_000)
    base = f"http://{host}:{port}"
    click.echo("\nentities:")
    for entity_id, label in DEMO_ENTITIES.items():
        click.echo(f"  {entity_id}  {label}")
    click.echo(f"\nbearer token (7 days, all entities):\n{token}\n")
    click.echo("try:")
    click.echo(f'  export TOKEN={token}')
    click.echo(f'  curl -H "Authorization: Bearer $TOKEN" "{base}/v1/entities/{HOUSEHOLD}/aggregations'
               f'?start={start}&resolution=15%20minutes"')
    click.echo(f'  curl -H "Authorization: Bearer $TOKEN" "{base}/v1/entities/{HOUSEHOLD}/aggregations'
               f'?start={start}&resolution=1%20day&timeZone=Europe/Berlin"')
    click.echo(f'  curl -H "Authorization: Bearer $TOKEN" "{base}/v1/entities/{HOUSEHOLD}/readings/last"\n')
    if not no_serve:
        _serve(settings, host, port, 1)


@main.command()
@click.option("--entity", "entities", multiple=True, type=click.UUID, help="an entity the token may see (repeatable)")
@click.option("--all", "all_entities", is_flag=True, help="every entity")
@click.option("--scope", default="readings:read", show_default=True, help='e.g. "readings:read readings:write"')
@click.option("--ttl", default="1h", show_default=True, help="lifetime, e.g. 15m, 1h, 7 days")
@database_option()
@click.option("--jwt-secret", envvar=_env("jwt_secret"), default=None, help="default: the database's generated secret")
def token(entities: tuple[uuid.UUID, ...], all_entities: bool, scope: str, ttl: str, database: str | None,
          jwt_secret: str | None) -> None:
    """Mint an HS256 bearer token."""
    from .domain.errors import DomainError
    from .domain.interval import parse_resolution
    from .storage.base import open_store

    if bool(entities) == all_entities:
        raise click.UsageError("give either --entity UUID (one or more) or --all")
    try:
        lifetime = parse_resolution(ttl)
    except DomainError as exc:
        raise click.BadParameter(exc.message, param_hint="--ttl") from None
    if lifetime.months:
        raise click.BadParameter("use days or hours, not months", param_hint="--ttl")
    seconds = lifetime.days * 86400 + lifetime.micros / 1e6
    settings = Settings.from_env(database=database, jwt_secret=jwt_secret)
    store = None if settings.jwt_secret else open_store(settings.database)
    click.echo(_mint(settings, store, [str(e) for e in entities], all_entities, scope, seconds))
    if store is not None:
        store.close()


def _mint(settings: Settings, store: object, entities: list[str], all_entities: bool, scope: str, ttl_s: float) -> str:
    import secrets

    from .api.auth import MIN_SECRET_BYTES, mint_token

    secret = settings.jwt_secret or store.meta_value("jwt_secret", secrets.token_urlsafe(32))  # type: ignore[union-attr]
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise click.UsageError(f"the JWT secret must be at least {MIN_SECRET_BYTES} bytes (the server refuses shorter ones)")
    return mint_token(secret, "*" if all_entities else entities, scope, ttl_s, settings.jwt_issuer, settings.jwt_audience)


def _serve(settings: Settings, host: str, port: int, workers: int) -> None:
    import uvicorn

    from .storage.base import open_store

    open_store(settings.database).close()  # migrate once, before workers race to do it
    os.environ.update(settings.to_env())
    uvicorn.run(
        "connect_readings.api.app:app_from_env", factory=True, host=host, port=port, workers=workers,
        log_level="info", access_log=False, server_header=False, limit_concurrency=1024,
        timeout_keep_alive=30, http="h11", h11_max_incomplete_event_size=settings.max_header_bytes,
    )


def _is_postgres(database: str) -> bool:
    return database.startswith(("postgresql://", "postgres://"))


@main.command()
@database_option()
def migrate(database: str | None) -> None:
    """Apply pending schema migrations (PostgreSQL or SQLite) and print the schema version."""
    settings = Settings.from_env(database=database)
    if _is_postgres(settings.database):
        from .storage.postgres import migrate_database

        version = migrate_database(settings.database)
    else:
        from .storage.sqlite import SQLiteStore

        store = SQLiteStore(settings.database)
        version = store.migrate()
        store.close()
    click.echo(f"schema version {version}")


@main.command("copy")
@click.option("--from", "source", required=True, type=click.Path(exists=True, dir_okay=False),
              help="the embedded (SQLite) database file")
@click.option("--to", "target", required=True, help="postgresql://user@host:port/db (migrated if needed)")
@click.option("--batch", default=5_000, show_default=True, type=click.IntRange(1, 100_000), help="readings per ingest")
def copy_(source: str, target: str, batch: int) -> None:
    """Copy an embedded database into PostgreSQL (idempotent: safe to re-run, e.g. to catch up)."""
    from tqdm import tqdm

    from .copy import copy_store, source_reading_count
    from .storage.postgres import PostgresStore
    from .storage.sqlite import SQLiteStore

    if not _is_postgres(target):
        raise click.BadParameter("must be a postgresql:// URL", param_hint="--to")
    src = SQLiteStore(source)
    dst = PostgresStore(target)
    began = time.perf_counter()
    try:
        with tqdm(total=source_reading_count(src), unit=" readings", unit_scale=True, disable=None,
                  file=sys.stderr) as bar:
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
                   f"embedded database's {key} will not be accepted there", err=True)


if __name__ == "__main__":
    main()
