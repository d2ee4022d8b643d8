"""Rounding deltas to nano-units: `round` per value against `registers.rounded_deltas`, by list length.

    python -m bench.rounding                  # lengths 8 … 8,760, best of 7 repeats each

Both run in this process, in turns, on the same list of deltas (daily consumptions of a few kWh); printed: µs
per list and the ratio. The crossover sets `registers._VECTOR_FROM`; 1,825 is a year of daily buckets of five
registers, 8,760 a year of hourly ones.
"""

from __future__ import annotations

import argparse
import random
import timeit

from connect_readings.domain.registers import _VECTOR_FROM, rounded_deltas


def per_value(deltas: list[float]) -> list[float]:
    return [round(delta, 9) if delta > 0.0 else 0.0 for delta in deltas]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(22)
    print(f"_VECTOR_FROM = {_VECTOR_FROM}")
    print(f"{'values':>7} {'round, µs':>10} {'rounded_deltas, µs':>19} {'ratio':>6}")
    for length in (8, 16, 32, 48, 64, 128, 365, 1_825, 8_760):
        deltas = [rng.uniform(0, 30) + 0.1 + 0.2 for _ in range(length)]
        assert rounded_deltas(deltas) == per_value(deltas)
        number = max(20, 20_000 // length)
        times = {fn: [] for fn in (per_value, rounded_deltas)}
        for _ in range(args.repeats):
            for fn in times:  # in turns, so a busy moment of a shared machine falls on both
                times[fn].append(timeit.timeit(lambda: fn(deltas), number=number) / number * 1e6)
        slow, fast = min(times[per_value]), min(times[rounded_deltas])
        print(f"{length:>7} {slow:>10.1f} {fast:>19.1f} {fast / slow:>6.2f}")


if __name__ == "__main__":
    main()
