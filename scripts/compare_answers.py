#!/usr/bin/env python3
"""Prove that the service's answers are byte-identical across a refactor or a schema migration.

`dump` opens a database through stable entry points only (Settings, create_app, open_store, load_demo), sends
a fixed list of GET requests with Starlette's TestClient — aggregations at several resolutions, time zones and
page sizes (following `links.next` for MAX_PAGES pages), totals, raw readings, the last reading, errors — and
records method, path and query, status, content type and exact body of each answer. Every window has an
explicit start and end: nothing depends on "now". `compare` exits 1 and shows the first differences unless
two dumps hold the same answers. Run each `dump` with that version's code:

    python scripts/compare_answers.py dump --database /tmp/x.db --create-demo --out before.json  # old code
    python scripts/compare_answers.py dump --database /tmp/y.db --create-demo --out after.json   # new code
    python scripts/compare_answers.py compare --normalise-tokens before.json after.json

Migration: a COPY of the old code's database (opening migrates it) dumped by the new code, with `--like
before.json` (same entities and window; else the demo's, `--days` ending at DEMO_NOW, or `--entities UUID,UUID
--start T --end T`), must compare equal to before.json, tokens included: the paging key is in the file. E.g.
the schema-3 fixture, whose answers the code of schema version 3 gave:

    cp tests/fixtures/schema3.db /tmp/s3.db
    python scripts/compare_answers.py dump --database /tmp/s3.db --out s3.json \\
        --like tests/fixtures/schema3_answers.json
    python scripts/compare_answers.py compare tests/fixtures/schema3_answers.json s3.json

`--normalise-tokens`: continuation tokens are HMAC-signed, over a digest of the query, with a key kept in the
database (meta `paging_key`, random when the database is made). Two fresh databases sign the same cursor
differently, and a refactor may change the digest. The option replaces each token string (in the body, in
`links.next`, in the follow-up requests' paths) by `<token#N>`, N its rank of first appearance; where a token
leads is still compared, as the pages it fetched are in the dump.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import sys
import time
import warnings
from collections import Counter
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt

from connect_readings.api.app import create_app
from connect_readings.config import Settings
from connect_readings.demo import EV_CHARGER, GAS_METER, HOUSEHOLD, load_demo
from connect_readings.storage import open_store

with warnings.catch_warnings():  # newer Starlette deprecates its httpx-based client: noise here
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

SECRET = "compare-answers: a fixed HS256 secret of more than 32 bytes"
DEMO_NOW = "2026-11-02T00:00:00Z"  # the window holds both autumn DST changes (Berlin Oct 25, New York Nov 1)
DAY = 86_400_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
UNKNOWN_ENTITY = "00000000-0000-4000-8000-000000000000"
RESOLUTIONS = ("15 minutes", "1 hour", "1 day", "1 month", "7 days", "45 minutes")
ZONES = (None, "Europe/Berlin", "America/New_York")
SMALL_PAGES = (1, 25, 200, 1000)  # cycled over the paged queries (the others ask pageSize 10000)
MAX_PAGES = 3  # pages fetched per query, following links.next
Answer = dict[str, Any]
Request = tuple[str, dict[str, str]]


def micros(text: str) -> int:
    return (datetime.fromisoformat(text) - EPOCH) // timedelta(microseconds=1)


def iso(us: int) -> str:
    return (EPOCH + timedelta(microseconds=us)).isoformat().replace("+00:00", "Z")


def aggregations(base: str, window: dict[str, str], resolution: str, size: int, zone: str | None = None) -> Request:
    tz = {"timeZone": zone} if zone else {}
    return base + "/aggregations", {**window, "resolution": resolution, **tz, "pageSize": str(size)}


def request_list(entities: list[str], start: int, end: int) -> list[Request]:
    """The fixed requests for these entities and this window [start, end)."""
    span = end - start
    full = {"start": iso(start), "end": iso(end)}
    odd = {"start": iso(start + span // 7 + 450_250_000), "end": iso(start + 3 * span // 7 - 61_000_001)}
    wide = {"start": iso(start - 2 * DAY), "end": iso(end + DAY)}  # beyond the data on both sides
    last_day = {"start": iso(end - DAY), "end": iso(end)}
    out: list[Request] = []
    n = 0
    for entity in entities:
        base = f"/v1/entities/{entity}"
        agg = partial(aggregations, base)
        for resolution in RESOLUTIONS:
            out.append(agg(full, resolution, 10_000))  # every bucket of the window, once
            for zone in ZONES:
                out.append(agg(full, resolution, SMALL_PAGES[n % len(SMALL_PAGES)], zone))  # paging
                out.append(agg(odd, resolution, 10_000, zone))  # unaligned edges, every bucket
                n += 1
            if resolution in ("1 day", "1 month"):
                out.append(agg(wide, resolution, 10_000, "Europe/Berlin"))
        for resolution in ("15 minutes", "1 day"):
            out.append(agg(odd, resolution, 10_000, "Asia/Kathmandu"))  # a +05:45 zone
        for window in (full, odd, wide, last_day):
            for zone in (None, "Europe/Berlin", "Asia/Kathmandu"):
                out.append((base + "/aggregations/total", {**window, **({"timeZone": zone} if zone else {})}))
        for size, window in ((1, odd), (100, full), (5000, last_day)):
            out.append((base + "/readings", {**window, "pageSize": str(size)}))
        out.append((base + "/readings/last", {}))
    first, reversed_window = f"/v1/entities/{entities[0]}", {"start": full["end"], "end": full["start"]}
    return out + [  # errors
        (first + "/aggregations", {**full, "resolution": "banana"}),
        (first + "/aggregations", {**full, "resolution": "1 month 3 days"}),
        (first + "/aggregations", {**reversed_window, "resolution": "1 hour"}),
        (first + "/aggregations", {**full, "resolution": "1 hour", "pageSize": "0"}),
        (first + "/aggregations", {**full, "resolution": "1 hour", "timeZone": "Mars/Olympus_Mons"}),
        (first + "/aggregations", {**full, "resolution": "1 hour", "continuationToken": "not.a-token"}),
        (first + "/readings", reversed_window),
        (f"/v1/entities/{UNKNOWN_ENTITY}/aggregations", {**full, "resolution": "1 hour"}),
        (f"/v1/entities/{UNKNOWN_ENTITY}/readings/last", {}),
        ("/v1/entities/not-a-uuid/aggregations/total", full),
    ]


def dump(database: str, entities: list[str], start: int, end: int) -> list[Answer]:
    now = int(time.time())
    claims = {"scope": "readings:read readings:write", "entities": "*", "iat": now, "exp": now + 3600}
    headers = {"Authorization": "Bearer " + jwt.encode(claims, SECRET, algorithm="HS256")}
    store = open_store(database)
    answers: list[Answer] = []
    try:
        # (the recorded answers' links name Starlette's test host)
        settings = Settings(database=database, jwt_secret=SECRET, allowed_hosts=("testserver",))
        with TestClient(create_app(settings, store)) as client:
            for path, query in request_list(entities, start, end):
                url = path + ("?" + urlencode(query) if query else "")
                for _ in range(MAX_PAGES):
                    response = client.get(url, headers=headers)
                    body = response.content.decode("utf-8", "backslashreplace")
                    answers.append({"method": "GET", "path": url, "status": response.status_code,
                                    "type": response.headers.get("content-type"), "body": body})
                    link = next_path(body)
                    if link is None:
                        break
                    url = link
    finally:
        store.close()
    return answers


def field(body: str, outer: str, inner: str) -> Any:
    """body["outer"]["inner"] of a JSON body, or None."""
    try:
        return json.loads(body)[outer][inner]
    except (ValueError, KeyError, TypeError):
        return None


def next_path(body: str) -> str | None:
    """Path and query of `links.next` (the host is always the test client's), or None."""
    link = field(body, "links", "next")
    return f"{urlsplit(link).path}?{urlsplit(link).query}" if isinstance(link, str) else None


def normalise_tokens(answers: list[Answer]) -> list[Answer]:
    """Every continuation token string → `<token#N>`, N its index in order of first appearance."""
    tokens: dict[str, str] = {}
    for answer in answers:
        token = field(answer["body"], "meta", "continuationToken")
        if isinstance(token, str):
            tokens.setdefault(token, f"<token#{len(tokens)}>")
    if not tokens:
        return answers
    pattern = re.compile("|".join(re.escape(t) for t in sorted(tokens, key=len, reverse=True)))
    return [{k: pattern.sub(lambda m: tokens[m.group()], v) if k in ("path", "body") else v
             for k, v in answer.items()} for answer in answers]


def body_diff(a: str, b: str, context: int = 12) -> list[str]:
    """A short diff around the first difference of the two bodies (pretty-printed when JSON)."""
    def lines(text: str) -> list[str]:
        try:
            return json.dumps(json.loads(text), indent=1, ensure_ascii=False).splitlines()
        except ValueError:
            return text.splitlines()
    la, lb = lines(a), lines(b)
    at = next((i for i, (x, y) in enumerate(zip(la, lb)) if x != y), min(len(la), len(lb)))
    lo = max(0, at - 3)
    diff = list(difflib.unified_diff(la[lo:at + context], lb[lo:at + context], lineterm=""))[2:]
    if not diff:  # same JSON, different bytes (spacing, escapes)
        at = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        lo = max(0, at - 40)
        return [f"bytes differ from offset {at}:", f"A …{a[lo:at + 40]!r}", f"B …{b[lo:at + 40]!r}"]
    return [f"first difference at line {at + 1} of the pretty-printed body:", *diff[1:]]


def keyed(answers: list[Answer]) -> dict[tuple[str, int], Answer]:
    """Answers by (path and query, occurrence): a missing or extra page does not shift the rest."""
    seen: Counter[str] = Counter()
    out = {}
    for answer in answers:
        seen[answer["path"]] += 1
        out[answer["path"], seen[answer["path"]]] = answer
    return out


def compare(path_a: str, path_b: str, normalise: bool, show: int = 5) -> int:
    dumps = [json.loads(Path(path).read_text()) for path in (path_a, path_b)]
    a, b = (keyed(normalise_tokens(d["answers"]) if normalise else d["answers"]) for d in dumps)
    if dumps[0]["window"] != dumps[1]["window"]:
        print(f"warning: different request windows: {dumps[0]['window']} vs {dumps[1]['window']}")
    differences = [key for key in [*a, *(k for k in b if k not in a)] if a.get(key) != b.get(key)]
    for key in differences[:show]:
        x, y = a.get(key), b.get(key)
        print(f"GET {key[0]}")
        if x is None or y is None:
            print("   only in " + ("B" if x is None else "A"))
        else:
            print(f"   status {x['status']} vs {y['status']}, type {x['type']} vs {y['type']}")
            if x["body"] != y["body"]:
                print("   " + "\n   ".join(body_diff(x["body"], y["body"])))
    if differences:
        print(f"{len(differences)} difference(s): {len(a)} answers in A, {len(b)} in B")
        if not normalise:
            print("(if only continuation tokens differ, see --normalise-tokens)")
        return 1
    print(f"{len(a)} answers identical")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dump", help="answers of one database to a JSON file")
    d.add_argument("--database", required=True, help="SQLite path or postgresql:// URL")
    d.add_argument("--out", required=True)
    d.add_argument("--create-demo", action="store_true", help=f"first load the demo ending at {DEMO_NOW}")
    d.add_argument("--days", type=int, default=30, help="demo length, and the demo window (default 30)")
    d.add_argument("--entities", help="comma-separated entity UUIDs (default: the demo entities)")
    d.add_argument("--start", help="window start, RFC 3339 (with --entities)")
    d.add_argument("--end", help="window end, RFC 3339 (with --entities)")
    d.add_argument("--like", help="a dump whose entities and window to ask")
    c = sub.add_parser("compare", help="exit 1 and show the first differences unless the answers are identical")
    c.add_argument("a")
    c.add_argument("b")
    c.add_argument("--normalise-tokens", action="store_true", help="compare tokens by order of appearance")
    args = parser.parse_args()
    if args.command == "compare":
        return compare(args.a, args.b, args.normalise_tokens)

    if args.like:
        window = json.loads(Path(args.like).read_text())["window"]
        args.entities, args.start, args.end = ",".join(window["entities"]), window["start"], window["end"]
    if args.entities:
        if not (args.start and args.end):
            parser.error("--entities needs --start and --end")
        entities, start, end = args.entities.split(","), micros(args.start), micros(args.end)
    else:
        entities = [str(HOUSEHOLD), str(GAS_METER), str(EV_CHARGER)]
        start, end = micros(DEMO_NOW) - args.days * DAY, micros(DEMO_NOW)
    began = time.monotonic()
    if args.create_demo:
        if "://" not in args.database and os.path.exists(args.database):
            parser.error(f"{args.database} exists; --create-demo needs a fresh database")
        store = open_store(args.database)
        written = load_demo(store, micros(DEMO_NOW), args.days, lambda _: None)
        store.close()
        print(f"demo: {written} readings in {time.monotonic() - began:.1f} s", file=sys.stderr)
    answers = dump(args.database, entities, start, end)
    with open(args.out, "w") as f:
        json.dump({"window": {"entities": entities, "start": iso(start), "end": iso(end)}, "answers": answers},
                  f, indent=0, ensure_ascii=False)
    print(f"{len(answers)} answers to {args.out} in {time.monotonic() - began:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
