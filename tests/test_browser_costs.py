"""The dashboard's cost panel (contract §4) in a real headless Chromium against a real `connect-readings serve` on
the demo's data (`load_demo`: the household on a dynamic day-ahead tariff, the gas meter on a fixed price, the
EV charger reimbursed per kWh). Every number drawn is the API's `/costs`, unchanged."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from connect_readings.demo import (
    DEMO_TIME_ZONE,
    EV_CHARGER,
    GAS_METER,
    HOUSEHOLD,
    load_demo,
)
from connect_readings.storage.sqlite import SQLiteStore

from .test_browser import (  # noqa: F401 (browser: a fixture, used as a parameter: F811 below)
    REPO,
    SCREENSHOTS,
    api_get,
    browser,
    open_dashboard,
    plot,
    show_entity,
    table,
    wait_js,
)
from .test_crash_safety import Server, token

DAYS = 8  # the last 7 days (today included) all have data


@pytest.fixture(scope="module")
def cost_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    db = tmp_path_factory.mktemp("costs") / "demo.db"
    store = SQLiteStore(str(db))
    load_demo(store, time.time_ns() // 1000, DAYS)
    store.close()
    server = Server(db).start()
    yield server
    server.stop()


def costs_of(server: Server, bearer: str, page) -> list[dict]:
    """The API's /costs for the view drawn."""
    data = page.evaluate("window.__dashboard.lastData")
    view, query = data["view"], data["query"]
    return api_get(server, bearer, f"/v1/entities/{query['entity']}/costs",
                   {"start": view["start"], "end": view["end"], "resolution": view["resolution"],
                    "timeZone": query["timeZone"]})


def cost_traces(page) -> dict[str, dict]:
    return {t["name"]: t for t in plot(page, "costs")["traces"]}


def totals_shown(page) -> dict[str, tuple[str, float]]:
    """The panel header's sums: key → (text, the unrounded value in data-value)."""
    return {k: (text, float(v)) for k, text, v in page.eval_on_selector_all(
        "#cost-totals li", "els => els.map(e => [e.dataset.key, e.querySelector('strong').textContent, e.dataset.value])")}


def assert_aligned(page) -> None:
    costs, consumption = plot(page, "costs"), plot(page, "consumption")
    assert costs["categories"] == consumption["categories"] and costs["range"] == consumption["range"]
    assert (costs["offset"], costs["length"], costs["margin"]) == (consumption["offset"], consumption["length"],
                                                                   consumption["margin"])
    for other in ("power",):
        if page.is_visible(f"#{other}-panel"):
            o = plot(page, other)
            assert (o["offset"], o["length"], o["margin"]) == (consumption["offset"], consumption["length"],
                                                               consumption["margin"])


@pytest.mark.slow
@pytest.mark.parametrize("width", [1280, 360])
def test_the_households_costs_are_the_apis(browser, cost_server: Server, width: int) -> None:  # noqa: F811
    bearer = token()
    page, errors = open_dashboard(browser, cost_server, width, bearer)
    show_entity(page, HOUSEHOLD)
    data = page.evaluate("window.__dashboard.lastData")
    assert data["query"]["start"] == (datetime.now(ZoneInfo(DEMO_TIME_ZONE)).date() - timedelta(days=6)).isoformat()
    assert data["view"]["resolution"] == "1 day"
    requests = page.evaluate("window.__dashboard.requests")
    assert any("/costs?" in r and "resolution=1+day" in r for r in requests), requests
    expected = costs_of(cost_server, bearer, page)
    assert len(expected) == 7 and all(item["currency"] == "EUR" for item in expected)
    assert page.is_visible("#cost-panel")

    traces = cost_traces(page)
    components = {"Import": lambda d: d["import"]["cost"], "Capacity": lambda d: d["capacity"]["cost"],
                  "Fixed": lambda d: d["fixed"]["cost"], "VAT": lambda d: d["vat"],
                  "Export (credit)": lambda d: d["export"]["cost"]}
    assert [n for n, t in traces.items() if t["type"] == "bar"] == list(components)  # paid above, credit below
    for name, of in components.items():
        assert traces[name]["y"] == [of(item["data"]) for item in expected], name
    assert any(v < 0 for v in traces["Export (credit)"]["y"])  # export's credit below the axis
    totals = traces["Total"]["y"]
    assert totals == [item["data"]["total"] for item in expected]
    for k, total in enumerate(totals):  # the stacked components add up to the bucket's total
        assert sum(traces[name]["y"][k] for name in components) == pytest.approx(total, abs=1e-9)
    layout = plot(page, "costs")["layout"]
    assert layout["barmode"] == "relative"

    # the window's total and per component, to the cent
    shown = totals_shown(page)
    assert shown["total"][0] == f"{sum(totals):.2f} EUR" and shown["total"][1] == pytest.approx(sum(totals), abs=1e-9)
    assert shown["import"][0] == f"{sum(i['data']['import']['cost'] for i in expected):.2f} EUR"
    assert shown["export"][0] == f"{sum(i['data']['export']['cost'] for i in expected):.2f} EUR"

    # dynamic import: the energy-weighted average unit price per day, on the right axis
    price = next(t for n, t in traces.items() if "unit price" in n.lower())
    assert price["yaxis"] == "y2" and "Average unit price" in price["name"]
    for value, item in zip(price["y"], expected):
        im = item["data"]["import"]
        assert value == pytest.approx(im["cost"] / (im["energy"] - im["unpricedEnergy"]), rel=1e-12)
    assert "energy-weighted" in page.text_content("#cost-note")

    # the table: the total cost per bucket and the window's in the foot
    keys, rows = table(page)
    assert keys[-1] == "cost.total"
    assert [float(r[-1]) for r in rows] == totals
    _, texts = table(page, shown=True)
    assert all(t[-1] == f"{v:.2f}" for t, v in zip(texts, totals))
    foot = page.eval_on_selector_all("#table tfoot tr > *", "cells => cells.map(c => c.textContent)")
    assert foot[-1] == f"{sum(totals):.2f}"

    assert_aligned(page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#cost-panel").scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / f"costs-{width}.png"), full_page=True)
    page.locator("#cost-panel").screenshot(path=str(SCREENSHOTS / f"costs-panel-{width}.png"))
    assert page.evaluate("document.documentElement.scrollWidth") <= width + 1
    assert not errors, errors
    page.close()


@pytest.mark.slow
def test_quarter_hours_draw_the_price_in_force(browser, cost_server: Server) -> None:  # noqa: F811
    """Buckets as fine as the prices (the demo's are quarter-hours): the line is the price series × factor + adder."""
    bearer = token()
    page, errors = open_dashboard(browser, cost_server, 1280, bearer)
    show_entity(page, HOUSEHOLD)
    page.select_option("#preset", "today")
    page.select_option("#resolution", "15 minutes")
    page.evaluate("window.__dashboard.lastShow = null")
    page.click("#query button[type=submit]")
    wait_js(page, "window.__dashboard.lastShow !== null")
    page.wait_for_load_state("networkidle")
    data = page.evaluate("window.__dashboard.lastData")
    assert data["view"]["resolution"] == "15 minutes"
    expected = costs_of(cost_server, bearer, page)
    tariff = httpx.get(f"{cost_server.url}/v1/entities/{HOUSEHOLD}/tariff",
                       headers={"Authorization": f"Bearer {bearer}"}).json()
    pricing = tariff["periods"][-1]["import"]
    prices = api_get(cost_server, bearer, f"/v1/prices/{pricing['prices']}",
                     {"start": data["view"]["start"], "end": data["view"]["end"], "timeZone": data["query"]["timeZone"]})
    by_start = {datetime.fromisoformat(p["start"]): p["price"] for p in prices}
    traces = cost_traces(page)
    # The chart's slots are the buckets of /aggregations, /statistics and /costs together: a last quarter-hour
    # whose only reading lies on its start is a statistics bucket without consumption or cost (drawn as a gap).
    cost_at = {datetime.fromisoformat(item["timeframe"]["start"]): item for item in expected}
    slots = [datetime.fromisoformat(s["timeframe"]["start"]) if s["timeframe"] else None for s in data["slots"]]
    assert set(cost_at) <= set(slots)  # every /costs bucket is drawn
    drawn = [cost_at.get(start) for start in slots]
    assert traces["Total"]["y"] == [None if item is None else item["data"]["total"] for item in drawn]
    line = traces["Unit price (EUR/kWh)"]
    assert line["yaxis"] == "y2"
    for value, item in ((v, item) for v, item in zip(line["y"], drawn) if item is not None):
        price = by_start[datetime.fromisoformat(item["timeframe"]["start"])]
        assert value == pytest.approx(pricing["factor"] * price + pricing["adder"], abs=1e-12)
        im = item["data"].get("import")
        if im and im["energy"] > 1e-6:  # the price the bucket's import was charged at
            assert im["cost"] / im["energy"] == pytest.approx(value, rel=1e-6, abs=1e-9)
    assert_aligned(page)
    assert not errors, errors
    page.close()


@pytest.mark.slow
def test_colour_by_price(browser, cost_server: Server) -> None:  # noqa: F811
    page, errors = open_dashboard(browser, cost_server, 1280, token())
    show_entity(page, HOUSEHOLD)
    colours = "document.getElementById('consumption').data.filter(t => t.name.startsWith('Import')).map(t => t.marker.color ?? null)"
    assert page.is_visible("#colour-by-price")
    assert all(not isinstance(c, list) for c in page.evaluate(colours))
    page.check("#colour-by-price")
    wait_js(page, f"({colours}).every(c => Array.isArray(c))")
    price = page.evaluate("window.__dashboard.lastData.cost.price.values")
    coloured = page.evaluate(colours)
    assert len(coloured) == 2 and all(c == price for c in coloured)  # both tiers, by the bucket's unit price
    scales = page.evaluate("document.getElementById('consumption').data.map(t => !!(t.marker && t.marker.showscale))")
    assert scales.count(True) == 1  # one colour bar
    assert_aligned(page)  # the colour bar does not move the plot area
    page.uncheck("#colour-by-price")
    wait_js(page, f"({colours}).every(c => !Array.isArray(c))")

    # not for a fixed price
    show_entity(page, EV_CHARGER)
    assert not page.is_visible("#colour-by-price") and page.is_visible("#cost-panel")
    assert not errors, errors
    page.close()


@pytest.mark.slow
def test_gas_meter_and_charger_costs(browser, cost_server: Server) -> None:  # noqa: F811
    bearer = token()
    page, errors = open_dashboard(browser, cost_server, 1280, bearer)
    show_entity(page, GAS_METER)
    expected = costs_of(cost_server, bearer, page)
    traces = cost_traces(page)
    assert list(traces) == ["Gas", "Fixed", "VAT", "Total"]  # no price line: a fixed price
    assert traces["Gas"]["y"] == [i["data"]["gas"]["cost"] for i in expected]
    assert traces["Total"]["y"] == [i["data"]["total"] for i in expected]
    assert totals_shown(page)["total"][0] == f"{sum(i['data']['total'] for i in expected):.2f} EUR"
    assert not page.is_visible("#colour-by-price")
    assert_aligned(page)

    show_entity(page, EV_CHARGER)
    expected = costs_of(cost_server, bearer, page)
    traces = cost_traces(page)
    assert list(traces) == ["Import", "Total"]  # the reimbursement: no VAT on it
    assert traces["Import"]["y"] == [i["data"]["import"]["cost"] for i in expected]
    assert_aligned(page)
    assert not errors, errors
    page.close()


NO_TARIFF = uuid.UUID("fffffff0-0000-4000-8000-0000000c0575")


@pytest.mark.slow
def test_no_cost_panel_without_a_tariff(browser, cost_server: Server) -> None:  # noqa: F811
    headers = {"Authorization": f"Bearer {token(scope='entities:write readings:write')}"}
    response = httpx.put(f"{cost_server.url}/v1/entities/{NO_TARIFF}", headers=headers,
                         json={"type": "Meter", "name": "Meter without a tariff", "timeZone": DEMO_TIME_ZONE})
    assert response.status_code in (200, 201), response.text
    now = datetime.now(ZoneInfo("UTC")).replace(minute=0, second=0, microsecond=0)
    readings = [{"timestamp": (now - timedelta(hours=h)).isoformat().replace("+00:00", "Z"),
                 "data": {"positiveActiveEnergy": {"total": 500 - h, "unit": "kWh"}}} for h in range(48, -1, -1)]
    response = httpx.post(f"{cost_server.url}/v1/entities/{NO_TARIFF}/readings", headers=headers, json={"data": readings})
    assert response.status_code == 200, response.text

    page, errors = open_dashboard(browser, cost_server, 1280, token())
    show_entity(page, HOUSEHOLD)
    assert page.is_visible("#cost-panel")
    show_entity(page, NO_TARIFF)
    assert page.is_visible("#consumption-panel") and not page.is_visible("#cost-panel")
    assert not page.is_visible("#colour-by-price")
    keys, _ = table(page)
    assert "cost.total" not in keys
    # its tariff is known to be none: the next Show asks no /costs
    before = len(page.evaluate("window.__dashboard.requests"))
    page.evaluate("window.__dashboard.lastShow = null")
    page.click("#query button[type=submit]")
    wait_js(page, "window.__dashboard.lastShow !== null")
    requests = page.evaluate("window.__dashboard.requests")[before:]
    assert not any("/costs" in r or "/tariff" in r for r in requests), requests
    assert not errors, errors
    page.close()


def test_the_readme_shows_the_cost_screenshot() -> None:
    assert "docs/screenshots/dashboard-costs.png" in (REPO / "README.md").read_text(encoding="utf-8")
    assert "!docs/screenshots/dashboard-costs.png" in (REPO / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert (REPO / "docs" / "screenshots" / "dashboard-costs.png").is_file()  # (a copy of latest/costs-1280.png, by hand)
