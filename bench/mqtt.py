"""`connect-readings mqtt` throughput, one run: `python -m bench.mqtt [--telegrams N] [--readings N]`.

A private Mosquitto (a free port, persistence off, unlimited queues) holds the messages before the subscriber
starts: each run first creates the subscriber's persistent session(s) (same client id, QoS-1 subscription,
clean_start=False), disconnects, publishes everything, and only then starts the `connect-readings mqtt`
process(es), so the publisher is out of the measurement. Shared subscriptions are pre-loaded the same way:
Mosquitto hands each message of a share group to one member's session, offline members included. The clock
runs from the first process's "connected" log line until the SQLite database holds every reading.

  (a) dsmr-parser alone parsing the Belgian telegram (one core), per telegram and per second;
  (b) one process, p1 telegrams → SQLite, and its ratio to (a);
  (c) two processes in one share group, and their ratio to (b);
  (d) JSON readings: `reading` (one per message) and `readings` (batches of 100), readings per second.

With `--base REV` only (d) `reading` runs, `--rounds` times, each round this tree's subscriber and REV's (its
src/ from `git archive`, first on PYTHONPATH) in turns, the order flipped every other round.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import orjson

from .common import HOST, REPO, free_port, log

BELGIAN = REPO / "tests" / "fixtures" / "p1" / "belgian_emucs17.txt"
SESSION_EXPIRY_S = 3600


# -- telegrams -----------------------------------------------------------------------------------------------
def belgian_telegrams(count: int) -> list[bytes]:
    """`count` Belgian telegrams a second apart (local winter time), gas every 5 minutes: one reading each."""
    from dsmr_parser.parsers import TelegramParser  # (its CRC-16/ARC, the one the parser checks)

    template = BELGIAN.read_bytes()
    body = template[:template.rindex(b"!") + 1]
    start = time.mktime((2024, 1, 15, 0, 0, 0, 0, 0, 0))
    out = []
    for i in range(count):
        stamp = time.strftime("%y%m%d%H%M%S", time.localtime(start + i)).encode() + b"W"
        gas = time.strftime("%y%m%d%H%M%S", time.localtime(start + i - i % 300)).encode() + b"W"
        text = body.replace(b"240115184512W", stamp).replace(b"240115184000W", gas)
        out.append(text + b"%04X\r\n" % TelegramParser.crc16(text.decode("ascii")))
    return out


def parser_alone(telegrams: list[bytes]) -> float:
    """Seconds per telegram for dsmr-parser's TelegramParser (Belgian specification, CRC checked)."""
    from dsmr_parser import telegram_specifications
    from dsmr_parser.parsers import TelegramParser

    parser = TelegramParser(telegram_specifications.BELGIUM_FLUVIUS)
    texts = [t.decode("ascii") for t in telegrams]
    for text in texts[:200]:
        parser.parse(text, throw_ex=True)
    began = time.perf_counter()
    for text in texts:
        parser.parse(text, throw_ex=True)
    return (time.perf_counter() - began) / len(texts)


def ours_alone(telegrams: list[bytes]) -> float:
    """Seconds per telegram for p1.telegram_readings (dsmr-parser, mapping and reading validation)."""
    from connect_readings.ingest.p1 import telegram_readings

    began = time.perf_counter()
    for telegram in telegrams:
        telegram_readings(telegram)
    return (time.perf_counter() - began) / len(telegrams)


# -- the broker ------------------------------------------------------------------------------------------------
def start_mosquitto(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    """A private Mosquitto: unlimited queues and in-flight window, no persistence, no log."""
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} {HOST}\nallow_anonymous true\npersistence false\nmax_queued_messages 0\n"
                    "max_queued_bytes 0\nmax_inflight_messages 0\nset_tcp_nodelay true\nlog_dest none\n")
    process = subprocess.Popen([mosquitto, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return process, port
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def mqtt_client(port: int, client_id: str = "", clean: bool = True) -> object:
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(2000)
    client.max_queued_messages_set(0)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 0 if clean else SESSION_EXPIRY_S
    client.connect(HOST, port, clean_start=clean, properties=props)
    client.loop_start()
    return client


def create_session(port: int, client_id: str, topic_filter: str) -> None:
    """The subscriber's persistent session with its QoS-1 subscription, left offline so messages queue."""
    from paho.mqtt.subscribeoptions import SubscribeOptions

    client = mqtt_client(port, client_id, clean=False)
    _, mid = client.subscribe([(topic_filter, SubscribeOptions(qos=1))])  # type: ignore[attr-defined]
    time.sleep(0.3)  # (the SUBACK; paho's subscribe has no wait)
    client.disconnect()  # type: ignore[attr-defined]
    client.loop_stop()  # type: ignore[attr-defined]


def publish_all(port: int, messages: list[tuple[str, bytes]]) -> float:
    """Publish QoS 1 and wait for every PUBACK; seconds taken."""
    client = mqtt_client(port)
    began = time.perf_counter()
    for start in range(0, len(messages), 20_000):  # (paho holds at most 65535 unacknowledged: 16-bit ids)
        infos = [client.publish(t, p, qos=1) for t, p in messages[start:start + 20_000]]  # type: ignore[attr-defined]
        for info in infos:
            info.wait_for_publish(120)
    elapsed = time.perf_counter() - began
    client.disconnect()  # type: ignore[attr-defined]
    client.loop_stop()  # type: ignore[attr-defined]
    return elapsed


# -- one end-to-end run ----------------------------------------------------------------------------------------
def run(workdir: Path, port: int, name: str, fmt: str, messages: list[tuple[str, bytes]], expected: int,
        processes: int = 1, extra: tuple[str, ...] = (), source: Path | None = None) -> float:
    """Pre-load, start `processes` subscribers (of `source`, a src/ directory, if given), and time until the
    database holds `expected` readings."""
    run_dir = workdir / name
    run_dir.mkdir()
    db = run_dir / "bench.db"
    config = run_dir / "mqtt.toml"
    config.write_text(f'[[topics]]\npattern = "{name}/{{entityId}}"\nformat = "{fmt}"\n')
    group = f"g{name}" if processes > 1 else None
    topic_filter = (f"$share/{group}/" if group else "") + f"{name}/+"
    client_ids = [f"bench-{name}-{i}" for i in range(processes)]
    env = {**os.environ, "PYTHONPATH": str(source)} if source else None
    subprocess.run([sys.executable, "-m", "connect_readings.cli", "migrate", "--database", str(db)], check=True,
                   stdout=subprocess.DEVNULL, env=env)
    for client_id in client_ids:
        create_session(port, client_id, topic_filter)
    published = publish_all(port, messages)
    log(f"{name}: {len(messages):,} messages published in {published:.1f} s (queued for the offline session)")
    logs = [run_dir / f"{c}.log" for c in client_ids]
    procs = []
    for client_id, log_path in zip(client_ids, logs):
        args = [sys.executable, "-m", "connect_readings.cli", "mqtt", "--broker", f"mqtt://{HOST}:{port}",
                "--config", str(config), "--database", str(db), "--client-id", client_id,
                "--session-expiry", str(SESSION_EXPIRY_S), *(("--share-group", group) if group else ()), *extra]
        procs.append(subprocess.Popen(args, stdout=log_path.open("wb"), stderr=subprocess.STDOUT, env=env))
        if os.environ.get("BENCH_PROFILE"):  # py-spy's collapsed stacks per process, into that directory
            subprocess.Popen(["py-spy", "record", "--format", "raw", "-o",
                              f"{os.environ['BENCH_PROFILE']}/{client_id}.txt", "--pid", str(procs[-1].pid)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait(lambda: any("connected to" in p.read_text() for p in logs), 30)
    began = time.perf_counter()
    cpu_began = [cpu_seconds(process.pid) for process in procs]
    reader = sqlite3.connect(db)
    _wait(lambda: reader.execute("SELECT count(*) FROM readings").fetchone()[0] >= expected, 600, 0.05)
    elapsed = time.perf_counter() - began
    reader.close()
    cpu = [cpu_seconds(process.pid) - before for process, before in zip(procs, cpu_began)]
    for process in procs:
        process.send_signal(signal.SIGTERM)
    for process, log_path, seconds in zip(procs, logs, cpu):
        process.wait(60)
        line = log_path.read_text().rsplit("stopped: ", 1)[-1].strip().splitlines()[0]
        log(f"  {log_path.stem}: {line}; {seconds:.2f} CPU s while timed")
    return elapsed


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process so far: unlike its rate, hardly moved by other load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait(condition: Callable[[], bool], timeout: float, every: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not done after {timeout} s")
        time.sleep(every)


def readings_json(count: int, entities: list[uuid.UUID]) -> list[tuple[int, bytes]]:
    """`count` reading documents, a second apart per entity (index of the entity, JSON)."""
    base = 1_704_067_200
    out = []
    for i in range(count):
        ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(base + i // len(entities)))
        out.append((i % len(entities), orjson.dumps({"timestamp": ts, "data": {
            "positiveActiveEnergy": {"t1": i * 0.001, "t2": 1.0, "total": 1.0 + i * 0.001, "unit": "kWh"},
            "positiveActiveInstantaneousPower": {"total": 1800.0 + i % 50, "unit": "W"}}})))
    return out


def base_source(workdir: Path, rev: str) -> Path:
    """`rev`'s src/ directory, unpacked from `git archive`."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "src"], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(workdir)], input=archive.stdout, check=True)
    return workdir / "src"


def compare_reading(workdir: Path, port: int, meters: list[uuid.UUID], count: int, base: Path, rounds: int) -> None:
    """(d) `reading`, this tree's subscriber against `base`'s, in turns; each round's rates and their ratio."""
    docs = readings_json(count, meters)
    ratios = []
    for index in range(rounds):
        rates = {}
        for label in ("head", "base") if index % 2 == 0 else ("base", "head"):
            name = f"{label}{index}"
            messages = [(f"{name}/{meters[m]}", doc) for m, doc in docs]
            elapsed = run(workdir, port, name, "reading", messages, count, source=base if label == "base" else None)
            rates[label] = count / elapsed
        ratios.append(rates["head"] / rates["base"])
        log(f"round {index + 1}: `reading` head {rates['head']:,.0f} readings/s, base {rates['base']:,.0f}/s, "
            f"{ratios[-1]:.2f}×")
    log(f"median head ÷ base over {rounds} rounds: {sorted(ratios)[len(ratios) // 2]:.2f}×")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--telegrams", type=int, default=20_000, help="P1 telegrams per end-to-end run")
    parser.add_argument("--readings", type=int, default=100_000, help="JSON readings per end-to-end run")
    parser.add_argument("--meters", type=int, default=8, help="entities (topics) the messages are spread over")
    parser.add_argument("--base", help="a git revision: compare (d) `reading` of this tree with it, nothing else")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the --base comparison")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-mqtt-"))
    broker, port = start_mosquitto(workdir)
    try:
        meters = [uuid.uuid4() for _ in range(args.meters)]
        if args.base:
            compare_reading(workdir, port, meters, args.readings, base_source(workdir, args.base), args.rounds)
            return
        per_meter = args.telegrams // args.meters
        telegrams = belgian_telegrams(per_meter)
        # The parser is timed just before and just after (b), and (a) is their mean: the machine is shared.
        before = parser_alone(telegrams[:2000])
        ours_s = ours_alone(telegrams[:2000])
        log(f"(a) dsmr-parser alone: {before * 1e3:.3f} ms per telegram, {1 / before:,.0f}/s; "
            f"telegram_readings (parser + mapping + validation): {ours_s * 1e3:.3f} ms, {1 / ours_s:,.0f}/s")
        total = per_meter * len(meters)
        p1_messages = [(f"{{name}}/{m}", t) for t in telegrams for m in meters]

        def named(name: str, messages: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
            return [(topic.replace("{name}", name), payload) for topic, payload in messages]

        one = run(workdir, port, "p1one", "p1", named("p1one", p1_messages), total)
        one_rate = total / one
        after = parser_alone(telegrams[:2000])
        parse_s = (before + after) / 2
        log(f"(a) dsmr-parser alone, after (b): {after * 1e3:.3f} ms per telegram; mean {parse_s * 1e3:.3f} ms, "
            f"{1 / parse_s:,.0f}/s")
        log(f"(b) one process, p1 → SQLite: {total:,} telegrams in {one:.2f} s = {one_rate:,.0f}/s "
            f"= {one_rate * parse_s:.2f}× the parser alone")
        two = run(workdir, port, "p1two", "p1", named("p1two", p1_messages), total, processes=2)
        two_rate = total / two
        log(f"(c) two processes sharing: {total:,} telegrams in {two:.2f} s = {two_rate:,.0f}/s "
            f"= {two_rate / one_rate:.2f}× one process")
        docs = readings_json(args.readings, meters)
        single = [(f"jsonone/{meters[m]}", doc) for m, doc in docs]
        t = run(workdir, port, "jsonone", "reading", single, args.readings)
        log(f"(d) `reading`, one per message: {args.readings:,} in {t:.2f} s = {args.readings / t:,.0f} readings/s")
        by_meter: dict[int, list[bytes]] = {}
        for m, doc in docs:
            by_meter.setdefault(m, []).append(doc)
        # A batch holds one entity's readings.
        batches = [(f"jsonbatch/{meters[m]}", b'{"data":[' + b",".join(items[k:k + 100]) + b"]}")
                   for m, items in by_meter.items() for k in range(0, len(items), 100)]
        t = run(workdir, port, "jsonbatch", "readings", batches, args.readings)
        log(f"(d) `readings`, batches of 100: {args.readings:,} in {t:.2f} s = {args.readings / t:,.0f} readings/s")
    finally:
        broker.terminate()
        broker.wait(10)
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
