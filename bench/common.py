"""Plumbing shared by the figures: tools, servers as separate processes, wrk, a keep-alive HTTP client."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
DATA = ROOT / "data"
RESULTS = ROOT / "results"
SECRET = "bench-jwt-secret-0123456789abcdef0123456789"
HOST = "127.0.0.1"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- tools ----------------------------------------------------------------------------------------------
PY_DEPS = {"numpy": "numpy", "matplotlib": "matplotlib"}


def ensure_tools(need_wrk: bool = True) -> None:
    """numpy + matplotlib into the current environment, wrk from the Debian package (once)."""
    missing = []
    for module, package in PY_DEPS.items():
        try:
            __import__(module)
        except ImportError:
            missing.append(package)
    if missing:
        log(f"installing {missing} into {sys.prefix}")
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", *missing], check=True)
    if need_wrk and shutil.which("wrk") is None:
        log("installing wrk (apt-get install -y wrk)")
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True)
        subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", "wrk"], check=True)


def cli_executable() -> str:
    """The project's own `connect-readings` entry point, from the environment running the bench."""
    candidate = Path(sys.executable).parent / "connect-readings"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("connect-readings")
    if not found:
        raise SystemExit("connect-readings is not installed in this environment (pip install -e .)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def token(entities: list[str] | str = "*", scope: str = "readings:read readings:write") -> str:
    from connect_readings.api.auth import mint_token

    return mint_token(SECRET, entities, scope, 24 * 3600)


# -- servers --------------------------------------------------------------------------------------------
class Server:
    """A server in its own process (its own PID for py-spy), stopped by that PID only."""

    def __init__(self, name: str, argv: list[str], port: int, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.port = port
        RESULTS.mkdir(parents=True, exist_ok=True)
        self.log_path = RESULTS / f"server-{name}.log"
        full_env = dict(os.environ)
        full_env.update({"CONNECT_READINGS_JWT_SECRET": SECRET, "PYTHONPATH": str(REPO)})
        full_env.update(env or {})
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, env=full_env, cwd=str(REPO), stdout=self._log, stderr=subprocess.STDOUT)
        self.wait_ready()

    @classmethod
    def ours(cls, name: str, database: Path) -> "Server":
        port = free_port()
        return cls(name, [cli_executable(), "serve", "--host", HOST, "--port", str(port), "--database", str(database),
                          "--workers", "1"], port)

    @classmethod
    def control(cls, name: str, database: Path, precompute: list[str]) -> "Server":
        port = free_port()
        argv = [sys.executable, "-m", "bench.control", "--host", HOST, "--port", str(port), "--database", str(database)]
        for path in precompute:
            argv += ["--precompute", path]
        return cls(name, argv, port)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}); see {self.log_path}")
            try:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    conn.close()
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start; see {self.log_path}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- HTTP client ----------------------------------------------------------------------------------------
class Client:
    """One keep-alive connection, for a handful of timed requests (the load generator is wrk)."""

    def __init__(self, port: int, bearer: str) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=600)
        self.headers = {"Authorization": f"Bearer {bearer}"}

    def get(self, path: str) -> tuple[int, bytes, float]:
        try:
            return self._get(path)
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            # the server closes keep-alive connections left idle (idle_timeout_s; e.g. while the peer query runs)
            self.conn.close()
            return self._get(path)

    def _get(self, path: str) -> tuple[int, bytes, float]:
        began = time.perf_counter()
        self.conn.request("GET", path, headers=self.headers)
        response = self.conn.getresponse()
        body = response.read()
        return response.status, body, time.perf_counter() - began

    def get_json(self, path: str) -> Any:
        status, body, _ = self.get(path)
        if status != 200:
            raise RuntimeError(f"GET {path} -> {status}: {body[:300]!r}")
        return json.loads(body)

    def close(self) -> None:
        self.conn.close()


# -- wrk ------------------------------------------------------------------------------------------------
@dataclass
class WrkResult:
    requests_per_s: float
    latency_ms: dict[str, float]  # avg, p50, p75, p90, p99
    requests: int
    non_2xx: int
    socket_errors: str | None
    raw: str = field(repr=False, default="")

    def as_dict(self) -> dict[str, Any]:
        return {"req_s": round(self.requests_per_s, 1), "latency_ms": self.latency_ms, "requests": self.requests,
                "non_2xx": self.non_2xx, "socket_errors": self.socket_errors}


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"unparsable wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def run_wrk(url: str, bearer: str, seconds: float, threads: int = 2, connections: int = 32,
            script: Path | None = None) -> WrkResult:
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "10s",
            "-H", f"Authorization: Bearer {bearer}"]
    if script is not None:
        argv += ["-s", str(script)]
    argv.append(url)
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    latency: dict[str, float] = {}
    avg = re.search(r"Latency\s+(\S+)", out)
    if avg:
        latency["avg"] = _ms(avg.group(1))
    for pct, value in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M):
        latency[f"p{pct}"] = _ms(value)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors:(.*)", out)
    return WrkResult(rps, latency, total, int(non.group(1)) if non else 0, sock.group(1).strip() if sock else None, out)


def wrk_paths_script(paths: list[str], name: str) -> Path:
    """A wrk Lua script that requests a random path of `paths` each time (e.g. one entity of a fleet)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    script = RESULTS / f"wrk-{name}.lua"
    body = ",\n".join(json.dumps(p) for p in paths)
    script.write_text(
        "local paths = {\n" + body + "\n}\n"
        "math.randomseed(os.time() + math.floor(os.clock() * 1000000))\n"
        "request = function()\n  return wrk.format(\"GET\", paths[math.random(#paths)])\nend\n"
    )
    return script


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000.0


# -- results table --------------------------------------------------------------------------------------
@dataclass
class Row:
    figure: str
    name: str
    measured: float | None
    unit: str
    target: str
    passed: bool | None
    note: str = ""

    def cells(self) -> list[str]:
        value = "—" if self.measured is None else _fmt(self.measured)
        verdict = {True: "PASS", False: "FAIL", None: "n/a"}[self.passed]
        return [self.figure, self.name, f"{value} {self.unit}".strip(), self.target, verdict, self.note]


def _fmt(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def render_table(rows: list[Row], markdown: bool = False) -> str:
    header = ["#", "figure", "measured", "target", "result", "notes"]
    table = [header] + [r.cells() for r in rows]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |" for cells in table[1:]]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    widths[-1] = min(widths[-1], 90)
    out = []
    for i, cells in enumerate(table):
        out.append("  ".join(c.ljust(w) if j < len(header) - 1 else c for j, (c, w) in enumerate(zip(cells, widths))))
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)
