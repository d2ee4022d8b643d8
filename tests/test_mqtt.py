"""`connect-readings mqtt` against the machine's real Mosquitto (127.0.0.1:1883), as a real subprocess.

Each test has its own random topic prefix and client ids, and its own SQLite database. An unreachable broker
fails the test when CI is set and skips it otherwise (start it with `mosquitto -d -c /etc/mosquitto/mosquitto.conf`;
scripts/test.sh does). Mosquitto keeps at most 1000 queued messages per client (max_queued_messages), online or
offline, beyond those in flight: publishers here never run more than that ahead of the subscriber.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from connect_readings.cli import main
from connect_readings.storage import open_store

HOST, PORT = "127.0.0.1", int(os.environ.get("CONNECT_READINGS_TEST_MQTT_PORT", "1883"))
BROKER = f"mqtt://{HOST}:{PORT}"
BASE_S = 1_767_225_600  # 2026-01-01T00:00:00Z
FIXTURES = Path(__file__).parent / "fixtures" / "p1"


def _broker_error() -> str | None:
    try:
        socket.create_connection((HOST, PORT), timeout=2).close()
    except OSError as exc:
        return f"Mosquitto at {HOST}:{PORT} is unreachable: {exc}"
    return None


@pytest.fixture
def broker() -> str:
    """The broker URL; fails (CI) or skips (elsewhere) when it is not listening, as tests/pg.py does."""
    error = _broker_error()
    if error is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{error} (CI is set, so this fails instead of skipping; start it with "
                        "mosquitto -d -c /etc/mosquitto/mosquitto.conf)", pytrace=False)
        pytest.skip(f"{error}; start it with mosquitto -d -c /etc/mosquitto/mosquitto.conf")
    return BROKER


STARTED: list[subprocess.Popen[bytes]] = []


@pytest.fixture(autouse=True)
def _no_leftover_processes() -> Iterator[None]:
    """A failed test must not leave its `mqtt` processes running."""
    yield
    while STARTED:
        process = STARTED.pop()
        if process.poll() is None:
            process.kill()
            process.wait(10)


@pytest.fixture
def prefix() -> str:
    return f"crtest-{secrets.token_hex(4)}"


def reading(i: int, value: float | None = None) -> dict[str, Any]:
    """The i-th reading: distinct timestamps a second apart."""
    ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(BASE_S + i))
    return {"timestamp": ts, "data": {"positiveActiveEnergy": {"total": float(i if value is None else value),
                                                               "unit": "kWh"}}}


class Publisher:
    """QoS-1 publishing through tests/mqtt_publish.py (a process of its own: see its docstring)."""

    def __init__(self, port: int = PORT, *credentials: str) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "tests.mqtt_publish", HOST, str(port), *credentials],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        cwd=Path(__file__).parent.parent)

    def publish(self, topic: str, payload: bytes | str) -> None:
        self.publish_many([(topic, payload.encode() if isinstance(payload, str) else payload)])

    def publish_many(self, messages: list[tuple[str, bytes]]) -> None:
        """Publish and return once the broker has acknowledged every one."""
        assert self.process.stdin is not None and self.process.stdout is not None
        lines = b"".join(orjson.dumps([topic, base64.b64encode(payload).decode()]) + b"\n"
                         for topic, payload in messages)
        self.process.stdin.write(lines + b"\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline() == b"ok\n"

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(30)


@pytest.fixture
def publisher(broker: str) -> Iterator[Publisher]:
    pub = Publisher()
    yield pub
    pub.close()


class Ingest:
    """A `connect-readings mqtt` subprocess, its log in a file."""

    def __init__(self, tmp: Path, config: Path, database: Path, client_id: str, *extra: str,
                 broker: str = BROKER) -> None:
        self.log_path = tmp / f"{client_id}.{secrets.token_hex(2)}.log"
        self.args = [sys.executable, "-m", "connect_readings.cli", "mqtt", "--broker", broker, "--config",
                     str(config), "--database", str(database), "--client-id", client_id,
                     "--session-expiry", "120", "--stats-interval", "0.5", *extra]
        self.log_file = self.log_path.open("wb")
        self.process = subprocess.Popen(self.args, stdout=self.log_file, stderr=subprocess.STDOUT)
        STARTED.append(self.process)
        wait_for(lambda: "connected to" in self.log() or self.process.poll() is not None, 20)
        assert self.process.poll() is None, self.log()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> str:
        """SIGTERM, wait, and return the log (asserting a clean exit)."""
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(30)
        self.log_file.close()
        assert code == 0, self.log()
        return self.log()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)
        self.log_file.close()

    def totals(self) -> dict[str, int]:
        """The counts of the final `stopped:` line."""
        line = self.log().rsplit("stopped: ", 1)[1].splitlines()[0]
        return {name: int(value) for name, value in re.findall(r"(messages|readings|rejected|batches) (\d+)", line)}


def wait_for(condition: Callable[[], bool], timeout: float, message: Callable[[], str] = str) -> None:
    """Poll until `condition`; on time-out fail with `message()` (built then, so it shows the latest log)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s {message()}")
        time.sleep(0.05)


def count(database: Path, entity: uuid.UUID | None = None) -> int:
    """Readings stored (of one entity, or all)."""
    if not database.exists():
        return 0
    store = open_store(str(database))
    try:
        if entity is None:
            return store.reading_count()
        return len(store.readings(entity, 0, 2**62, 1_000_000))
    finally:
        store.close()


def write_config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_readings_and_batches_end_to_end(tmp_path: Path, prefix: str, publisher: Publisher) -> None:
    """`reading` and `readings` payloads on pattern topics and on a fixed topic land in their entities."""
    a, b, fixed = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    config = write_config(tmp_path / "mqtt.toml", f"""
[[topics]]
pattern = "{prefix}/{{entityId}}/reading"
format = "reading"
[[topics]]
pattern = "{prefix}/batch/{{entityId}}"
format = "readings"
[[topics]]
topic = "{prefix}/heatpump/state"
entity = "{fixed}"
format = "reading"
""")
    db = tmp_path / "r.db"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        metrics_port = s.getsockname()[1]
    ingest = Ingest(tmp_path, config, db, f"crtest-{prefix}", "--metrics-port", str(metrics_port))
    publisher.publish_many([(f"{prefix}/{a}/reading", orjson.dumps(reading(i))) for i in range(20)])
    publisher.publish_many([(f"{prefix}/batch/{b}", orjson.dumps({"data": [reading(10 * k + i) for i in range(10)]}))
                            for k in range(3)])
    publisher.publish_many([(f"{prefix}/heatpump/state", orjson.dumps(reading(i))) for i in range(5)])
    wait_for(lambda: count(db) == 55, 20, lambda: f"for 55 readings; log:\n{ingest.log()}")
    assert (count(db, a), count(db, b), count(db, fixed)) == (20, 30, 5)
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as response:
        metrics = response.read().decode()
    assert "connect_readings_mqtt_readings_total 55.0" in metrics and "connect_readings_mqtt_lag_seconds" in metrics
    ingest.stop()
    assert ingest.totals() == {"messages": 28, "readings": 55, "rejected": 0, "batches": ingest.totals()["batches"]}
    store = open_store(str(db))
    try:
        last = store.last_reading(a)
        assert last is not None and last.data["positiveActiveEnergy"]["total"] == 19.0
        assert store.entity(fixed) is not None  # registered on first ingest
    finally:
        store.close()


def test_settings_from_variables_and_json_log_lines(tmp_path: Path, prefix: str, publisher: Publisher) -> None:
    """Every option is a setting: the process runs from CONNECT_READINGS_MQTT_* alone, and every line it logs
    is JSON under CONNECT_READINGS_LOG_FORMAT=json (before, the MQTT options were flags only and the log plain)."""
    entity = uuid.uuid4()
    config = write_config(tmp_path / "mqtt.toml", f"[[topics]]\npattern = \"{prefix}/{{entityId}}\"\nformat = \"reading\"\n")
    db = tmp_path / "env.db"
    env = {**os.environ, "CONNECT_READINGS_MQTT_BROKER": BROKER, "CONNECT_READINGS_MQTT_CONFIG": str(config),
           "CONNECT_READINGS_DATABASE": str(db), "CONNECT_READINGS_MQTT_CLIENT_ID": f"crtest-{prefix}",
           "CONNECT_READINGS_MQTT_SESSION_EXPIRY_S": "60", "CONNECT_READINGS_MQTT_BATCH_MS": "20",
           "CONNECT_READINGS_MQTT_STATS_INTERVAL_S": "0.5", "CONNECT_READINGS_LOG_FORMAT": "json"}
    log_path = tmp_path / "mqtt.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen([sys.executable, "-m", "connect_readings.cli", "mqtt"], env=env, stdout=log_file,
                                   stderr=subprocess.STDOUT)
        STARTED.append(process)
        wait_for(lambda: "connected to" in log_path.read_text() or process.poll() is not None, 20)
        publisher.publish_many([(f"{prefix}/{entity}", orjson.dumps(reading(i))) for i in range(5)])
        wait_for(lambda: count(db, entity) == 5, 20, log_path.read_text)
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0, log_path.read_text()
    lines = [orjson.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    assert lines and all(line["logger"].startswith("connect_readings") for line in lines)
    assert any("connected to" in line["message"] for line in lines)
    assert any(line["message"].startswith("stopped: ") for line in lines)
    bad = CliRunner().invoke(main, ["mqtt"], env={"CONNECT_READINGS_MQTT_BROKER": BROKER,
                                                  "CONNECT_READINGS_MQTT_CONFIG": str(config),
                                                  "CONNECT_READINGS_MQTT_BATCH_MS": "0"})
    assert bad.exit_code == 1 and "CONNECT_READINGS_MQTT_BATCH_MS=0 must be between 1 and 60000" in bad.output
    missing = CliRunner().invoke(main, ["mqtt", "--config", str(config)], env={"CONNECT_READINGS_MQTT_BROKER": ""})
    assert missing.exit_code == 2 and "--broker" in missing.output


def test_bad_payloads_are_logged_and_skipped(tmp_path: Path, prefix: str, publisher: Publisher) -> None:
    """Each bad message is one log line (topic, reason), is acknowledged, and stops nothing."""
    entity = uuid.uuid4()
    config = write_config(tmp_path / "mqtt.toml", f"""
[[topics]]
pattern = "{prefix}/{{entityId}}/r"
format = "reading"
[[topics]]
pattern = "{prefix}/{{entityId}}/b"
format = "readings"
""")
    db = tmp_path / "bad.db"
    ingest = Ingest(tmp_path, config, db, f"crtest-{prefix}")
    bad = [
        (f"{prefix}/{entity}/r", b"not json"),
        (f"{prefix}/{entity}/r", orjson.dumps({"timestamp": "2026-01-01T00:00:00Z",
                                               "data": {"positiveActiveEnergy": {"total": -1, "unit": "kWh"}}})),
        (f"{prefix}/not-a-uuid/r", orjson.dumps(reading(1))),
        (f"{prefix}/{entity}/b", orjson.dumps({"data": [reading(2), {"timestamp": "yesterday", "data": {}}]})),
        (f"{prefix}/{entity}/b", orjson.dumps({"data": []})),
    ]
    publisher.publish_many([*bad, (f"{prefix}/{entity}/r", orjson.dumps(reading(3)))])
    wait_for(lambda: count(db) == 1, 20, lambda: ingest.log())
    log = ingest.stop()
    rejected = [line for line in log.splitlines() if "rejected topic=" in line]
    assert len(rejected) == len(bad), log
    assert f"rejected topic={prefix}/{entity}/r reason=InvalidJson" in log
    assert f"rejected topic={prefix}/not-a-uuid/r reason=InvalidEntityId" in log
    assert "reason=InvalidReading" in log and "data[1]" in log and "reason=InvalidBatch" in log
    assert "Traceback" not in log
    assert ingest.totals()["messages"] == 6 and ingest.totals()["rejected"] == 5
    # Everything was acknowledged: a restart with the same session receives nothing again.
    again = Ingest(tmp_path, config, db, f"crtest-{prefix}")
    time.sleep(1)
    again.stop()
    assert again.totals()["messages"] == 0


def _crc16(crc: int, data: bytes, times: int = 1) -> int:
    """The CRC-16/ARC register (DSMR's telegram CRC) after `data` repeated `times` times, starting from `crc`.
    The register has 16 bits, so over a repeated unit it cycles: whole cycles are skipped (4 MB in ms)."""
    seen: dict[int, int] = {}
    while times > 0:
        if crc in seen:
            times %= seen[crc] - times  # the register was here one cycle ago: skip the remaining whole cycles
            seen = {0x10000: 0}  # (fewer than one cycle is left: no repeat can be met again)
            continue
        seen[crc] = times
        for byte in data:
            crc ^= byte
            for _ in range(8):
                crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        times -= 1
    return crc


def huge_telegram(size: int) -> bytes:
    """A valid DSMR 5 telegram (CRC right) of about `size` bytes: its text-message line 0-0:96.13.0 holds
    `size` hex digits. Without a bound, it parses into two readings (and costs the writer seconds)."""
    fixture = (FIXTURES / "dutch_dsmr5.txt").read_bytes()
    marker = b"0-0:96.13.0("
    head, rest = fixture.split(marker, 1)
    head += marker
    tail = rest[:rest.index(b"!") + 1]  # ")\r\n…!"
    crc = _crc16(_crc16(_crc16(0, head), b"41", size // 2), tail)
    return head + b"41" * (size // 2) + tail + b"%04X\r\n" % crc


def test_huge_telegram_is_a_valid_telegram() -> None:
    """The helper's CRC is right (a small one, checked by the real parser): the bound, not the CRC, rejects it."""
    from connect_readings.ingest.p1 import telegram_readings

    assert len(telegram_readings(huge_telegram(20_000))) == 2


def test_an_oversized_message_is_rejected_unread_and_stops_nothing(tmp_path: Path, prefix: str,
                                                                   publisher: Publisher) -> None:
    """A 4 MB (valid) telegram, beyond the default --max-payload-bytes (1 MiB), is logged as rejected, counted,
    acknowledged and never decoded: the readings published after it are stored within seconds."""
    meter, other = uuid.uuid4(), uuid.uuid4()
    config = write_config(tmp_path / "mqtt.toml", f"""
[[topics]]
pattern = "{prefix}/dsmr/{{entityId}}/telegram"
format = "p1"
[[topics]]
pattern = "{prefix}/{{entityId}}/reading"
format = "reading"
""")
    db = tmp_path / "big.db"
    client_id = f"crtest-{prefix}"
    ingest = Ingest(tmp_path, config, db, client_id, "--batch-ms", "20")
    big = huge_telegram(4 * 1024 * 1024)
    telegram_topic = f"{prefix}/dsmr/{meter}/telegram"
    publisher.publish_many([(f"{prefix}/{other}/reading", orjson.dumps(reading(i))) for i in range(5)])
    publisher.publish_many([(telegram_topic, big), (telegram_topic, big)])
    published = time.monotonic()
    publisher.publish_many([(f"{prefix}/{other}/reading", orjson.dumps(reading(i))) for i in range(5, 25)])
    wait_for(lambda: count(db, other) == 25, 10, lambda: f"for 25 readings; log:\n{ingest.log()}")
    stored_s = time.monotonic() - published
    wait_for(lambda: ingest.log().count("reason=PayloadTooLarge") == 2, 10, ingest.log)
    time.sleep(0.3)
    log = ingest.stop()
    assert count(db, meter) == 0, "the oversized telegram was decoded and stored"
    assert (f"rejected topic={telegram_topic} reason=PayloadTooLarge: the message has {len(big)} bytes; "
            "a P1 telegram has at most 65536") in log, log
    assert ingest.totals()["messages"] == 27 and ingest.totals()["rejected"] == 2
    # Acknowledged: a restart with the same session receives nothing again.
    again = Ingest(tmp_path, config, db, client_id)
    time.sleep(1)
    again.stop()
    assert again.totals()["messages"] == 0
    print(f"two {len(big):,}-byte telegrams rejected; the 20 readings after them stored {stored_s:.2f} s "
          "after they were published")


@pytest.mark.parametrize("how", ["flag", "variable"])
def test_max_payload_bytes_is_the_largest_message_read(tmp_path: Path, prefix: str, publisher: Publisher,
                                                       monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    """A message of exactly --max-payload-bytes (or CONNECT_READINGS_MQTT_MAX_PAYLOAD_BYTES) is stored; one
    byte more (the same reading, a trailing space) is rejected."""
    entity = uuid.uuid4()
    fits = orjson.dumps(reading(1))
    limit = len(fits)
    extra: tuple[str, ...] = ("--max-payload-bytes", str(limit))
    if how == "variable":
        monkeypatch.setenv("CONNECT_READINGS_MQTT_MAX_PAYLOAD_BYTES", str(limit))  # (the subprocess inherits it)
        extra = ()
    db = tmp_path / "limit.db"
    ingest = Ingest(tmp_path, _pattern_config(tmp_path, prefix), db, f"crtest-{prefix}", *extra)
    publisher.publish_many([(f"{prefix}/{entity}", fits), (f"{prefix}/{entity}", orjson.dumps(reading(2)) + b" ")])
    wait_for(lambda: "rejected topic=" in ingest.log() and count(db, entity) == 1, 10, ingest.log)
    time.sleep(0.3)
    log = ingest.stop()
    assert f"reason=PayloadTooLarge: the message has {limit + 1} bytes; at most {limit} are read" in log, log
    assert ingest.totals()["messages"] == 2 and ingest.totals()["rejected"] == 1
    assert count(db, entity) == 1


def test_the_hand_over_is_bounded_in_bytes() -> None:
    """The queue between paho's thread and the writer holds one chunk of at most `chunk_bytes` of payload (or
    one larger message): while the writer is busy, the network thread blocks at that bound, however many
    messages the count bound would still let in. Real threads; no broker needed."""
    from connect_readings.ingest.mqtt import Batcher

    chunk_bytes, size, total = 64 * 1024, 10 * 1024, 60  # 600 KiB offered: over 9x the bound
    batcher = Batcher(1000, 20, chunk_bytes=chunk_bytes)  # the count bound alone would take all 60
    added: list[int] = []
    big = bytes(3 * chunk_bytes)

    def network_thread() -> None:
        for mid in range(total):
            assert batcher.add((1, mid, 1, "t", bytes(size)))
            added.append(mid)
        assert batcher.add((1, total, 1, "t", None))  # (a rejected message: no payload, no bytes)
        assert batcher.add((1, total + 1, 1, "t", big))  # larger than a chunk: a chunk of its own
        added.append(total + 1)

    def queued(taken: int) -> int:
        return (len(added) - taken) * size

    thread = threading.Thread(target=network_thread, daemon=True)
    thread.start()
    watchdog = threading.Timer(60, batcher.close)  # (a failure in the thread must not leave take() waiting)
    watchdog.start()
    # The writer takes nothing: the network thread fills one chunk, then waits.
    wait_for(lambda: queued(0) > chunk_bytes - size, 30, lambda: f"queued {queued(0)}")
    time.sleep(0.5)  # (time enough to run far past the bound if nothing stopped it)
    assert thread.is_alive() and queued(0) <= chunk_bytes, f"{queued(0)} bytes queued, bound {chunk_bytes}"
    # The writer takes that chunk and works on it: the next one fills, and the network thread waits again.
    first = batcher.take()
    assert first is not None and len(first) * size <= chunk_bytes
    wait_for(lambda: queued(len(first)) > chunk_bytes - size, 30, lambda: f"queued {queued(len(first))}")
    time.sleep(0.5)
    assert thread.is_alive() and queued(len(first)) <= chunk_bytes, f"{queued(len(first))} bytes queued"
    chunks = [first]
    while (chunk := batcher.take()) is not None:
        chunks.append(chunk)
        assert sum(len(m[4] or b"") for m in chunk) <= chunk_bytes or len(chunk) == 1, [len(c) for c in chunks]
        if chunk[-1][1] == total + 1:
            batcher.close()
    watchdog.cancel()
    thread.join(10)
    assert not thread.is_alive()
    assert [m[1] for c in chunks for m in c] == list(range(total + 2))  # all, in order
    assert chunks[-1] == [(1, total + 1, 1, "t", big)]


@pytest.mark.parametrize(("text", "error"), [
    ("[[topics]]\nformat = 'reading'\n", "give either `pattern`"),
    ("[[topics]]\npattern = 'a/b'\nformat = 'reading'\n", "must hold {entityId} once"),
    ("[[topics]]\npattern = 'a/x{entityId}'\nformat = 'reading'\n", "as a whole level"),
    ("[[topics]]\npattern = 'a/{entityId}'\nformat = 'csv'\n", "`format` must be one of reading, readings, p1"),
    ("[[topics]]\ntopic = 'a/b'\nentity = 'nope'\nformat = 'reading'\n", "`entity` must be the entity's UUID"),
    ("[[topics]]\ntopic = 'a/#/b'\nentity = '5e4e4000-0000-4000-8000-000000000001'\nformat = 'reading'\n",
     "whole levels, # only the last"),
    ("[[topics]]\npattern = 'a/{entityId}'\nformat = 'reading'\ncolour = 1\n", "unknown key(s) colour"),
    ("topics = 3\n", "no [[topics]] entries"),
    ("[[topics]\n", "is not valid TOML"),
    ("", "no [[topics]] entries"),
])
def test_config_mistakes_are_clear_errors(tmp_path: Path, text: str, error: str) -> None:
    config = write_config(tmp_path / "bad.toml", text)
    result = CliRunner().invoke(main, ["mqtt", "--broker", BROKER, "--config", str(config),
                                       "--database", str(tmp_path / "x.db")])
    assert result.exit_code == 1 and error in result.output, result.output
    assert "Traceback" not in result.output and not (tmp_path / "x.db").exists()


@pytest.mark.parametrize(("args", "error"), [
    (["--broker", "http://127.0.0.1"], "the scheme must be mqtt:// or mqtts://"),
    (["--broker", "mqtt://127.0.0.1:99999"], "invalid port"),
    (["--broker", "mqtt://127.0.0.1:1", "--share-group", "a/b"], "--share-group"),
    (["--broker", "mqtt://127.0.0.1:1"], "cannot connect to the broker 127.0.0.1:1"),
])
def test_flag_mistakes_are_clear_errors(tmp_path: Path, args: list[str], error: str) -> None:
    config = write_config(tmp_path / "ok.toml", "[[topics]]\npattern = 'a/{entityId}'\nformat = 'reading'\n")
    result = CliRunner().invoke(main, ["mqtt", "--config", str(config), "--database", str(tmp_path / "x.db"), *args])
    assert result.exit_code == 1 and error in result.output, result.output
    assert "Traceback" not in result.output


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["mqtt", "--broker", BROKER, "--config", str(tmp_path / "none.toml")])
    assert result.exit_code == 1 and "cannot read the config file" in result.output


def _pattern_config(tmp_path: Path, prefix: str) -> Path:
    return write_config(tmp_path / "mqtt.toml", f"[[topics]]\npattern = \"{prefix}/{{entityId}}\"\n"
                                                "format = \"reading\"\n")


def test_kill_9_loses_nothing_and_duplicates_nothing(tmp_path: Path, prefix: str, publisher: Publisher) -> None:
    """3000 QoS-1 messages; SIGKILL mid-stream; a restart with the same client id takes up the session: every
    reading is stored exactly once (redelivered ones are replaced, not added: ingest is idempotent)."""
    entity = uuid.uuid4()
    config = _pattern_config(tmp_path, prefix)
    db = tmp_path / "kill.db"
    client_id = f"crtest-{prefix}"
    total = 3000
    messages = [(f"{prefix}/{entity}", orjson.dumps(reading(i))) for i in range(total)]
    # Batches of up to 300 ms: at the kill, the process holds received messages it has not committed.
    first = Ingest(tmp_path, config, db, client_id, "--batch-readings", "1000", "--batch-ms", "300")
    sent = threading.Event()

    def publish() -> None:  # ~500/s: while the process is down (~1 s) the broker queues < 1000 (its limit)
        for start in range(0, total, 50):
            publisher.publish_many(messages[start:start + 50])
            time.sleep(0.1)
        sent.set()

    thread = threading.Thread(target=publish)
    thread.start()
    wait_for(lambda: count(db) >= 800, 30, lambda: first.log())
    time.sleep(0.15)
    first.kill()  # mid-stream: batches in flight, messages unacknowledged
    at_kill = count(db)
    time.sleep(0.3)
    second = Ingest(tmp_path, config, db, client_id, "--batch-readings", "100", "--batch-ms", "20")
    thread.join(60)
    assert sent.is_set()
    wait_for(lambda: count(db, entity) == total, 60, lambda: f"for all {total}; have {count(db)}; log:\n{second.log()}")
    time.sleep(0.5)  # nothing more arrives
    log = second.stop()
    assert at_kill < total and "session resumed" in log
    assert second.totals()["messages"] >= total - at_kill  # what was received and not committed came again
    store = open_store(str(db))
    try:
        stored = store.readings(entity, 0, 2**62, 10 * total)
    finally:
        store.close()
    assert len(stored) == total
    assert [r.data["positiveActiveEnergy"]["total"] for r in stored] == [float(i) for i in range(total)]
    print(f"kill -9 at {at_kill} stored; after restart {len(stored)} of {total}, the second process committed "
          f"{second.totals()['messages']} messages")


def test_shared_subscription_splits_the_messages(tmp_path: Path, prefix: str, publisher: Publisher) -> None:
    """Two processes in one share group: every message stored, each process handled some, none twice."""
    entities = [uuid.uuid4() for _ in range(4)]
    config = _pattern_config(tmp_path, prefix)
    db = tmp_path / "shared.db"
    group = f"g{secrets.token_hex(3)}"
    one = Ingest(tmp_path, config, db, f"crtest-{prefix}-1", "--share-group", group, "--batch-ms", "20")
    two = Ingest(tmp_path, config, db, f"crtest-{prefix}-2", "--share-group", group, "--batch-ms", "20")
    total = 800
    for start in range(0, total, 100):
        publisher.publish_many([(f"{prefix}/{entities[i % 4]}", orjson.dumps(reading(i))) for i in range(start, start + 100)])
    wait_for(lambda: count(db) == total, 30, lambda: one.log() + two.log())
    time.sleep(0.3)
    one.stop(), two.stop()
    handled = one.totals()["messages"], two.totals()["messages"]
    assert sum(handled) == total and min(handled) > 0, handled
    assert count(db) == total


def test_p1_telegrams_of_both_countries(tmp_path: Path, prefix: str, publisher: Publisher) -> None:
    """Recorded telegrams (tests/fixtures/p1, from branch p1) become readings; a bad CRC is logged and skipped."""
    telegrams = sorted(FIXTURES.glob("*.txt")) if FIXTURES.is_dir() else []
    if not telegrams:
        pytest.skip("no P1 fixture telegrams (tests/fixtures/p1) yet")
    from connect_readings.ingest.p1 import telegram_readings

    entity = uuid.uuid4()
    config = write_config(tmp_path / "mqtt.toml", f"[[topics]]\npattern = \"{prefix}/dsmr/{{entityId}}/telegram\"\n"
                                                  "format = \"p1\"\n")
    db = tmp_path / "p1.db"
    ingest = Ingest(tmp_path, config, db, f"crtest-{prefix}")
    expected: set[int] = set()
    bad = 0
    for path in telegrams:
        payload = path.read_bytes()
        try:
            expected |= {r.ts for r in telegram_readings(payload)}
        except ValueError:
            bad += 1
        publisher.publish(f"{prefix}/dsmr/{entity}/telegram", payload)
    corrupted = bytearray(telegrams[0].read_bytes())
    corrupted[corrupted.index(b"1-0:1.8.1(") + 12] ^= 1  # one digit of a register: the CRC no longer matches
    publisher.publish(f"{prefix}/dsmr/{entity}/telegram", bytes(corrupted))
    wait_for(lambda: count(db, entity) == len(expected), 20, lambda: ingest.log())
    time.sleep(0.3)
    log = ingest.stop()
    assert ingest.totals()["rejected"] == bad + 1 and "reason=InvalidTelegram" in log, log


def test_a_locked_database_holds_messages_back_and_loses_none(tmp_path: Path, prefix: str,
                                                              publisher: Publisher) -> None:
    """While another writer holds SQLite's lock nothing is committed (nor acknowledged); once it lets go,
    every message is stored."""
    import sqlite3

    entity = uuid.uuid4()
    db = tmp_path / "locked.db"
    ingest = Ingest(tmp_path, _pattern_config(tmp_path, prefix), db, f"crtest-{prefix}", "--batch-ms", "20")
    lock = sqlite3.connect(db, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        publisher.publish_many([(f"{prefix}/{entity}", orjson.dumps(reading(i))) for i in range(50)])
        time.sleep(1.5)
        with sqlite3.connect(db) as reader:  # (WAL: a reader does not wait for the writer's lock)
            assert reader.execute("SELECT count(*) FROM readings").fetchone()[0] == 0
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    wait_for(lambda: count(db, entity) == 50, 30, lambda: ingest.log())
    ingest.stop()
    assert ingest.totals()["messages"] == 50


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it (PEM files: ca, certificate, key)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "connect-readings test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(1).not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    server = (x509.CertificateBuilder()
              .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
              .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
              .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
              .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                             critical=False)
              .sign(ca_key, hashes.SHA256()))
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


@pytest.fixture
def tls_broker(tmp_path: Path, broker: str) -> Iterator[tuple[int, int, Path]]:
    """A private Mosquitto with a TLS listener and a plain one, both wanting user `meter`, password `s3cret`:
    (TLS port, plain port, CA file)."""
    import shutil

    mosquitto, passwd = shutil.which("mosquitto") or "/usr/sbin/mosquitto", shutil.which("mosquitto_passwd")
    if not Path(mosquitto).exists() or passwd is None:
        pytest.skip("mosquitto and mosquitto_passwd are needed for the TLS test")
    ca, certificate, key = _certificates(tmp_path)
    subprocess.run([passwd, "-b", "-c", str(tmp_path / "passwords"), "meter", "s3cret"], check=True)
    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind((HOST, 0))
            ports.append(s.getsockname()[1])
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(("user root\n" if os.geteuid() == 0 else "") +
                    f"persistence false\nallow_anonymous false\npassword_file {tmp_path / 'passwords'}\n"
                    f"listener {ports[0]} {HOST}\ncafile {ca}\ncertfile {certificate}\nkeyfile {key}\n"
                    f"listener {ports[1]} {HOST}\n")
    process = subprocess.Popen([mosquitto, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: all(_listening(port) for port in ports), 10)
        yield ports[0], ports[1], ca
    finally:
        process.terminate()
        process.wait(10)


def _listening(port: int) -> bool:
    try:
        socket.create_connection((HOST, port), timeout=1).close()
        return True
    except OSError:
        return False


def test_tls_and_credentials(tmp_path: Path, prefix: str, tls_broker: tuple[int, int, Path]) -> None:
    """mqtts:// with a CA file and a user name and password in the URL; a wrong password is a clear error."""
    tls_port, plain_port, ca = tls_broker
    entity = uuid.uuid4()
    config = _pattern_config(tmp_path, prefix)
    db = tmp_path / "tls.db"
    ingest = Ingest(tmp_path, config, db, f"crtest-{prefix}", "--ca-file", str(ca),
                    broker=f"mqtts://meter:s3cret@127.0.0.1:{tls_port}")
    publisher = Publisher(plain_port, "meter", "s3cret")
    try:
        publisher.publish_many([(f"{prefix}/{entity}", orjson.dumps(reading(i))) for i in range(10)])
    finally:
        publisher.close()
    wait_for(lambda: count(db, entity) == 10, 20, lambda: ingest.log())
    ingest.stop()
    result = subprocess.run([*ingest.args[:4], "--broker", f"mqtts://127.0.0.1:{tls_port}", "--config", str(config),
                             "--database", str(db), "--ca-file", str(ca), "--username", "meter",
                             "--password", "wrong"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and "Error: the broker refused the connection" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_the_stats_line_reports_lag_only_for_recent_readings() -> None:
    """Issue 20: importing history logged "lag 78411920.9 s"; an hour or more behind reads as history."""
    from connect_readings.ingest.mqtt import Stats

    stats = Stats()
    assert stats.lag_text() == "-"  # nothing committed yet
    stats.newest = int((time.time() - 2.5) * 1e6)
    assert re.fullmatch(r"2\.[5-9] s", stats.lag_text()), stats.lag_text()
    stats.newest = 1_716_802_200_000_000  # 2024-05-27T09:30:00Z
    assert stats.lag_text() == "n/a (history: newest reading 2024-05-27T09:30:00Z)"


def test_messages_not_committed_are_not_acknowledged(tmp_path: Path, prefix: str, publisher: Publisher) -> None:
    """PUBACK only after the commit: messages received while SQLite's lock is held elsewhere are neither
    committed nor acknowledged, so after a SIGKILL the next process with the session receives them again."""
    import sqlite3

    entity = uuid.uuid4()
    config = _pattern_config(tmp_path, prefix)
    db = tmp_path / "unacked.db"
    client_id = f"crtest-{prefix}"
    first = Ingest(tmp_path, config, db, client_id, "--batch-ms", "20")
    lock = sqlite3.connect(db, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        publisher.publish_many([(f"{prefix}/{entity}", orjson.dumps(reading(i))) for i in range(50)])
        time.sleep(1.5)  # (received within ms; the writer waits for the lock)
        first.kill()
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert count(db, entity) == 0
    second = Ingest(tmp_path, config, db, client_id, "--batch-ms", "20")
    wait_for(lambda: count(db, entity) == 50, 20, lambda: first.log() + second.log())
    time.sleep(0.3)
    log = second.stop()
    assert "session resumed" in log and second.totals()["messages"] == 50, log


def _private_broker(directory: Path, port: int) -> subprocess.Popen[bytes]:
    """A Mosquitto of this test's own on `port`, keeping its sessions in `directory` across a restart."""
    import shutil

    conf = directory / "mosquitto.conf"
    conf.write_text(("user root\n" if os.geteuid() == 0 else "") +
                    f"listener {port} {HOST}\nallow_anonymous true\npersistence true\n"
                    f"persistence_location {directory}/\nmax_queued_messages 0\n")
    process = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(conf)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: _listening(port), 10)
    return process


def test_a_lost_connection_is_taken_up_again(tmp_path: Path, prefix: str, broker: str) -> None:
    """The broker restarts (its sessions kept on disk): the process reconnects to the same session and goes on;
    what was published before, during and after is stored once."""
    entity = uuid.uuid4()
    with socket.socket() as s:
        s.bind((HOST, 0))
        port = s.getsockname()[1]
    mosquitto = _private_broker(tmp_path, port)
    db = tmp_path / "reconnect.db"
    try:
        ingest = Ingest(tmp_path, _pattern_config(tmp_path, prefix), db, f"crtest-{prefix}", "--batch-ms", "20",
                        broker=f"mqtt://{HOST}:{port}")
        publisher = Publisher(port)
        publisher.publish_many([(f"{prefix}/{entity}", orjson.dumps(reading(i))) for i in range(100)])
        publisher.close()
        wait_for(lambda: count(db, entity) == 100, 20, ingest.log)
        mosquitto.terminate()  # (SIGTERM: the broker saves its sessions)
        mosquitto.wait(10)
        wait_for(lambda: "disconnected from the broker" in ingest.log(), 10, ingest.log)
        mosquitto = _private_broker(tmp_path, port)
        wait_for(lambda: ingest.log().count("(session resumed)") == 1, 20, ingest.log)
        publisher = Publisher(port)
        publisher.publish_many([(f"{prefix}/{entity}", orjson.dumps(reading(i))) for i in range(100, 200)])
        publisher.close()
        wait_for(lambda: count(db, entity) == 200, 20, ingest.log)
        time.sleep(0.3)
        ingest.stop()
        assert ingest.totals()["messages"] == 200 and count(db, entity) == 200
    finally:
        mosquitto.terminate()
        mosquitto.wait(10)
