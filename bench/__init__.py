"""Benchmarks of issue 6 (and issue 3, item 4): `python -m bench --help`. Not part of the shipped package."""
