#!/usr/bin/env bash
# The whole test suite, both backends, from a fresh clone: venv, install, PostgreSQL up, pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
"$VENV/bin/python" -m pip install -q -e '.[test]'
# The PostgreSQL backend's tests need a server on 127.0.0.1:5432 (tests create and drop their own database).
if command -v pg_ctlcluster >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
# The MQTT tests (tests/test_mqtt.py) need a broker on 127.0.0.1:1883: start the machine's Mosquitto if it is down.
_mqtt_up() { (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; }
if command -v mosquitto >/dev/null 2>&1 && ! _mqtt_up; then
    mosquitto -d -c /etc/mosquitto/mosquitto.conf || true
    for _ in $(seq 1 30); do _mqtt_up && break; sleep 0.2; done
fi
# The browser tests (tests/test_browser.py) drive the system's Chromium; in CI a missing one fails them, so
# install it here (playwright downloads no browser).
if [ -n "${CI:-}" ] && [ ! -x /usr/bin/chromium ] && ! command -v chromium >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi
# The whole suite in two workers (the machine's 2 cores: 6 min instead of 11), each taking whole files so a
# module's server or browser starts once. Schemathesis' tests (one per API operation) share one node id, which
# xdist would run once: they run after, in one process. With arguments, or PYTEST_WORKERS=0: plain pytest.
WORKERS=${PYTEST_WORKERS:-2}
if [ "$WORKERS" = "0" ] || [ "$#" -gt 0 ]; then exec "$VENV/bin/python" -m pytest "$@"; fi
"$VENV/bin/python" -m pytest -n "$WORKERS" --dist loadfile --ignore=tests/test_schemathesis.py
exec "$VENV/bin/python" -m pytest -p no:xdist tests/test_schemathesis.py
