"""`connect-readings mqtt`: readings from an MQTT broker into the store, at least once.

Two threads. The network thread (gmqtt on an asyncio loop of its own) hands each raw message, with its packet
id, to the writer thread, which decodes and validates it (the same parsers as the HTTP API and the file
import), commits once it holds N readings or the first message is T ms old (one `store.ingest` per entity, the
same planner as HTTP), and only then has the network thread acknowledge the batch's messages, in the order they
arrived (MQTT 5 §4.6), in one write. A message is therefore PUBACKed only after its readings are committed:
kill -9 at any moment loses nothing, the broker redelivers what was not acknowledged, and ingest is idempotent.
A bad message (invalid JSON, reading or telegram; a topic segment that is no UUID) is logged and skipped, and
acknowledged in its turn like the others. A message larger than --max-payload-bytes is rejected on arrival,
in `_hand_over`: logged, its payload dropped unread, and acknowledged in its turn.

Backpressure: the CONNECT's Receive Maximum caps the messages the broker has in flight to us, and at most one
full chunk waits for the writer (a chunk: `--batch-readings` messages or CHUNK_BYTES of payload, whichever
comes first); while it waits, `_hand_over` blocks the network thread's loop, so nothing more is read.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import signal
import socket
import ssl
import struct
import threading
import time
import tomllib
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ..domain.errors import DomainError
from ..domain.readings import Reading, decode_reading
from ..storage.base import Store, StoreBusy, StoreTimeout, reading_at

log = logging.getLogger("connect_readings.mqtt")

FORMATS = ("reading", "readings", "p1")
ENTITY_PLACEHOLDER = "{entityId}"
MAX_RECEIVE_MAXIMUM = 65535  # a two-byte field in CONNECT
MAX_PAYLOAD_BYTES = 16 * 1024 * 1024
"""The default --max-payload-bytes, the HTTP body's default bound: a `readings` batch of 10,000 six-metric readings
is ~5.3 MB and must not be lost."""
MAX_TELEGRAM_BYTES = 64 * 1024
"""A `p1` message larger than this is no telegram (a real one is 1-3 KB) and is rejected unread, whatever
--max-payload-bytes says: decoding a 4 MB line cost the writer seconds (~0.5 s per MiB)."""
RECONNECT_DELAY_S = 2
"""Seconds between attempts to reconnect after the connection is lost."""
PUBACK = 0x4002_0000
"""A PUBACK as a big-endian 32-bit word, OR the packet id: type 4, remaining length 2, the id; reason Success
and no properties are left out (MQTT 5 §3.4.2.1)."""
CHUNK_BYTES = 16 * 1024 * 1024
"""Payload bytes of one chunk handed to the writer (a larger message is a chunk of its own). --batch-readings
(5000) telegrams of 1-3 KB fit, so the bound does not cut ordinary chunks short."""


class ConfigError(ValueError):
    """A mistake in the config file or the flags, said in one sentence for the user."""


# -- configuration -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TopicRule:
    """One `[[topics]]` entry: what to subscribe to, and how a message on it becomes an entity's readings."""

    filter: str
    """The subscription's topic filter ({entityId} replaced by +)."""
    format: str
    entity: uuid.UUID | None = None
    """The fixed entity of a `topic` entry; None for a `pattern` entry."""
    entity_level: int = -1
    """For a `pattern` entry: the index of the topic level that holds the entity id."""

    def entity_of(self, topic: str) -> uuid.UUID:
        """The entity a message on `topic` belongs to; DomainError when the topic's segment is no UUID."""
        if self.entity is not None:
            return self.entity
        segment = topic.split("/")[self.entity_level]
        try:
            return uuid.UUID(segment)
        except ValueError:
            raise DomainError("InvalidEntityId", f"topic segment {segment!r} is not a UUID") from None


def load_config(path: Path) -> list[TopicRule]:
    """The topic rules of a TOML config file; ConfigError naming the entry and the mistake."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the config file {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    return parse_config(document, str(path))


def parse_config(document: dict[str, Any], name: str = "the config") -> list[TopicRule]:
    """Topic rules from a parsed config document (see load_config)."""
    unknown = set(document) - {"topics"}
    if unknown:
        raise ConfigError(f"{name}: unknown key(s) {', '.join(sorted(unknown))}; expected [[topics]] entries")
    entries = document.get("topics")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{name}: no [[topics]] entries; each needs `pattern` or `topic`, and `format`")
    rules = [_rule(entry, f"{name}: topics[{index}]") for index, entry in enumerate(entries)]
    filters = [rule.filter for rule in rules]
    for index, each in enumerate(filters):
        if each in filters[:index]:
            raise ConfigError(f"{name}: topics[{index}] subscribes to {each!r} again")
    return rules


def _rule(entry: Any, where: str) -> TopicRule:
    """One [[topics]] entry → TopicRule."""
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: must be a table")
    unknown = set(entry) - {"pattern", "topic", "entity", "format"}
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    fmt = entry.get("format")
    if fmt not in FORMATS:
        raise ConfigError(f"{where}: `format` must be one of {', '.join(FORMATS)}; got {fmt!r}")
    if ("pattern" in entry) == ("topic" in entry):
        raise ConfigError(f"{where}: give either `pattern` (with {ENTITY_PLACEHOLDER}) or `topic` with `entity`")
    if "pattern" in entry:
        if "entity" in entry:
            raise ConfigError(f"{where}: a `pattern` takes its entity from the topic; `entity` is for a `topic`")
        return _pattern_rule(entry["pattern"], fmt, where)
    topic = entry["topic"]
    _check_filter(topic, where, "topic")
    try:
        entity = uuid.UUID(str(entry.get("entity")))
    except ValueError:
        raise ConfigError(f"{where}: `entity` must be the entity's UUID; got {entry.get('entity')!r}") from None
    return TopicRule(topic, fmt, entity=entity)


def _pattern_rule(pattern: Any, fmt: str, where: str) -> TopicRule:
    """A `pattern` with exactly one whole {entityId} level → a filter with + at that level."""
    if not isinstance(pattern, str):
        raise ConfigError(f"{where}: `pattern` must be a string")
    levels = pattern.split("/")
    holders = [index for index, level in enumerate(levels) if ENTITY_PLACEHOLDER in level]
    if len(holders) != 1 or levels[holders[0]] != ENTITY_PLACEHOLDER:
        raise ConfigError(f"{where}: `pattern` must hold {ENTITY_PLACEHOLDER} once, as a whole level "
                          f"(like dsmr/{ENTITY_PLACEHOLDER}/telegram); got {pattern!r}")
    levels[holders[0]] = "+"
    topic_filter = "/".join(levels)
    _check_filter(topic_filter, where, "pattern")
    return TopicRule(topic_filter, fmt, entity_level=holders[0])


def _check_filter(topic_filter: Any, where: str, key: str) -> None:
    """A valid MQTT topic filter: + and # only as whole levels, # only last, no $share prefix."""
    if not isinstance(topic_filter, str) or not topic_filter:
        raise ConfigError(f"{where}: `{key}` must be a non-empty string")
    levels = topic_filter.split("/")
    for index, level in enumerate(levels):
        if ("+" in level or "#" in level) and level not in ("+", "#") or level == "#" and index != len(levels) - 1:
            raise ConfigError(f"{where}: `{key}` {topic_filter!r}: + and # must be whole levels, # only the last")
    if topic_filter.startswith("$share/"):
        raise ConfigError(f"{where}: `{key}`: use --share-group for a shared subscription, not $share/ here")
    if "\0" in topic_filter or len(topic_filter.encode()) > 65535:
        raise ConfigError(f"{where}: `{key}` is not a valid topic filter")


@dataclass(frozen=True)
class Broker:
    """Where and how to connect: from --broker mqtt://user:password@host:port or mqtts://…"""

    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = field(default=None, repr=False)


def parse_broker(url: str, tls: bool = False) -> Broker:
    """mqtt://host[:1883] or mqtts://host[:8883] (credentials may be in the URL); ConfigError otherwise."""
    parts = urlsplit(url if "://" in url else f"mqtt://{url}")
    if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
        raise ConfigError(f"--broker: the scheme must be mqtt:// or mqtts://; got {parts.scheme}://")
    secure = tls or parts.scheme in ("mqtts", "ssl")
    try:
        port = parts.port or (8883 if secure else 1883)
    except ValueError:
        raise ConfigError(f"--broker: {url!r} has an invalid port") from None
    if not parts.hostname:
        raise ConfigError(f"--broker: {url!r} names no host")
    if parts.path not in ("", "/") or parts.query:
        raise ConfigError(f"--broker: {url!r}: only scheme://[user:password@]host[:port]")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return Broker(parts.hostname, port, secure, username, password)


@dataclass(frozen=True)
class Options:
    """Everything `connect-readings mqtt` was told, checked."""

    broker: Broker
    rules: list[TopicRule]
    database: str
    client_id: str
    share_group: str | None = None
    batch_readings: int = 5000
    batch_ms: int = 200
    session_expiry_s: int = 86400
    ca_file: str | None = None
    max_batch: int = 10_000
    stats_s: float = 10.0
    metrics_port: int = 0
    metrics_host: str = "127.0.0.1"
    keepalive_s: int = 60
    max_payload_bytes: int = MAX_PAYLOAD_BYTES

    @property
    def receive_maximum(self) -> int:
        """Messages the broker may have unacknowledged in flight to us: two batches' worth."""
        return max(1, min(MAX_RECEIVE_MAXIMUM, 2 * self.batch_readings))

    def subscriptions(self) -> list[str]:
        """The topic filters subscribed to, with the $share/<group>/ prefix when sharing."""
        prefix = f"$share/{self.share_group}/" if self.share_group else ""
        return [prefix + rule.filter for rule in self.rules]


def default_client_id() -> str:
    return f"connect-readings-{socket.gethostname()}"


def check_share_group(name: str | None) -> None:
    """A share name is one topic level without wildcards (MQTT 5 §4.8.2)."""
    if name is not None and (not name or any(c in name for c in "/+#\0")):
        raise ConfigError(f"--share-group: {name!r} must be a non-empty name without /, + or #")


# -- payloads ----------------------------------------------------------------------------------------------
Parser = Callable[[uuid.UUID, bytes], list[Reading]]


def payload_parser(fmt: str, max_batch: int, store: Store) -> Parser:
    """The function that turns an entity's message payload of this format into readings (DomainError if bad)."""
    if fmt == "reading":
        return lambda entity, payload: [decode_reading(payload)]
    if fmt == "readings":
        from .batch import parse_batch  # the HTTP ingest's envelope parser: one rule for both

        return lambda entity, payload: parse_batch(payload, max_batch)
    return P1Streams(store).readings


class P1Streams:
    """A `p1.TelegramStream` per meter, so a repeated gas value is dropped and a gas value is merged into its
    second's reading instead of replacing it (p1.py says why). Bounded: the meters heard from least recently
    are forgotten beyond MAX_METERS, and each remembers KEEP telegrams (an hour of DSMR 4, 6 min of DSMR 5)."""

    MAX_METERS = 1000
    KEEP = 400

    def __init__(self, store: Store) -> None:
        self.store = store  # (a gas value of a telegram another process or run wrote is merged into it there)
        self.streams: OrderedDict[uuid.UUID, Any] = OrderedDict()

    def readings(self, entity: uuid.UUID, payload: bytes) -> list[Reading]:
        from .p1 import TelegramStream

        stream = self.streams.get(entity)
        if stream is None:
            stream = self.streams[entity] = TelegramStream(partial(self._stored, entity), self.KEEP)
            if len(self.streams) > self.MAX_METERS:
                self.streams.popitem(last=False)
        else:
            self.streams.move_to_end(entity)
        return stream.readings(payload)

    def _stored(self, entity: uuid.UUID, ts: int) -> Reading | None:
        try:
            return reading_at(self.store, entity, ts)
        except (StoreBusy, StoreTimeout) as exc:  # (reads rarely wait: WAL, MVCC) the gas value goes on its own
            log.warning("no merge of a gas value into the reading at %s: the database is busy (%s)", ts, exc)
            return None


# -- batches -----------------------------------------------------------------------------------------------
class Batch:
    """Messages decoded since the last commit: their acks in arrival order and their readings by entity."""

    __slots__ = ("acks", "groups", "readings", "rejected", "started", "newest")

    def __init__(self) -> None:
        self.acks: list[tuple[int, int, int]] = []  # (connection, mid, qos)
        self.groups: dict[uuid.UUID, list[Reading]] = {}
        self.readings = 0
        self.rejected = 0
        self.started = time.monotonic()
        self.newest: int | None = None

    def add(self, connection: int, mid: int, qos: int, entity: uuid.UUID | None, readings: Sequence[Reading]
            ) -> None:
        """One message: its ack, and its readings (none, and counted as rejected, when `entity` is None)."""
        if not self.acks:
            self.started = time.monotonic()  # the T ms count from the first message, not from the last commit
        self.acks.append((connection, mid, qos))
        if entity is None:
            self.rejected += 1
            return
        self.groups.setdefault(entity, []).extend(readings)
        self.readings += len(readings)
        newest = max(r.ts for r in readings)
        if self.newest is None or newest > self.newest:
            self.newest = newest


Message = tuple[int, int, int, str, bytes | None]  # (connection, mid, qos, topic, payload) as received
"""The payload is None for a message rejected on arrival (too large): the writer only acknowledges it."""


class Batcher:
    """The bounded hand-over of raw messages from the network thread (`add`) to the writer (`take`).

    The writer, not the network thread, decodes: with the GIL the two cannot run Python at once anyway, and a
    commit that waited for a decoding thread to yield the GIL would hold the database's write lock that long.
    A chunk is complete at `limit` messages or `chunk_bytes` of payload (a message that would take it past
    that starts the next chunk; a larger message is a chunk of its own). The batcher holds one chunk: the one
    being filled or, once complete, the one waiting for the writer; `add` then blocks until the writer takes it.
    With the chunk the writer is decoding and committing, received messages not yet committed are at most two
    chunks: 2 × `limit` messages and 2 × max(`chunk_bytes`, the largest message) bytes of payload.
    """

    def __init__(self, limit: int, batch_ms: int, chunk_bytes: int = CHUNK_BYTES) -> None:
        self.limit = limit
        self.chunk_bytes = chunk_bytes
        self.age_s = batch_ms / 1000
        self.current: list[Message] = []
        self.current_bytes = 0
        self.started = 0.0
        self.full: list[Message] | None = None
        self.closed = False
        self.cond = threading.Condition()

    def add(self, message: Message) -> bool:
        """Append a message; False (nothing appended) once closed."""
        size = len(message[4] or b"")
        with self.cond:
            while True:
                if self.closed:
                    return False
                if self.full is not None:
                    self.cond.wait()  # backpressure: the network thread waits here, reading nothing more
                elif self.current and self.current_bytes + size > self.chunk_bytes:
                    self._complete()  # full in bytes: hand it over, and wait until the writer takes it
                else:
                    break
            current = self.current
            current.append(message)
            self.current_bytes += size
            if len(current) >= self.limit or self.current_bytes >= self.chunk_bytes:
                self._complete()
            elif len(current) == 1:
                self.started = time.monotonic()  # T ms count from the first message, not from the last commit
                self.cond.notify_all()  # the writer now has a deadline to wait for
            return True

    def _complete(self) -> None:
        """The chunk being filled is complete: it waits for the writer (the lock is held)."""
        self.full, self.current, self.current_bytes = self.current, [], 0
        self.cond.notify_all()

    def take(self) -> list[Message] | None:
        """The next chunk: a full one, or the current one once T ms old; None when closed and drained."""
        with self.cond:
            while True:
                if self.full is not None:
                    chunk, self.full = self.full, None
                    self.cond.notify_all()
                    return chunk
                wait = None
                if self.current:
                    wait = self.started + self.age_s - time.monotonic()
                    if wait <= 0 or self.closed:
                        chunk, self.current, self.current_bytes = self.current, [], 0
                        return chunk
                elif self.closed:
                    return None
                self.cond.wait(wait)

    def close(self) -> None:
        """No more messages: `add` refuses, `take` drains what is pending and then returns None."""
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def depth(self) -> int:
        """Messages received and not yet taken by the writer."""
        with self.cond:
            return len(self.current) + (len(self.full) if self.full else 0)


# -- counters ----------------------------------------------------------------------------------------------
class Stats:
    """Running totals (written by both threads under a lock), the periodic log line and Prometheus metrics."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages = 0
        self.readings = 0
        self.rejected = 0
        self.batches = 0
        self.commit_s = 0.0
        self.newest: int | None = None
        self.prom: Any = None

    def committed(self, batch: Batch, seconds: float) -> None:
        with self.lock:
            self.messages += len(batch.acks)
            self.readings += batch.readings
            self.rejected += batch.rejected
            self.batches += 1
            self.commit_s += seconds
            if batch.newest is not None and (self.newest is None or batch.newest > self.newest):
                self.newest = batch.newest
        if self.prom is not None:
            self.prom.committed(batch, seconds)

    def snapshot(self) -> tuple[int, int, int, int, float, int | None]:
        with self.lock:
            return self.messages, self.readings, self.rejected, self.batches, self.commit_s, self.newest

    def lag_s(self) -> float | None:
        """Now minus the timestamp of the newest reading committed (None before the first)."""
        newest = self.snapshot()[5]
        return None if newest is None else time.time() - newest / 1e6

    LIVE_S = 3600.0
    """Lag is reported up to an hour; further behind, the readings are history (an import, a backlog)."""

    def lag_text(self) -> str:
        """The stats line's lag: "2.5 s"; "n/a (history: newest reading <UTC>)" when an hour or more behind."""
        newest, lag = self.snapshot()[5], self.lag_s()
        if newest is None or lag is None:
            return "-"
        if lag < self.LIVE_S:
            return f"{lag:.1f} s"
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(newest // 1_000_000))
        return f"n/a (history: newest reading {stamp})"


class PromMetrics:
    """The process's Prometheus metrics, in a registry of its own, served on --metrics-port."""

    def __init__(self, stats: Stats, batcher: Batcher) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        r = self.registry
        self.messages = Counter("connect_readings_mqtt_messages", "MQTT messages committed and acknowledged",
                                registry=r)
        self.readings = Counter("connect_readings_mqtt_readings", "Readings committed from MQTT", registry=r)
        self.rejected = Counter("connect_readings_mqtt_rejected", "MQTT messages skipped as invalid", registry=r)
        self.commit = Histogram("connect_readings_mqtt_commit_seconds", "Time to commit one batch", registry=r,
                                buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0))
        Gauge("connect_readings_mqtt_queue_depth", "Messages received and not yet committed",
              registry=r).set_function(batcher.depth)
        Gauge("connect_readings_mqtt_lag_seconds", "Now minus the newest committed reading's timestamp",
              registry=r).set_function(lambda: stats.lag_s() or 0.0)

    def committed(self, batch: Batch, seconds: float) -> None:
        self.messages.inc(len(batch.acks))
        self.readings.inc(batch.readings)
        self.rejected.inc(batch.rejected)
        self.commit.observe(seconds)

    def serve(self, port: int, host: str) -> None:
        from prometheus_client import start_http_server

        start_http_server(port, host, registry=self.registry)


# -- the process -------------------------------------------------------------------------------------------
class Ingest:
    """One connection to the broker, the batcher and the writer thread."""

    def __init__(self, options: Options, store: Store) -> None:
        self.options = options
        self.store = store
        self.batcher = Batcher(options.batch_readings, options.batch_ms, CHUNK_BYTES)
        self.stats = Stats()
        self.parsers = {fmt: payload_parser(fmt, options.max_batch, store) for fmt in {r.format for r in options.rules}}
        self.route_cache: dict[str, tuple[TopicRule | None, uuid.UUID | DomainError | None]] = {}
        self.connection = 0  # counts CONNACKs and losses (network thread): packet ids name a message only
        # within one connection
        self.stopping = threading.Event()
        self.failure: str | None = None
        self.client: Any = None  # the network thread's, as are `loop`, `closing` and `network` (set in run)
        self.loop: asyncio.AbstractEventLoop
        self.closing: asyncio.Event
        self.network: threading.Thread
        self.writer = threading.Thread(target=self._write_loop, name="mqtt-writer", daemon=True)

    # network thread (asyncio) ----------------------------------------------------------------------------
    def _client(self) -> Any:
        """A gmqtt client for the persistent session; QoS-1 messages reach `_on_publish` with their packet id."""
        import gmqtt

        logging.getLogger("gmqtt").setLevel(logging.WARNING)  # (its INFO lines: every connection made, every SUBACK)
        o = self.options
        client = gmqtt.Client(o.client_id, clean_session=False, optimistic_acknowledgement=False,
                              session_expiry_interval=o.session_expiry_s, receive_maximum=o.receive_maximum)
        if o.broker.username is not None:
            client.set_auth_credentials(o.broker.username, o.broker.password)
        client.set_config({"reconnect_delay": RECONNECT_DELAY_S})
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        # gmqtt's public way to acknowledge later (a coroutine per message) costs a Task each and as much as paho
        # (BENCHMARKS.md, "MQTT client"): its handler's QoS-1 step is replaced, so no PUBACK is sent for us and
        # the writer acknowledges a whole batch in one write (_send_acks).
        client._package_handler._handle_qos_1_publish_packet = self._on_publish
        return client

    async def _network(self, started: concurrent.futures.Future[None]) -> None:
        """The network thread's loop: connect (the outcome into `started`), serve until closing, disconnect."""
        self.loop = asyncio.get_running_loop()
        self.closing = asyncio.Event()
        self.client = self._client()
        o = self.options
        tls = ssl.create_default_context(cafile=o.ca_file) if o.broker.tls else False
        try:
            await self.client.connect(o.broker.host, o.broker.port, ssl=tls, keepalive=o.keepalive_s)
            started.set_result(None)
        except Exception as exc:
            started.set_exception(exc)
        await self.closing.wait()
        with contextlib.suppress(Exception):  # (after a refused connection there may be nothing to close)
            await self.client.disconnect()

    def _on_connect(self, client: Any, session_present: int, result: int, properties: Any) -> None:
        import gmqtt

        self.connection += 1
        log.info("connected to %s:%d as %s (session %s)", self.options.broker.host, self.options.broker.port,
                 self.options.client_id, "resumed" if session_present else "new")
        client.subscribe([gmqtt.Subscription(f, qos=1) for f in self.options.subscriptions()])

    def _on_subscribe(self, client: Any, mid: int, codes: Sequence[int], properties: Any) -> None:
        refused = [(f, code) for f, code in zip(self.options.subscriptions(), codes) if code >= 0x80]
        if refused:
            self._fail("the broker refused the subscription(s) " +
                       ", ".join(f"{f} (reason code 0x{code:02X})" for f, code in refused))

    def _on_disconnect(self, client: Any, packet: Any, exc: Any = None) -> None:
        self.connection += 1  # the lost connection's packet ids are not acknowledged on the next one
        handler = client._package_handler
        if handler._permanent_failure:  # a reconnect refused for good (a bad password…): gmqtt gives up, so do we
            self._fail(f"the broker refused the connection: {handler._error}")
        elif not self.stopping.is_set():
            log.warning("disconnected from the broker; reconnecting in %d s", RECONNECT_DELAY_S)

    def _on_publish(self, mid: int, payload: bytes, topic: str, properties: Any) -> None:
        """A QoS-1 message, with its packet id: handed to the writer, which acknowledges it after its commit."""
        self._hand_over(mid, 1, topic, payload)

    def _on_message(self, client: Any, topic: str, payload: bytes, qos: int, properties: Any) -> None:
        """A QoS-0 message (published so): nothing to acknowledge. A QoS-1 one here means the hook in
        `_client` no longer holds (another gmqtt): stop rather than never acknowledge."""
        if qos:
            self._fail("gmqtt delivered a QoS-1 message without its packet id: this gmqtt version is unsupported")
            return
        self._hand_over(0, 0, topic, payload)

    def _hand_over(self, mid: int, qos: int, topic: str, payload: bytes | None) -> None:
        """Hand the raw message to the writer (blocking while it is a chunk behind); one larger than
        --max-payload-bytes is rejected here, its payload dropped unread: the writer only acknowledges it."""
        if self.stopping.is_set():
            return  # not acknowledged: the broker keeps it for our session and redelivers it
        size = len(payload or b"")
        if size > self.options.max_payload_bytes:
            log.warning("rejected topic=%s reason=PayloadTooLarge: the message has %d bytes; at most %d are read "
                        "(--max-payload-bytes)", topic, size, self.options.max_payload_bytes)
            payload = None  # (acknowledged in its turn, after the messages before it: MQTT 5 §4.6)
        elif size > MAX_TELEGRAM_BYTES and (rule := self._route(topic)[0]) is not None and rule.format == "p1":
            log.warning("rejected topic=%s reason=PayloadTooLarge: the message has %d bytes; a P1 telegram has at "
                        "most %d", topic, size, MAX_TELEGRAM_BYTES)
            payload = None
        self.batcher.add((self.connection, mid, qos, topic, payload))

    def _send_acks(self, acks: list[tuple[int, int, int]]) -> None:
        """The PUBACKs of a committed batch, in arrival order, in one write. A message of an earlier connection
        is not acknowledged: its packet id may now name another message; the broker redelivers it (if the
        session survived) and the new copy is acknowledged."""
        current = self.connection
        packets = [PUBACK | mid for connection, mid, qos in acks if qos and connection == current]
        if packets:
            self.client._connection.send_package(struct.pack(f"!{len(packets)}I", *packets))

    # writer thread ----------------------------------------------------------------------------------------
    def _write_loop(self) -> None:
        """Decode each chunk in order; commit every N readings or T ms and at the chunk's end; then acknowledge."""
        limit = self.options.batch_readings
        age_s = self.options.batch_ms / 1000
        try:
            while (chunk := self.batcher.take()) is not None:
                batch = Batch()
                for connection, mid, qos, topic, payload in chunk:
                    entity, readings = self._decode(topic, payload)
                    batch.add(connection, mid, qos, entity, readings)
                    if batch.readings >= limit or time.monotonic() - batch.started >= age_s:
                        if not self._commit_and_ack(batch):
                            return
                        batch = Batch()
                if batch.acks and not self._commit_and_ack(batch):
                    return
        except Exception as exc:  # a bug: stop without acknowledging, the broker keeps the messages
            log.exception("the writer failed")
            self._fail(f"the writer failed: {exc!r}")

    def _decode(self, topic: str, payload: bytes | None) -> tuple[uuid.UUID | None, list[Reading]]:
        """(entity, readings) of a message; (None, []) for a bad one, logged in one line (topic, reason)."""
        if payload is None:
            return None, []  # too large: rejected, and logged, on arrival
        rule, entity = self._route(topic)
        if rule is None:
            log.warning("rejected topic=%s reason=no [[topics]] entry matches it", topic)
            return None, []
        try:
            if isinstance(entity, DomainError):
                raise entity
            readings = self.parsers[rule.format](entity, payload)
        except DomainError as exc:
            log.warning("rejected topic=%s reason=%s: %s", topic, exc.code, exc.message)
            return None, []
        except Exception as exc:  # a parser's bug must not stop the ingest; the message is skipped
            log.exception("rejected topic=%s reason=unexpected error %r", topic, exc)
            return None, []
        return (entity, readings) if readings else (None, [])

    def _route(self, topic: str) -> tuple[TopicRule | None, uuid.UUID | DomainError | None]:
        """The first [[topics]] entry whose filter matches and the topic's entity (or why it has none), remembered
        per topic: a fleet repeats its topics, and parsing the UUID again cost ~5 % of a `reading` message."""
        try:
            return self.route_cache[topic]
        except KeyError:
            pass
        from paho.mqtt.client import topic_matches_sub

        rule = next((r for r in self.options.rules if topic_matches_sub(r.filter, topic)), None)
        entity: uuid.UUID | DomainError | None = None
        if rule is not None:
            try:
                entity = rule.entity_of(topic)
            except DomainError as exc:
                entity = exc
        if len(self.route_cache) >= 100_000:
            self.route_cache.clear()
        self.route_cache[topic] = rule, entity
        return rule, entity

    def _commit_and_ack(self, batch: Batch) -> bool:
        """Commit, then have the network thread acknowledge the batch's messages; False if given up."""
        if not self._commit(batch):
            return False
        self.loop.call_soon_threadsafe(self._send_acks, batch.acks)
        return True

    def _commit(self, batch: Batch) -> bool:
        """Ingest the batch, entity by entity, retrying while the store is busy; False if given up (stopping)."""
        began = time.perf_counter()
        pause = 0.05
        for entity, readings in batch.groups.items():
            while True:
                try:
                    self.store.ingest(entity, readings)
                    break
                except (StoreBusy, StoreTimeout) as exc:
                    if self.stopping.is_set() and time.perf_counter() - began > 10:
                        log.error("giving up on a batch at shutdown (%s): its messages stay unacknowledged", exc)
                        return False
                    log.warning("the store is busy (%s); retrying in %.2f s", exc, pause)
                    time.sleep(pause)
                    pause = min(pause * 2, 5.0)
        self.stats.committed(batch, time.perf_counter() - began)
        return True

    # lifecycle -------------------------------------------------------------------------------------------
    def _fail(self, reason: str) -> None:
        self.failure = self.failure or reason
        self.stopping.set()

    def run(self) -> None:
        """Connect, consume until SIGTERM/SIGINT (or a fatal error), then commit, acknowledge and disconnect."""
        import gmqtt

        o = self.options
        if o.metrics_port:
            self.stats.prom = PromMetrics(self.stats, self.batcher)
            self.stats.prom.serve(o.metrics_port, o.metrics_host)
        started: concurrent.futures.Future[None] = concurrent.futures.Future()
        self.network = threading.Thread(target=asyncio.run, args=(self._network(started),), name="mqtt-network",
                                        daemon=True)
        self.writer.start()  # first: a resumed session's messages come with the CONNACK, a full chunk waits for it
        self.network.start()
        try:
            started.result()
        except gmqtt.MQTTConnectError as exc:
            self._fail(f"the broker refused the connection: {exc}")
        except (OSError, ssl.SSLError) as exc:
            self._stop()
            raise ConfigError(f"cannot connect to the broker {o.broker.host}:{o.broker.port}: {exc}") from None
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self.stopping.set())
        last = time.monotonic()
        previous = self.stats.snapshot()
        while not self.stopping.wait(min(1.0, o.stats_s)):
            if time.monotonic() - last >= o.stats_s:
                previous = self._log_stats(previous, time.monotonic() - last)
                last = time.monotonic()
        self._shutdown()

    def _stop(self) -> None:
        """Stop taking messages, commit and acknowledge what was received, then disconnect cleanly (the
        network thread runs what was queued for it first: the writer's PUBACKs reach the broker before)."""
        self.batcher.close()
        self.writer.join()
        self.loop.call_soon_threadsafe(self.closing.set)
        self.network.join()

    def _shutdown(self) -> None:
        """Stop, and log the totals."""
        self._stop()
        m, r, rej, b, commit_s, _ = self.stats.snapshot()
        log.info("stopped: messages %d, readings %d, rejected %d, batches %d, mean commit %.1f ms",
                 m, r, rej, b, 1000 * commit_s / max(b, 1))

    def _log_stats(self, previous: tuple[int, int, int, int, float, int | None], elapsed: float
                   ) -> tuple[int, int, int, int, float, int | None]:
        """One line: rates since the last line, totals, commit time, lag and queue depth."""
        now = self.stats.snapshot()
        m, r, rej, b = (now[i] - previous[i] for i in range(4))
        commit_s = now[4] - previous[4]
        log.info("messages/s %.0f, readings/s %.0f, rejected %d, batches %d, mean commit %.1f ms, "
                 "lag %s, queue %d", m / elapsed, r / elapsed, rej, b, 1000 * commit_s / max(b, 1),
                 self.stats.lag_text(), self.batcher.depth())
        return now
