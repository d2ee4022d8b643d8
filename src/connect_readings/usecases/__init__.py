"""The use cases: what a request asks, answered with the pure domain (`domain/`) and a store's narrow questions
(`storage/`). No HTTP here: the API (`api/`), the CSV export and the benchmarks call the same functions.

- `aggregations`: a page of per-bucket consumption, the total of a window;
- `statistics`: a page of statistics (gauges, peak demand), the capacity tariff;
- `readings`: a page of raw readings;
- `pages`: what pages of buckets share (the page, bucket ids, skipping empty buckets).
"""
