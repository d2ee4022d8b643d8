"""Figure 4's load generator, run as its own process: N concurrent senders POSTing batches of readings.

Each sender is one meter (its own entity) sending its history in time order, batch after batch, on one
keep-alive connection. Bodies are built before the clock starts; the clock covers first byte sent to last
response read. Prints one JSON line.

    python -m bench.ingest_client --port 18083 --token T --senders 4 --batches 25 --batch-size 5000
"""

from __future__ import annotations

import argparse
import http.client
import json
import threading
import time

import orjson

from .datagen import SECOND, Household, entity_uuid, wire_readings

START = 1_704_067_200 * SECOND  # 2024-01-01


def bodies(sender: int, batches: int, size: int) -> list[bytes]:
    meter = Household(START, 10 * SECOND, seed=900 + sender)
    return [orjson.dumps({"data": wire_readings(meter.block(size))}) for _ in range(batches)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--batches", type=int, default=25, help="per sender")
    parser.add_argument("--batch-size", type=int, default=5_000)
    args = parser.parse_args()

    work = [(entity_uuid("ingest", i), bodies(i, args.batches, args.batch_size)) for i in range(args.senders)]
    headers = {"Authorization": f"Bearer {args.token}", "Content-Type": "application/json"}
    errors: list[str] = []
    written = [0] * args.senders
    latencies: list[float] = []
    go = threading.Event()

    def send(i: int) -> None:
        entity, payloads = work[i]
        conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=600)
        go.wait()
        for body in payloads:
            t0 = time.perf_counter()
            conn.request("POST", f"/v1/entities/{entity}/readings", body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            latencies.append(time.perf_counter() - t0)
            if response.status != 200:
                errors.append(f"{response.status}: {data[:200]!r}")
                return
            written[i] += orjson.loads(data)["written"]
        conn.close()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(args.senders)]
    for t in threads:
        t.start()
    began = time.perf_counter()
    go.set()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - began
    total = sum(written)
    latencies.sort()
    print(json.dumps({
        "readings": total, "seconds": seconds, "readings_per_s": total / seconds, "errors": errors[:5],
        "senders": args.senders, "batch_size": args.batch_size, "batches": args.senders * args.batches,
        "batch_ms_p50": 1000 * latencies[len(latencies) // 2] if latencies else None,
        "batch_ms_max": 1000 * latencies[-1] if latencies else None,
        "entities": [str(e) for e, _ in work],
    }))


if __name__ == "__main__":
    main()
