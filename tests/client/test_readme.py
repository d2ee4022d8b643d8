"""The README's client example, exactly as printed, against the real server holding a year of the household."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from tests.test_crash_safety import REPO, Server


def readme_example() -> str:
    section = (REPO / "README.md").read_text().split("## Python client", 1)[1].split("\n## ", 1)[0]
    [code] = re.findall(r"```python\n(.*?)```", section, re.S)
    return code


def test_the_readme_example_fetches_a_year_of_daily_consumption(loaded: Server, bearer: str,
                                                                monkeypatch: pytest.MonkeyPatch, capsys):
    monkeypatch.setenv("CONNECT_READINGS_URL", loaded.url)
    monkeypatch.setenv("CONNECT_READINGS_TOKEN", bearer)
    scope: dict = {}
    exec(compile(readme_example(), "README.md", "exec"), scope)
    daily = scope["daily"]
    assert isinstance(daily.index, pd.DatetimeIndex) and str(daily.index.tz) == "Europe/Brussels"
    assert len(daily) == 365 and (daily.index.hour == 0).all()  # local midnights, through both DST changes
    assert daily["positiveActiveEnergy.total"].iloc[:-1].between(1, 50).all()  # kWh a day, EV included (the last: so far)
    assert "positiveActiveEnergy.t1" in capsys.readouterr().out
