"""The soak, short: `scripts/soak.py` for 60 seconds of mixed load while 1,024 idle and 200 slow-header
connections are held. No error for the normal clients; the server's RSS within 10 % after a 40-second warm-up:
the RSS climbs until about 35 s of this load (to ~157 MiB, on this tree and on 0945822 alike, 2026-12-07), so
a shorter warm-up measured the climb, not a leak (20 s after 12 s, and 30 s after 16 s, went over 10 % on
both trees under load; after 40 s: +0.4 % and +0.5 %). The page cache is 8 MiB here so that it is full by
then: with the default 64 MiB it keeps filling longer, which a leak check must not mistake for a leak. The
60-second run and its figures are in BENCHMARKS.md.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_short_soak_under_idle_and_slow_connections(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "soak.py"), "--seconds", "60", "--warmup", "40", "--page-cache-mib", "8", "--concurrency", "16",
         "--idle", "1024", "--slow", "200", "--max-rss-growth", "0.10", "--workdir", str(tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert "errors: 0" in report and "1024 idle + 200 slow-header" in report, report
