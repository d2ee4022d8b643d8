"""P1 micro-benchmark: dsmr-parser's parse alone against `p1.telegram_readings`, one Belgian telegram.

    python -m bench.p1                   # 40 rounds of 250 telegrams each way
    python -m bench.p1 --n 500 --repeat 60

Both are measured in the same run on the same telegram (tests/fixtures/p1/belgian_emucs17.txt: e-MUCS 1.7,
three phases, gas and water, demand and month peak), as process CPU time (the machine is shared and noisy),
in rounds that alternate them; the best round of each is reported. `telegram_readings` is the parse (CRC
included) plus our mapping and `parse_reading`; the ratio shows what the mapping adds. The mapping is also
timed alone, on a telegram parsed once (`p1._readings`): on a busy machine that small figure is steadier than
the difference of two large ones.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from dsmr_parser import telegram_specifications
from dsmr_parser.parsers import TelegramParser

from connect_readings.ingest import p1
from connect_readings.ingest.p1 import telegram_readings

TELEGRAM = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "p1" / "belgian_emucs17.txt"


def per_call(fn: Callable[[], object], n: int) -> float:
    """CPU seconds per call over `n` calls."""
    began = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - began) / n


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--n", type=int, default=250, help="telegrams per round")
    args.add_argument("--repeat", type=int, default=40, help="rounds of each; the best is reported")
    options = args.parse_args()
    raw = TELEGRAM.read_bytes()
    text = raw.decode("ascii")
    parser = TelegramParser(telegram_specifications.BELGIUM_FLUVIUS)
    assert len(telegram_readings(raw)) == 2  # (electricity and gas: the telegram reads)
    parsed = parser.parse(text, throw_ex=True)
    parse = ours = mapping = float("inf")
    for _ in range(options.repeat):  # alternating, so that all see the same machine
        parse = min(parse, per_call(lambda: parser.parse(text, throw_ex=True), options.n))
        ours = min(ours, per_call(lambda: telegram_readings(raw), options.n))
        mapping = min(mapping, per_call(lambda: p1._readings(parsed), options.n))
    print(f"one Belgian telegram ({len(raw)} bytes), best of {options.repeat} x {options.n:,}, CPU time")
    print(f"  dsmr-parser parse alone   {parse * 1e6:8.1f} µs  {1 / parse:8,.0f} /s")
    print(f"  p1.telegram_readings      {ours * 1e6:8.1f} µs  {1 / ours:8,.0f} /s")
    print(f"  ratio                     {ours / parse:8.3f}")
    print(f"  mapping alone             {mapping * 1e6:8.1f} µs  = {mapping / parse:.1%} of the parse")


if __name__ == "__main__":
    main()
