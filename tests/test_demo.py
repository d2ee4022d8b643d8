"""The demo's synthetic Belgian household (issue 20): seasonal solar, degree-day gas, the day/night tariffs in
Brussels' local time (across both clock changes), the EV charger inside the household's import, capacity-tariff
peaks of 4–7 kW, and registers that never decrease. The generators are deterministic (seeded): every bound
below was read from their output for these dates and holds with a margin."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from connect_readings import demo
from connect_readings.api.app import create_app
from connect_readings.config import Settings
from connect_readings.demo import (
    DAY,
    EV_CHARGER,
    GAS_METER,
    HOUSEHOLD,
    MINUTE,
    SECOND,
    ev_charger,
    ev_session,
    gas,
    household,
    load_demo,
)
from connect_readings.storage import open_store

from .conftest import SECRET, ApiClient

BRUSSELS = ZoneInfo("Europe/Brussels")
HOUR = 3600 * SECOND


def local(*wall: int) -> int:
    """µs of a wall time in Brussels."""
    return int(datetime(*wall, tzinfo=BRUSSELS).timestamp()) * SECOND


def tiers_at(*wall: int, step: int = MINUTE) -> tuple[int, int]:
    """(t1 Wh, t2 Wh) the household's reading at `wall` adds over the step before it."""
    ts = local(*wall)
    before, at = (item["data"]["positiveActiveEnergy"] for item in household(ts - step, ts + 1, step))
    return at["t1"] - before["t1"], at["t2"] - before["t2"]


# -- through the real store and API: a few days of June and of December ---------------------------------------

@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiClient]:
    """Two demo databases (the project's store factory, SQLite): 3 days to 2026-06-20 and 3 days to 2026-12-17,
    local midnights, each with the demo's three entities, served by the real app."""
    clients = []
    for name, now in (("june", local(2026, 6, 20)), ("december", local(2026, 12, 17))):
        path = str(tmp_path_factory.mktemp("demo") / f"{name}.db")
        store = open_store(path)
        assert load_demo(store, now, days=3) == 3 * (8640 + 24 + 1440)
        store.close()
        clients.append(ApiClient(create_app(Settings(database=path, jwt_secret=SECRET))))
    for c in clients:
        c.__enter__()
    yield clients  # type: ignore[misc]
    for c in clients:
        c.__exit__(None, None, None)


def days_of(client: ApiClient, entity: object, start: str, end: str) -> list[dict]:
    response = client.get(f"/v1/entities/{entity}/aggregations", params={"start": start, "end": end,
                                                                         "resolution": "1 day"})
    assert response.status_code == 200, response.text
    return [item["data"] for item in response.json()["data"]]


def test_december_injects_far_less_than_june_and_july_burns_less_gas_than_december(api: list[ApiClient]) -> None:
    june, december = api
    june_days = days_of(june, HOUSEHOLD, "2026-06-17", "2026-06-20")
    december_days = days_of(december, HOUSEHOLD, "2026-12-14", "2026-12-17")
    assert len(june_days) == len(december_days) == 3
    june_injected = [d["negativeActiveEnergy"]["total"] for d in june_days]  # kWh per local day
    december_injected = [d["negativeActiveEnergy"]["total"] for d in december_days]
    # hand-read: June 17–19 ≈ 5.2, 23.0, 25.3 kWh; December 14–16 ≈ 1.4, 2.0, 1.5 kWh
    assert max(june_injected) > 15 and sum(june_injected) > 40
    assert all(0 <= x < 4 for x in december_injected)
    assert sum(june_injected) > 5 * sum(december_injected)
    for d in june_days + december_days:  # import on both tiers (weekdays), the total their sum
        energy = d["positiveActiveEnergy"]
        assert energy["t1"] > 0 and energy["t2"] > 0
        assert energy["total"] == pytest.approx(energy["t1"] + energy["t2"], abs=0.002)
    june_gas = [d["positiveGasVolume"]["value"] for d in days_of(june, GAS_METER, "2026-06-17", "2026-06-20")]
    december_gas = [d["positiveGasVolume"]["value"] for d in days_of(december, GAS_METER, "2026-12-14", "2026-12-17")]
    assert all(0.2 < x < 1.5 for x in june_gas) and all(x > 4 for x in december_gas)
    # the EV charger: a night's charging in the household's import on t2, the charger's energy below it
    charger = days_of(june, EV_CHARGER, "2026-06-17", "2026-06-20")
    assert sum(d["positiveActiveEnergy"]["total"] for d in charger) > 5
    assert sum(d["positiveActiveEnergy"]["t2"] for d in june_days) > sum(
        d["positiveActiveEnergy"]["total"] for d in charger)


# -- solar and gas, from the generators ------------------------------------------------------------------------

def test_solar_follows_the_season_and_is_nothing_on_december_evenings() -> None:
    def produced(day: int) -> float:  # kWh over a UTC day, from the model's per-minute production
        return sum(demo._solar_day(day)[1:]) / 60 / 1000

    june = [produced(local(2026, 6, d) // DAY) for d in range(1, 31)]
    december = [produced(local(2026, 12, d) // DAY) for d in range(1, 32)]
    assert 20 <= max(june) <= 32  # a sunny June day on 4.5 kWp
    assert 12 <= sum(june) / len(june) <= 25
    assert max(december) <= 10 and 1 <= sum(december) / len(december) <= 6  # a few kWh a December day
    assert min(june) > 2 * (sum(december) / len(december))
    # December: no injection at all from 17:00 to 08:00 local
    for item in household(local(2026, 12, 15, 17), local(2026, 12, 16, 8), MINUTE):
        assert item["data"]["negativeActiveInstantaneousPower"]["total"] == 0


def daily_gas(start: int, days: int) -> tuple[float, list[float]]:
    """(m3 a day on average, m3 per local hour of the day summed over the days)."""
    readings = list(gas(start, start + days * DAY + 1))
    per_hour = [0.0] * 24
    for before, after in pairwise(readings):
        hour = datetime.fromisoformat(before["timestamp"]).astimezone(BRUSSELS).hour  # the hour after it
        per_hour[hour] += after["data"]["positiveGasVolume"]["value"] - before["data"]["positiveGasVolume"]["value"]
    first, last = (r["data"]["positiveGasVolume"]["value"] for r in (readings[0], readings[-1]))
    return (last - first) / days, per_hour


def test_gas_follows_degree_days_with_a_daily_profile() -> None:
    january, january_hours = daily_gas(local(2026, 1, 5), 21)
    july, july_hours = daily_gas(local(2026, 7, 6), 21)
    assert 5 <= january <= 10  # ≈ 0.55 m3 × (16.5 − ≈3 °C) + hot water
    assert demo.HOT_WATER * 0.8 <= july <= 1.0  # hot water, hardly any heating
    assert january > 8 * july
    night = sum(january_hours[1:5]) / 4
    assert sum(january_hours[6:9]) / 3 > 1.5 * night and sum(january_hours[17:21]) / 4 > 1.5 * night
    assert sum(july_hours[6:9]) / 3 > 3 * sum(july_hours[1:5]) / 4  # showers in the morning
    assert demo.temperature(local(2026, 1, 15) // DAY) < 8
    assert demo.temperature(local(2026, 7, 15) // DAY) > 14


def test_a_year_of_gas_is_a_belgian_households() -> None:
    per_day, _ = daily_gas(local(2026, 1, 1), 365)
    assert 900 <= per_day * 365 <= 2000  # m3


# -- the tariffs in local time ---------------------------------------------------------------------------------

def test_day_and_night_tiers_switch_at_local_07_and_22_on_weekdays() -> None:
    # Wednesday 2026-12-16 (UTC+1) and Wednesday 2026-06-17 (UTC+2)
    assert tiers_at(2026, 12, 16, 6, 59)[0] == 0 and tiers_at(2026, 12, 16, 6, 59)[1] > 0
    assert tiers_at(2026, 12, 16, 7, 1)[0] > 0 and tiers_at(2026, 12, 16, 7, 1)[1] == 0
    assert tiers_at(2026, 12, 16, 21, 59)[0] > 0 and tiers_at(2026, 12, 16, 21, 59)[1] == 0
    assert tiers_at(2026, 12, 16, 22, 1)[0] == 0 and tiers_at(2026, 12, 16, 22, 1)[1] > 0
    assert tiers_at(2026, 6, 17, 21, 59)[0] > 0 and tiers_at(2026, 6, 17, 22, 1)[1] > 0
    assert tiers_at(2026, 6, 17, 21, 59)[1] == 0 and tiers_at(2026, 6, 17, 22, 1)[0] == 0
    # at 10 s: the reading at 22:00:00 closes a day-tariff interval, the one at 22:00:10 a night one
    assert tiers_at(2026, 12, 16, 22, 0, 0, step=10 * SECOND)[1] == 0
    assert tiers_at(2026, 12, 16, 22, 0, 10, step=10 * SECOND)[0] == 0


def test_saturday_is_night_tariff_all_day() -> None:
    assert tiers_at(2026, 12, 5, 12, 0) == (0, 32)  # Saturday noon (hand-read: 32 Wh in that minute)
    items = list(household(local(2026, 12, 5), local(2026, 12, 7), MINUTE))  # Saturday and Sunday
    t1 = {item["data"]["positiveActiveEnergy"]["t1"] for item in items}
    assert len(t1) == 1
    assert items[-1]["data"]["positiveActiveEnergy"]["t2"] > items[0]["data"]["positiveActiveEnergy"]["t2"]


@pytest.mark.parametrize("friday, sunday, monday", [((2026, 3, 27), (2026, 3, 29), (2026, 3, 30)),
                                                     ((2026, 10, 23), (2026, 10, 25), (2026, 10, 26))])
def test_the_switch_stays_at_local_22_across_the_clock_changes(friday: tuple, sunday: tuple, monday: tuple) -> None:
    """Both clock changes of 2026 fall on a Sunday (all night tariff): the switch is at 22:00 local on the
    Friday before and on the Monday after, i.e. at another UTC hour."""
    for day in (friday, monday):
        assert tiers_at(*day, 21, 59)[0] > 0 and tiers_at(*day, 21, 59)[1] == 0
        assert tiers_at(*day, 22, 1)[0] == 0 and tiers_at(*day, 22, 1)[1] > 0
    assert tiers_at(*monday, 6, 59)[0] == 0 and tiers_at(*monday, 7, 1)[1] == 0
    assert tiers_at(*monday, 7, 1)[0] > 0
    utc_hours = {datetime.fromtimestamp(local(*day, 22) / SECOND).astimezone(ZoneInfo("UTC")).hour
                 for day in (friday, monday)}
    assert len(utc_hours) == 2  # 21:00Z and 20:00Z (spring), 20:00Z and 21:00Z (autumn)
    items = list(household(local(*sunday), local(*monday), MINUTE))  # the 23- or 25-hour Sunday
    assert len(items) == (23 if sunday[1] == 3 else 25) * 60
    assert len({item["data"]["positiveActiveEnergy"]["t1"] for item in items}) == 1


# -- the EV charger behind the household meter -----------------------------------------------------------------

def test_the_charger_is_inside_the_households_import() -> None:
    plug, unplug = ev_session(local(2026, 6, 19, 12))
    assert (plug, unplug) == (local(2026, 6, 18, 19, 33), local(2026, 6, 19, 7, 41))
    start, end = plug - 30 * MINUTE, unplug + 30 * MINUTE
    meter = list(household(start, end + 1))
    charger = list(ev_charger(start, end + 1))
    imported = meter[-1]["data"]["positiveActiveEnergy"]["total"] - meter[0]["data"]["positiveActiveEnergy"]["total"]
    charged = 1000 * (charger[-1]["data"]["positiveActiveEnergy"]["total"]
                      - charger[0]["data"]["positiveActiveEnergy"]["total"])
    assert charged > 5_000  # Wh
    assert imported >= charged + 1_000  # the charger and the household's own night load
    power = {item["timestamp"]: item["data"]["positiveActiveInstantaneousPower"]["total"] for item in meter}
    charging = 0
    for item in charger:
        kw = item["data"]["positiveActiveInstantaneousPower"]["total"]
        if kw:
            charging += 1
            assert power[item["timestamp"]] >= 1000 * kw  # the same instant, in W
            assert 1.0 <= kw <= 6.0  # 3.7 kW on one phase or 4.1–5.5 kW on three, less near the 80 % limit
            local_time = datetime.fromisoformat(item["timestamp"]).astimezone(BRUSSELS)
            assert local_time.hour >= 22 or local_time.hour < 8  # on the night tariff
    assert charging > 60
    assert 3.5 <= max(item["data"]["positiveActiveInstantaneousPower"]["total"] for item in charger) <= 6.0


def test_ev_session_is_the_last_one_that_charged_for_an_hour() -> None:
    for before in (local(2026, 6, 19, 12), local(2026, 12, 16, 22, 30), local(2026, 12, 16, 23, 30)):
        plug, unplug = ev_session(before)
        assert plug < unplug and before - 2 * DAY - 2 * HOUR <= plug < before
        soc = [item["data"]["stateOfCharge"]["value"] for item in ev_charger(plug, min(unplug, before))]
        assert soc and soc[-1] > soc[0]


# -- the capacity tariff and the registers ---------------------------------------------------------------------

def test_a_year_of_monthly_quarter_hour_peaks_between_4_and_7_kw() -> None:
    quarter = 15 * MINUTE
    peaks: dict[str, float] = defaultdict(float)
    previous = None
    for item in household(local(2026, 1, 1), local(2027, 1, 1) + 1, quarter):
        energy = item["data"]["positiveActiveEnergy"]
        injected = item["data"]["negativeActiveEnergy"]["total"]
        if previous is not None:
            assert energy["t1"] >= previous[0]["t1"] and energy["t2"] >= previous[0]["t2"]
            assert injected >= previous[1]
            month = datetime.fromisoformat(item["timestamp"]).astimezone(BRUSSELS).strftime("%Y-%m")
            peaks[month] = max(peaks[month], (energy["total"] - previous[0]["total"]) * 4 / 1000)  # kW
        previous = energy, injected
    assert len(peaks) >= 12
    within = [p for p in peaks.values() if 4 <= p <= 7]
    assert len(within) >= 10, peaks
    assert max(peaks.values()) - min(peaks.values()) >= 0.3, peaks  # the tariff moves month to month
    assert all(p > 2.5 for p in peaks.values())


def test_registers_never_decrease_at_10_s_and_the_generators_are_deterministic() -> None:
    start = local(2026, 3, 28)  # over the spring clock change
    assert list(household(start, start + HOUR)) == list(household(start, start + HOUR))
    previous = None
    for item in household(start, start + 2 * DAY):
        data = item["data"]
        registers = (data["positiveActiveEnergy"]["t1"], data["positiveActiveEnergy"]["t2"],
                     data["negativeActiveEnergy"]["total"])
        if previous is not None:
            assert all(now >= then for now, then in zip(registers, previous))
        previous = registers
        assert all(225 <= data["instantaneousVoltage"][p] <= 240 for p in ("l1", "l2", "l3"))
    energy = 0.0
    for item in ev_charger(start, start + 2 * DAY):
        assert item["data"]["positiveActiveEnergy"]["total"] >= energy
        energy = item["data"]["positiveActiveEnergy"]["total"]
    volume = 0.0
    for item in gas(start, start + 2 * DAY):
        assert item["data"]["positiveGasVolume"]["value"] >= volume
        volume = item["data"]["positiveGasVolume"]["value"]


def test_the_readme_describes_the_demo() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert "07:00–22:00" in readme and "07:00–23:00" not in readme
