"""A QoS-1 MQTT publisher for tests/test_mqtt.py, run as its own process: `python -m tests.mqtt_publish HOST PORT [USER PASSWORD]`.

Reads JSON lines `[topic, payload in base64]` from stdin and publishes each; an empty line waits until the
broker has acknowledged everything published so far and answers `ok` on stdout. Its own process because paho
waits on its socket with select(), which cannot watch a descriptor above 1023, and the test process may hold
more than that many files late in a full run.
"""

from __future__ import annotations

import base64
import json
import secrets
import sys

import paho.mqtt.client as mqtt


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"crtest-pub-{secrets.token_hex(4)}",
                         protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(200)
    client.max_queued_messages_set(0)
    if len(sys.argv) > 4:
        client.username_pw_set(sys.argv[3], sys.argv[4])
    client.connect(host, port)
    client.loop_start()
    pending: list[mqtt.MQTTMessageInfo] = []
    for line in sys.stdin:
        if line.strip():
            topic, payload = json.loads(line)
            pending.append(client.publish(topic, base64.b64decode(payload), qos=1))
            continue
        for info in pending:
            info.wait_for_publish(30)
        print("ok" if all(info.is_published() for info in pending) else "failed", flush=True)
        pending = []
    client.disconnect()
    client.loop_stop()


if __name__ == "__main__":
    main()
