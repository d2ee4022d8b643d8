// The dashboard: one module, no build step. Reads the API with the bearer token kept in sessionStorage and
// draws with Plotly (served by the service). Every number shown is the API's, unchanged.
const TOKEN_KEY = "connect-readings.token";
const TIERS = ["t1", "t2", "t3", "t4"];
const PATTERNS = ["", "/", "x", ".", "\\", "+", "-", "|"];
const $ = (id) => document.getElementById(id);
const PANELS = ["consumption-panel", "cost-panel", "power-panel", "ev-panel", "tariff-panel", "table-panel"];

// -- what an entity is ---------------------------------------------------------------------------------
// Tier names follow the country's meters (the API's registers stay t1, t2, …): the entity's
// properties.country (ISO 3166 alpha-2), else the country of its time zone; any other country: "Tier n".
const ZONE_COUNTRY = { "Europe/Brussels": "BE", "Europe/Amsterdam": "NL", "Europe/Luxembourg": "LU",
  "Europe/Paris": "FR", "Europe/Berlin": "DE", "Europe/London": "GB", "Europe/Dublin": "IE", "Europe/Vienna": "AT",
  "Europe/Zurich": "CH", "Europe/Madrid": "ES", "Europe/Rome": "IT", "Europe/Lisbon": "PT" };
const TIER_NAMES = {
  BE: { t1: "Day", t2: "Night", note: "Belgian meters" }, // tariff 1 = day (peak), 2 = night (off-peak)
  NL: { t1: "Low (night)", t2: "Normal (day)", note: "Dutch meters (DSMR)" }, // tarief 1 = laag, 2 = normaal
};
function countryOf(entity) {
  const given = entity && entity.properties && entity.properties.country;
  if (typeof given === "string" && /^[A-Za-z]{2}$/.test(given.trim())) return given.trim().toUpperCase();
  return (entity && ZONE_COUNTRY[entity.timeZone]) || null;
}
const tierName = (tier, country) => ((TIER_NAMES[country] || {})[tier]) || `Tier ${tier.slice(1)}`;
// The capacity tariff is billed on a grid connection: meters, not the devices behind them.
const GRID_TYPES = ["Meter", "RetrofitMeter"];
const DEVICE_TYPES = ["ChargePoint", "EV", "Battery", "HeatPump", "SolarPlant", "Inverter"];
/** true: a grid connection; false: a device behind one; null: unknown type (a grid connection if it imports). */
const gridConnection = (entity) => (!entity ? null : GRID_TYPES.includes(entity.type) ? true
  : DEVICE_TYPES.includes(entity.type) ? false : null);
const entityOf = (id) => state.entities.find((e) => e.id === id);
/** The first view: the first grid meter that is not a gas meter (by its name), else the first entity. */
const firstEntity = (entities) =>
  entities.find((e) => GRID_TYPES.includes(e.type) && !/\bgas\b/i.test(e.name || "")) || entities[0];
const state = { entities: [], requests: [], lastQuery: null, lastData: null, renderMs: null,
  aborts: 0, longTasks: [], lastShow: null, overview: null, controller: null, tablePage: 0,
  contracts: new Map() }; // entity id → its tariff (GET …/tariff), null: none (no cost panel, no /costs request)
window.__dashboard = state; // for the browser tests and the render benchmark
try { // main-thread tasks over 50 ms, for the tests (a year of quarter-hours must not freeze the tab)
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) state.longTasks.push({ start: e.startTime, ms: e.duration });
  }).observe({ type: "longtask", buffered: true });
} catch { /* no long-task timing in this browser */ }

// -- sign in -------------------------------------------------------------------------------------------
function takeTokenFromFragment() {
  const match = /^#token=(.+)$/.exec(location.hash);
  if (!match) return;
  sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
  history.replaceState(null, "", location.pathname + location.search); // the token leaves the address bar
}
const token = () => sessionStorage.getItem(TOKEN_KEY);

function showSignedIn(signedIn) {
  $("sign-in").hidden = signedIn;
  $("query").hidden = !signedIn;
  $("sign-out").hidden = !signedIn;
  if (!signedIn) for (const id of PANELS) $(id).hidden = true;
}

function status(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

// -- the API -------------------------------------------------------------------------------------------
class ApiError extends Error {}

const isAbort = (error) => error && error.name === "AbortError";
/** GET path: the parsed body (or the response); `signal` cancels it (counted in state.aborts). */
async function api(path, params = {}, accept = "json", signal = undefined) {
  try { return await request(path, params, accept, signal); } catch (error) {
    if (isAbort(error)) state.aborts += 1;
    throw error;
  }
}
async function request(path, params, accept, signal) {
  const url = new URL(path, document.baseURI);
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) url.searchParams.set(k, v);
  state.requests.push(url.pathname + url.search);
  const response = await fetch(url, { headers: { Authorization: `Bearer ${token()}` }, signal });
  if (response.ok) return accept === "json" ? response.json() : response;
  const { code, message } = await errorOf(response);
  if (response.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    showSignedIn(false);
    throw new ApiError(`The token was refused (${message}): sign in again.`);
  }
  throw new ApiError(`${code}: ${message}`); // e.g. "Forbidden: the bearer token lacks the 'readings:read' scope"
}
/** The API's own words: the first error of the body {"errors": [{code, message, description}]}. */
async function errorOf(response) {
  try {
    const e = (await response.json()).errors[0];
    if (e && e.message) return { code: e.code || `HTTP ${response.status}`, message: e.message };
  } catch { /* not JSON: a proxy's page */ }
  return { code: `HTTP ${response.status}`, message: response.statusText || "no details" };
}

/** Every item, in pages of `pageSize` (the API's maximum is 10000: a year of quarter-hours is 4 requests). */
async function allPages(path, params, signal = undefined, pageSize = 10000) {
  const items = [];
  let continuationToken;
  do {
    const body = await api(path, { ...params, pageSize, continuationToken }, "json", signal);
    items.push(...body.data);
    continuationToken = body.meta && body.meta.continuationToken;
  } while (continuationToken);
  return items;
}

// -- time windows --------------------------------------------------------------------------------------
// Windows are sent as local dates without an offset: the API reads them as wall time in the request's
// timeZone, so a day is the zone's own day (23 or 25 hours on clock-change days, a skipped midnight included).
/** The date y-m-d as YYYY-MM-DD (Date.UTC normalises overflowing days/months). */
const isoDate = (y, m, d) => new Date(Date.UTC(y, m - 1, d)).toISOString().slice(0, 10);
function today(zone) {
  const [y, m, d] = new Intl.DateTimeFormat("en-CA", { timeZone: zone }).format(new Date()).split("-").map(Number);
  return { y, m, d };
}
function windowOf(preset, zone) {
  const { y, m, d } = today(zone);
  switch (preset) {
    case "today": return [isoDate(y, m, d), isoDate(y, m, d + 1)];
    case "7d": return [isoDate(y, m, d - 6), isoDate(y, m, d + 1)];
    case "month": return [isoDate(y, m, 1), isoDate(y, m + 1, 1)];
    case "year": return [isoDate(y, 1, 1), isoDate(y + 1, 1, 1)];
    default: {
      const [fy, fm, fd] = $("from").value.split("-").map(Number);
      const [ty, tm, td] = $("to").value.split("-").map(Number);
      if (!fy || !ty) throw new ApiError("Pick both dates of the custom window.");
      return [isoDate(fy, fm, fd), isoDate(ty, tm, td + 1)];
    }
  }
}
/** Move the window by its own length (whole months when it runs from a 1st to a 1st), as custom dates. */
function movePeriod(direction) {
  const q = currentQuery();
  const [sy, sm, sd] = q.start.split("-").map(Number), [ey, em, ed] = q.end.split("-").map(Number);
  let start, end;
  if (sd === 1 && ed === 1) {
    const months = direction * ((ey - sy) * 12 + (em - sm));
    [start, end] = [isoDate(sy, sm + months, 1), isoDate(ey, em + months, 1)];
  } else {
    const days = direction * (Date.UTC(ey, em - 1, ed) - Date.UTC(sy, sm - 1, sd)) / 864e5;
    [start, end] = [isoDate(sy, sm, sd + days), isoDate(ey, em, ed + days)];
  }
  const [y, m, d] = end.split("-").map(Number);
  $("preset").value = "custom";
  syncCustom();
  $("from").value = start;
  $("to").value = isoDate(y, m, d - 1); // inclusive
  return show();
}
const syncCustom = () => { for (const el of document.querySelectorAll(".custom")) el.hidden = $("preset").value !== "custom"; };

// -- resolution per view -------------------------------------------------------------------------------
// The charts ask for about as many buckets as they have pixels: a year of quarter-hours is drawn from days (or
// weeks on a phone), and the chosen resolution is fetched for the range the user zooms into.
const SECONDS = { "15 minutes": 900, "1 hour": 3600, "1 day": 86400, "1 week": 604800, "1 month": 2629746 };
const LADDER = Object.keys(SECONDS);
/** The finest resolution, no finer than `chosen`, giving at most `room` buckets over `spanMs`. */
function resolutionFor(chosen, spanMs, room) {
  const from = LADDER.indexOf(chosen);
  if (from < 0) return chosen;
  return LADDER.slice(from).find((r) => spanMs / 1000 / SECONDS[r] <= room) || LADDER[LADDER.length - 1];
}
/** The plot width in px (measured on the form, visible whenever a chart is, even before the first one). */
const plotRoom = () => Math.max(200, $("query").clientWidth - 26 - LAYOUT.margin.l - LAYOUT.margin.r);
/** A statistics page evaluates at most 1,000,000 demand windows of 15 minutes (a clock change adds an hour). */
const statisticsPageSize = (r) => Math.max(1, Math.min(10000, Math.floor(900_000 / Math.ceil(((SECONDS[r] || 2678400) + 3600) / 900))));

const DEFAULT_RESOLUTION = { today: "1 hour", "7d": "1 day", month: "1 day", year: "1 month" };
const browserZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone;

/** The zone, if the browser knows it; else a plain message (Intl's RangeError is not one for the user). */
function knownZone(zone) {
  try { new Intl.DateTimeFormat("en", { timeZone: zone }); } catch {
    throw new ApiError(`Unknown time zone '${zone}': pick one from the list (such as Europe/Brussels).`);
  }
  return zone;
}

function currentQuery() {
  const zone = knownZone($("tz").value.trim() || browserZone());
  const [start, end] = windowOf($("preset").value, zone);
  return { entity: $("entity").value, start, end, resolution: $("resolution").value, timeZone: zone };
}

// -- data → series -------------------------------------------------------------------------------------
// The API writes bucket times with the query zone's offset, so a stamp's first 19 characters are its wall time
// there. On a clock-change day two buckets can share a wall time (02:00–03:00 twice in the autumn): those get
// their offset too. The charts put one bucket per slot of a category axis (Plotly knows no zones, and a date
// axis would draw both 02:00 buckets at one place), so each bar spans its bucket's slot in time order.
const wall = (stamp) => stamp.slice(0, 19).replace("T", " ");
const offsetOf = (stamp) => (/(?:[Zz]|[+-]\d\d:\d\d)$/.exec(stamp) || [""])[0];
/** The label of each stamp: its wall time, plus the offset where another stamp shows the same wall time. */
function labels(stamps) {
  const seen = new Map();
  for (const s of stamps) seen.set(wall(s), (seen.get(wall(s)) || 0) + 1);
  return stamps.map((s) => (seen.get(wall(s)) > 1 ? `${wall(s)} ${offsetOf(s)}` : wall(s)));
}
/** The x slots of bucket items, in order: {x: label, i: item index}, with an empty slot (i = -1) where the API
 * left out buckets (no coverage), so a gap shows as a gap. */
function slotsOf(items) {
  const names = labels(items.map((it) => it.timeframe.start));
  const slots = [];
  items.forEach((it, i) => {
    const prev = items[i - 1];
    if (prev && prev.timeframe.end && Date.parse(prev.timeframe.end) < Date.parse(it.timeframe.start))
      slots.push({ x: `\u2026 ${slots.length}`, i: -1 });
    slots.push({ x: names[i], i, stamp: it.timeframe.start });
  });
  return slots;
}
/** The x slots the charts share, so their buckets line up: the buckets of every list (aggregations, statistics)
 * by start instant, in time order, each slot with `at[l]`, its item's index in list l (-1: not in that list). */
function sharedSlots(...lists) {
  const byStart = new Map();
  lists.forEach((items, l) => items.forEach((it, i) => {
    const key = Date.parse(it.timeframe.start);
    if (!byStart.has(key)) byStart.set(key, { timeframe: it.timeframe, at: lists.map(() => -1) });
    const known = byStart.get(key);
    known.at[l] = i;
    if (!known.timeframe.end && it.timeframe.end) known.timeframe = it.timeframe;
  }));
  const merged = [...byStart.entries()].sort((a, b) => a[0] - b[0]).map(([, v]) => v);
  const none = lists.map(() => -1);
  return slotsOf(merged).map((s) => ({ ...s, at: s.i < 0 ? none : merged[s.i].at,
    timeframe: s.i < 0 ? null : merged[s.i].timeframe }));
}
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const midnight = (f) => f.h === 0 && f.mi === 0;
const dayNo = (f) => Date.UTC(f.y, f.mo - 1, f.d) / 864e5;
const TICK_STEPS = [ // finest first: [whether wall time f is a tick (f0: the first bucket's), the step's unit]
  [(f) => f.mi % 15 === 0, "time"], [(f) => f.mi % 30 === 0, "time"], [(f) => f.mi === 0, "time"],
  ...[2, 3, 6, 12].map((n) => [(f) => f.mi === 0 && f.h % n === 0, "time"]),
  ...[1, 2, 3, 7, 14].map((n) => [(f, f0) => midnight(f) && (dayNo(f) - dayNo(f0)) % n === 0, "day"]),
  ...[1, 3, 6, 12].map((n) => [(f) => midnight(f) && f.first && (f.mo - 1) % n === 0, "month"]),
];
/** At most about `room / 70 px` ticks on local wall-clock boundaries, labelled like Plotly's date axis. */
function ticks(slots, room) {
  const max = Math.max(2, Math.floor(room / 70));
  const named = slots.filter((s) => s.i >= 0).map((s) => {
    const w = wall(s.stamp);
    return { ...s, f: { y: +w.slice(0, 4), mo: +w.slice(5, 7), d: +w.slice(8, 10), h: +w.slice(11, 13), mi: +w.slice(14, 16) } };
  });
  named.forEach((s, j) => { s.f.first = s.f.d === 1 || (j > 0 && named[j - 1].f.mo !== s.f.mo); }); // (weeks: a month's first)
  const units = ["time", "day", "month"]; // no finer than the buckets: daily ones are not labelled 00:00
  const least = !named.every((s) => midnight(s.f)) ? 0 : named.length > 1 && named.every((s) => s.f.d === 1) ? 2 : 1;
  let chosen = [], unit = units[least];
  for (const [isTick, u] of TICK_STEPS) {
    if (units.indexOf(u) < least) continue;
    const hits = named.filter((s) => isTick(s.f, named[0].f));
    if (hits.length && hits.length <= max) { chosen = hits; unit = u; break; }
  }
  if (!chosen.length) { // nothing fits: every k-th bucket
    const k = Math.ceil(named.length / max);
    chosen = named.filter((_, j) => j % k === 0);
  }
  let previous = null;
  const text = chosen.map((s) => {
    const { y, mo, d, h, mi } = s.f, date = `${MONTHS[mo - 1]} ${d}`, first = previous === null;
    const newDay = first || previous.y !== y || previous.mo !== mo || previous.d !== d, newYear = first || previous.y !== y;
    previous = s.f;
    if (unit === "month") return MONTHS[mo - 1] + (newYear ? `<br>${y}` : "");
    if (unit === "day") return date + (newYear ? `<br>${y}` : "");
    const time = `${String(h).padStart(2, "0")}:${String(mi).padStart(2, "0")}`;
    const offset = s.x !== wall(s.stamp) ? `<br>${offsetOf(s.stamp).replace(/:00$/, "")}` : ""; // 02:00 twice: +02, +01
    return time + offset + (newDay ? `<br>${date}${first ? `, ${y}` : ""}` : "");
  });
  // the range is set (not autorange): a chart of lines would span the first to the last slot's centre, one of
  // bars half a slot more on either side; so every chart spans the same slots, bar charts or not
  return { type: "category", categoryorder: "array", categoryarray: slots.map((s) => s.x),
    range: [-0.5, slots.length - 0.5], autorange: false,
    tickmode: "array", tickvals: chosen.map((s) => s.x), ticktext: text,
    unifiedhovertitle: { text: "%{x}" } }; // the hover names the whole bucket (not the tick's short text)
}
const chartRoom = (id) => Math.max(200, $(id).clientWidth - LAYOUT.margin.l - LAYOUT.margin.r);

/** The consumption series of aggregation items: [{key, label, metric, sign, values[]}] (values as served);
 * tiers named by the country's convention (tierName). */
function consumptionSeries(items, country = null) {
  const series = [];
  for (const [metric, label, sign] of [["positiveActiveEnergy", "Import", 1], ["negativeActiveEnergy", "Export", -1]]) {
    const tiers = TIERS.filter((t) => items.some((it) => it.data[metric] && it.data[metric][t] != null));
    const fields = tiers.length ? tiers : ["total"];
    if (!items.some((it) => it.data[metric])) continue;
    for (const f of fields) {
      series.push({ key: `${metric}.${f}`, label: `${label}${f === "total" ? "" : ` ${tierName(f, country)}`} (kWh)`,
        sign, tier: f === "total" ? null : f, values: items.map((it) => (it.data[metric] ? it.data[metric][f] : null)) });
    }
  }
  for (const [metric, label] of [["positiveGasVolume", "Gas"], ["negativeGasVolume", "Gas returned"]]) {
    if (items.some((it) => it.data[metric]))
      series.push({ key: `${metric}.value`, label: `${label} (m³)`, gas: true,
        values: items.map((it) => (it.data[metric] ? it.data[metric].value : null)) });
  }
  return series;
}

// Every chart has the same left and right margins (a right axis or not), so their slots line up vertically:
// renderConsumption, drawn first, sets the right one (room for its m³ axis when it has one).
const MARGIN_RIGHT = { axis: 56, none: 16 };
const LAYOUT = { margin: { l: 56, r: MARGIN_RIGHT.none, t: 10, b: 40 }, legend: { orientation: "h", y: -0.2, traceorder: "normal" }, hovermode: "x unified",
  font: { family: "system-ui, sans-serif", size: 12 } };
const CONFIG = { responsive: true, displaylogo: false };
/** Draw chart `id`. A chart drawn while its panel was hidden keeps Plotly's default 700 px width when shown
 * again (the first window of an entity with old data is empty): it is resized to its box. */
function plot(id, traces, layout, config = CONFIG) {
  Plotly.react(id, traces, layout, config);
  const div = $(id);
  if (div._fullLayout && div.clientWidth && (Math.abs(div._fullLayout.width - div.clientWidth) > 1
    || Math.abs(div._fullLayout.height - div.clientHeight) > 1)) Plotly.Plots.resize(div);
}

const fixed3 = (v) => (v == null ? "" : v.toFixed(3)); // kWh and m³ shown to the Wh and the litre

/** Draw the consumption chart of aggregation items on `slots` (sharedSlots: at[0] is the item's index). */
function renderConsumption(items, slots = sharedSlots(items), country = null, cost = null) {
  const began = performance.now();
  const x = slots.map((s) => s.x);
  const series = consumptionSeries(items, country);
  const at = (values) => slots.map((s) => (s.at[0] < 0 ? null : values[s.at[0]]));
  const hasEnergy = series.some((s) => !s.gas), hasGas = series.some((s) => s.gas);
  const both = hasEnergy && hasGas; // energy bars in the left half of a slot, gas in the right half
  const price = cost && cost.price; // the bucket's unit price: import bars coloured by it when asked
  $("colour-by-price-field").hidden = !price;
  const colour = price && $("colour-by-price").checked ? priceColours(price, cost.currency) : null;
  let scaled = false;
  const traces = series.map((s, i) => s.gas
    ? { type: "bar", name: s.label, x, y: at(s.values), yaxis: hasEnergy ? "y2" : "y", customdata: at(s.values),
        hovertemplate: "%{customdata:.3f} m³", marker: { color: "#8a5a00", pattern: { shape: "x", solidity: 0.3 } },
        ...(both ? { offset: 0, width: 0.4 } : {}) }
    : { type: "bar", name: s.label, x, y: at(s.values.map((v) => (v == null ? null : s.sign * v))),
        customdata: at(s.values), hovertemplate: "%{customdata:.3f} kWh",
        marker: { pattern: { shape: PATTERNS[i % PATTERNS.length], solidity: 0.4 },
          ...(colour && s.sign > 0 ? colour(scaled ? false : (scaled = true)) : {}),
          ...(colour && s.sign < 0 ? { color: "#8a94a3" } : {}) }, // (export grey: green and red are prices here)
        ...(both ? { offset: -0.4, width: 0.4 } : {}) });
  $("consumption-panel").hidden = items.length === 0; // (shown before its width is measured for the ticks)
  $("consumption").classList.toggle("coloured", !!colour); // (taller on a phone: the colour bar takes room)
  // (for every chart, see LAYOUT: room for the m³ axis, or for the cost chart's unit price axis)
  LAYOUT.margin = { ...LAYOUT.margin, r: both || price ? MARGIN_RIGHT.axis : MARGIN_RIGHT.none };
  const tiers = series.filter((s) => s.tier).map((s) => s.tier).filter((t, i, all) => all.indexOf(t) === i);
  const convention = TIER_NAMES[country];
  $("tier-note").textContent = tiers.length
    ? ` Tiers: ${tiers.map((t) => `${t} = ${tierName(t, country).toLowerCase()}`).join(", ")}${convention ? ` (${convention.note})` : ""}.` : "";
  const layout = { ...LAYOUT, barmode: "relative", xaxis: ticks(slots, chartRoom("consumption")),
    yaxis: hasEnergy ? { title: { text: "kWh" }, zeroline: true, zerolinewidth: 2 }
      : { title: { text: "m³" }, rangemode: "tozero" },
    ...(both ? { yaxis2: { title: { text: "m³" }, overlaying: "y", side: "right", showgrid: false, rangemode: "tozero" } } : {}) };
  plot("consumption", traces, layout, CONFIG);
  renderTable(items, series, 0);
  state.renderMs = performance.now() - began;
  return state.renderMs;
}

const TABLE_ROWS = 100; // rows per table page: the DOM never holds a year of quarter-hours
function renderTable(items, series, page = 0) {
  const table = $("table"), tbody = table.tBodies[0];
  const pages = Math.max(1, Math.ceil(items.length / TABLE_ROWS));
  page = Math.min(Math.max(0, page), pages - 1);
  state.tablePage = page;
  const marks = qualityMarks(state.lastData ? state.lastData.statistics : []);
  const marked = marks.size > 0 && items.some((it) => marks.has(Date.parse(it.timeframe.start)));
  const head = marked ? ["Quality"] : []; // a column only when a bucket of the window has a mark
  // the bucket's total cost (the API's /costs of the same buckets), when the entity has a tariff
  const d = state.lastData, cost = d && d.cost && d.aggregations === items ? d.cost : null;
  const costs = cost ? new Map(d.costs.map((c) => [Date.parse(c.timeframe.start), c.data.total])) : null;
  const costAt = (i) => (costs ? costs.get(Date.parse(items[i].timeframe.start)) : undefined);
  const costHead = cost ? [`Total cost (${cost.currency})`] : [];
  table.tHead.replaceChildren(row("th", ["Bucket start", ...series.map((s) => s.label), ...costHead, ...head],
    [...series.map((s) => s.key), ...(cost ? ["cost.total"] : []), ...(marked ? ["quality"] : [])]));
  const totals = series.map((s) => s.values.reduce((sum, v) => (v == null ? sum : sum + v), 0));
  const foot = row("td", ["Total", ...totals.map(fixed3), ...(cost ? [money(cost.sums.total)] : []), ...(marked ? [""] : [])],
    [], [...totals.map(() => null), ...(cost ? [cost.sums.total] : [])]);
  foot.cells[0].replaceWith(Object.assign(document.createElement("th"), { scope: "row", textContent: "Total" }));
  table.tFoot.replaceChildren(foot);
  const names = labels(items.map((it) => it.timeframe.start));
  const first = page * TABLE_ROWS, last = Math.min(items.length, first + TABLE_ROWS);
  const rows = [];
  for (let i = first; i < last; i++) { // three decimals shown; the API's value, unrounded, in data-value and the title
    const tr = row("td", [names[i], ...series.map((s) => fixed3(s.values[i])), ...(cost ? [money(costAt(i))] : [])], [],
      [...series.map((s) => s.values[i]), ...(cost ? [costAt(i)] : [])]);
    if (marked) tr.append(qualityCell(marks.get(Date.parse(items[i].timeframe.start))));
    rows.push(tr);
  }
  tbody.replaceChildren(...rows);
  $("rows-info").textContent = items.length ? `Rows ${first + 1}–${last} of ${items.length}` : "";
  $("rows-prev").disabled = page === 0;
  $("rows-next").disabled = page >= pages - 1;
  $("table-pager").hidden = pages <= 1;
  $("table-panel").hidden = items.length === 0;
}
/** The validation statuses of the interval import (Fluvius' Dutch ones), as the table names them. */
const STATUS_NAMES = { geschat: "estimated", ontbrekend: "missing", berekend: "calculated", gecorrigeerd: "corrected" };
/** Per bucket start (ms): the quality marks (`quality`, `gasQuality`) of statistics items, as
 * [{ metric, intervals, readings, statuses }]. A bucket counts the marks of the readings in its (start, end]:
 * the intervals it holds that were not measured (the API's rule, docs/semantics.md §10). */
function qualityMarks(statistics) {
  const marks = new Map();
  for (const it of statistics || []) {
    const found = QUALITY.filter((m) => it.data[m]).map((m) => ({ metric: m, ...it.data[m] }));
    if (found.length) marks.set(Date.parse(it.timeframe.start), found);
  }
  return marks;
}
/** The table's Quality cell: e.g. "estimated (2)" (readings per status), the API's counts in the title. */
function qualityCell(found) {
  const cell = document.createElement("td");
  if (!found) return cell;
  const counts = new Map();
  for (const q of found) for (const [status, n] of Object.entries(q.statuses))
    counts.set(STATUS_NAMES[status.toLowerCase()] || status, (counts.get(STATUS_NAMES[status.toLowerCase()] || status) || 0) + n);
  cell.textContent = [...counts].map(([name, n]) => `${name} (${n})`).join(", ");
  cell.title = found.map((q) => `${q.metric === "gasQuality" ? "gas" : "electricity"}: ${q.intervals} interval(s) not measured `
    + `(${Object.entries(q.statuses).map(([s, n]) => `${s} ${n}`).join(", ")})`).join("; ");
  cell.dataset.quality = cell.textContent;
  return cell;
}
function row(tag, cells, keys = [], values = []) {
  const tr = document.createElement("tr");
  cells.forEach((text, i) => {
    const cell = document.createElement(tag);
    cell.textContent = text;
    if (tag === "th") { cell.scope = "col"; if (i > 0) cell.dataset.key = keys[i - 1]; }
    if (i > 0 && values[i - 1] != null) { cell.dataset.value = String(values[i - 1]); cell.title = String(values[i - 1]); }
    tr.append(cell);
  });
  return tr;
}

// -- costs (docs/semantics.md §15) -----------------------------------------------------------------------
/** The cost components, stacked in this order (what is paid above the axis; export's credit, negative, below). */
const COMPONENTS = [
  { key: "import", label: "Import", color: "#1f5fbf", pattern: "", of: (d) => d.import && d.import.cost },
  { key: "gas", label: "Gas", color: "#8a5a00", pattern: "x", of: (d) => d.gas && d.gas.cost },
  { key: "capacity", label: "Capacity", color: "#b34700", pattern: "/", of: (d) => d.capacity && d.capacity.cost },
  { key: "fixed", label: "Fixed", color: "#7b8794", pattern: ".", of: (d) => d.fixed && d.fixed.cost },
  { key: "vat", label: "VAT", color: "#9c27b0", pattern: "\\", of: (d) => d.vat },
  { key: "export", label: "Export (credit)", color: "#2e7d32", pattern: "", of: (d) => d.export && d.export.cost },
];
/** An amount to the cent (the API's value is in the element's data-value). */
const money = (v) => (v == null ? "" : Math.abs(v) < 0.005 ? "0.00" : v.toFixed(2));
const inForce = (contract, at) => { // the tariff period in force at instant `at` (ms), or null
  let found = null;
  for (const p of contract.periods || []) if (Date.parse(p.from) <= at) found = p;
  return found;
};
/** What the cost chart draws, per slot of `slots` (at[2]: the /costs item), or null when the entity has no tariff
 * (or every bucket is `data: {}`): the components the tariff has (VAT left out when it is 0 throughout), the
 * total per bucket, the window's sums, and with a dynamic import price the unit price per bucket — the price in
 * force (factor × the series' price + adder) where one price interval covers the bucket, else the bucket's
 * energy-weighted average, import.cost / (import.energy − unpricedEnergy); both in currency/kWh, without VAT. */
function costView(costs, slots, contract, prices) {
  if (!contract || !costs.some((c) => Object.keys(c.data).length)) return null;
  const item = (s) => (s.at[2] >= 0 ? costs[s.at[2]] : null);
  const components = COMPONENTS.map((c) => ({ ...c, values: slots.map((s) => { const it = item(s); const v = it && c.of(it.data); return v == null ? null : v; }) }))
    .filter((c) => c.values.some((v) => v != null) && (c.key !== "vat" || c.values.some((v) => v)));
  const totals = slots.map((s) => { const it = item(s); return it && it.data.total != null ? it.data.total : null; });
  const sum = (vs) => vs.reduce((a, v) => (v == null ? a : a + v), 0);
  const sums = Object.fromEntries([...components.map((c) => [c.key, sum(c.values)]), ["total", sum(totals)]]);
  const currency = (costs.find((c) => c.currency) || {}).currency || contract.currency || "";
  let price = null;
  if (dynamic(contract)) {
    const kinds = new Set(), cursor = {};
    const values = slots.map((s) => {
      const it = item(s);
      if (!it) return null;
      const start = Date.parse(it.timeframe.start), end = Date.parse(it.timeframe.end);
      const period = inForce(contract, start), id = seriesOf(period), list = (id && prices[id]) || [];
      let k = cursor[id] || 0; // (buckets and intervals are both in time order)
      while (k < list.length && Date.parse(list[k].end) <= start) k++;
      cursor[id] = k;
      const iv = list[k];
      if (iv && Date.parse(iv.start) <= start && Date.parse(iv.end) >= end && (!period.from || inForce(contract, end - 1) === period)) {
        kinds.add("series");
        const { factor = 1, adder = 0 } = period.import;
        return factor * iv.price + adder;
      }
      const im = it.data.import, priced = im ? im.energy - (im.unpricedEnergy || 0) : 0;
      if (!(priced > 1e-9)) return null;
      kinds.add("average");
      return im.cost / priced;
    });
    if (values.some((v) => v != null)) {
      price = { values, kind: kinds.size === 1 ? [...kinds][0] : "mixed",
        name: `${kinds.has("average") ? "Average unit price" : "Unit price"} (${currency}/kWh)` };
    }
  }
  return { currency, components, totals, sums, price };
}
/** Cheap green, dear red (the unit price of the window's buckets, min to max). */
const PRICE_SCALE = [[0, "#1a9850"], [0.25, "#91cf60"], [0.5, "#fee08b"], [0.75, "#fc8d59"], [1, "#d73027"]];
/** The marker of import bars coloured by the bucket's unit price (one colour bar: `withScale` on the first), the
 * bar above the plot (it adds to the top margin only: the plot keeps the slots and margins of the others). */
function priceColours(price, currency) {
  const known = price.values.filter((v) => v != null);
  const cmin = Math.min(...known), cmax = Math.max(...known), narrow = chartRoom("consumption") < 400;
  return (withScale) => ({ color: price.values, cmin, cmax: cmax > cmin ? cmax : cmin + 0.001,
    colorscale: PRICE_SCALE, showscale: withScale,
    ...(withScale ? { colorbar: { orientation: "h", title: { text: `${currency}/kWh`, side: "right" }, x: 1, xanchor: "right",
      y: 1.01, yanchor: "bottom", len: narrow ? 0.75 : 0.4, thickness: 8, nticks: narrow ? 3 : 5, tickangle: 0,
      tickformat: ".3f", outlinewidth: 0, ticks: "outside", ticklen: 3 } } : {}) });
}
/** The cost chart on the consumption chart's slots: the components stacked per bucket, the total (diamonds), the
 * unit price on its right axis; the window's sums in the panel's header. */
function renderCosts(cost, slots) {
  $("cost-panel").hidden = !cost;
  if (!cost) return;
  const x = slots.map((s) => s.x), cur = cost.currency;
  const traces = cost.components.map((c) => ({ type: "bar", name: c.label, x, y: c.values, // (in `cur`: the axis)
    hovertemplate: `%{y:.2f} ${cur}`, marker: { color: c.color, pattern: { shape: c.pattern, solidity: 0.5 } } })); // (export: solid, below the axis)
  traces.push({ type: "scatter", mode: "markers", name: "Total", x, y: cost.totals, hovertemplate: `%{y:.2f} ${cur}`,
    marker: { symbol: "diamond", size: 9, color: "#1d2430", line: { color: "#fff", width: 1 } } });
  if (cost.price) traces.push({ type: "scatter", mode: x.length > 60 ? "lines" : "lines+markers", name: cost.price.name,
    x, y: cost.price.values, yaxis: "y2", hovertemplate: `%{y:.4f} ${cur}/kWh`, connectgaps: false,
    line: { color: "#d81b60", width: 2 }, marker: { size: 5, color: "#d81b60" } });
  const items = [...cost.components.map((c) => [c.key, c.label, cost.sums[c.key]]), ["total", "Total", cost.sums.total]];
  $("cost-totals").replaceChildren(...items.map(([key, label, v]) => {
    const li = document.createElement("li");
    li.dataset.key = key;
    li.dataset.value = String(v);
    li.append(Object.assign(document.createElement("span"), { textContent: label }), " ",
      Object.assign(document.createElement("strong"), { textContent: `${money(v)} ${cur}` }));
    return li;
  }));
  $("cost-note").textContent = `Per bucket: ${cost.components.map((c) => c.label.toLowerCase()).join(", ")} stacked`
    + `${cost.components.some((c) => c.key === "export") ? " (export's credit below the axis)" : ""}; diamonds: the bucket's total.`
    + (!cost.price ? "" : cost.price.kind === "series"
      ? " Line: the unit price in force (the price series × factor + adder, without VAT), right axis."
      : " Line: the energy-weighted average unit price of the bucket's import (import cost ÷ priced energy, without VAT), right axis.");
  plot("costs", traces, { ...LAYOUT, barmode: "relative", xaxis: ticks(slots, chartRoom("costs")),
    yaxis: { title: { text: cur }, zeroline: true, zerolinewidth: 2 },
    ...(cost.price ? { yaxis2: { title: { text: `${cur}/kWh` }, overlaying: "y", side: "right", showgrid: false,
      tickformat: ".3f", zeroline: false } } : {}) }, CONFIG);
}

const kw = (g, unit) => (g == null ? null : unit === "W" ? g / 1000 : unit === "MW" ? g * 1000 : g);
/** A gauge's statistic `f` (mean, min, max) in slot s of statistics items, its field `field` (total, value). */
const gaugeAt = (items, s, metric, field, f, scale = (v) => v) => {
  const g = s.at[1] >= 0 && items[s.at[1]].data[metric];
  return g && g[field] && g[field][f] != null ? scale(g[field][f], g.unit) : null;
};
/** A min–max band (two traces) and the mean line of a gauge, in `sign` (−1: drawn below the axis). */
function gaugeTraces(items, slots, metric, field, { name, color, fill, dash, sign = 1, scale, yaxis = "y", unit, digits = 3 }) {
  const x = slots.map((s) => s.x), at = (f) => slots.map((s) => gaugeAt(items, s, metric, field, f, scale));
  const signed = (vs) => vs.map((v) => (v == null ? null : sign * v));
  const mean = at("mean");
  return [
    { type: "scatter", mode: "lines", name: `${name} max`, x, y: signed(at("max")), yaxis, line: { width: 0 }, showlegend: false, hoverinfo: "skip" },
    { type: "scatter", mode: "lines", name: `${name.replace(/^Mean (.)/, (_, c) => c.toUpperCase()).replace(/ \(.*\)$/, "")}: min–max`, x, y: signed(at("min")), yaxis, line: { width: 0 }, fill: "tonexty", fillcolor: fill, hoverinfo: "skip" },
    { type: "scatter", mode: "lines", name, x, y: signed(mean), yaxis, customdata: mean, hovertemplate: `%{customdata:.${digits}f} ${unit}`,
      line: { color, width: 2, dash: dash || "solid" } },
  ];
}

/** The power chart on the consumption chart's slots (at[1]: the statistics item): import above the axis,
 * export (negativeActiveInstantaneousPower, when the entity injects) below it, the peak demand. */
function renderPower(items, slots) {
  const peakOf = (it) => it.data.positiveActiveEnergy && it.data.positiveActiveEnergy.peakDemand;
  const has = (metric) => items.some((it) => it.data[metric]);
  const exports = items.some((it) => { const p = it.data.negativeActiveInstantaneousPower; return p && p.total && p.total.max > 0; });
  $("power-panel").hidden = !has("positiveActiveInstantaneousPower") && !exports && !items.some(peakOf);
  if ($("power-panel").hidden) return;
  const x = slots.map((s) => s.x);
  const peak = (s) => (s.at[1] >= 0 && peakOf(items[s.at[1]])) || null; // drawn in its bucket's slot, its own time on hover
  const traces = [
    ...(has("positiveActiveInstantaneousPower") ? gaugeTraces(items, slots, "positiveActiveInstantaneousPower", "total",
      { name: "Mean import power (kW)", color: "#1f5fbf", fill: "rgba(31,95,191,0.2)", scale: kw, unit: "kW" }) : []),
    ...(exports ? gaugeTraces(items, slots, "negativeActiveInstantaneousPower", "total",
      { name: "Mean export power (kW)", color: "#2e7d32", fill: "rgba(46,125,50,0.2)", dash: "dash", sign: -1, scale: kw, unit: "kW" }) : []),
    { type: "scatter", mode: "markers", name: "Peak demand (kW)", x, y: slots.map((s) => (peak(s) ? peak(s).value : null)),
      customdata: slots.map((s) => (peak(s) ? `${wall(peak(s).start).slice(11, 16)} ${offsetOf(peak(s).start)}` : "")),
      hovertemplate: "%{y:.3f} kW (at %{customdata})", marker: { symbol: "diamond", size: 9, color: "#b34700" } },
  ];
  $("power-note").textContent = `Mean import power (solid line) inside its min–max band${exports
    ? "; export power below the axis (dashed, its band)" : ""}; diamonds: peak 15-minute demand.`;
  plot("power", traces, { ...LAYOUT, xaxis: ticks(slots, chartRoom("power")),
    yaxis: { title: { text: "kW" }, rangemode: exports ? "normal" : "tozero", zeroline: true, zerolinewidth: 2 } }, CONFIG);
}

/** A vehicle's state of charge (%) and range (km) while plugged in, on the consumption chart's slots. */
function renderEv(items, slots) {
  const has = (metric) => items.some((it) => it.data[metric]);
  const soc = has("stateOfCharge"), range = has("range");
  $("ev-panel").hidden = !soc && !range;
  if ($("ev-panel").hidden) return;
  const traces = [
    ...(soc ? gaugeTraces(items, slots, "stateOfCharge", "value",
      { name: "State of charge (%)", color: "#6a1b9a", fill: "rgba(106,27,154,0.15)", unit: "%", digits: 1 }) : []),
    ...(range ? gaugeTraces(items, slots, "range", "value",
      { name: "Range (km)", color: "#00838f", fill: "rgba(0,131,143,0.12)", dash: "dash", unit: "km", digits: 0,
        yaxis: soc ? "y2" : "y" }) : []),
  ];
  // two strips, one above the other (the range is the state of charge times a constant: on one plot they'd overlap)
  const axis = (text, domain) => ({ title: { text }, rangemode: "tozero", domain, ...(text === "%" ? { range: [0, 105] } : {}) });
  plot("ev", traces, { ...LAYOUT, xaxis: { ...ticks(slots, chartRoom("ev")), anchor: soc && range ? "y2" : "y" },
    yaxis: axis(soc ? "%" : "km", soc && range ? [0.56, 1] : [0, 1]),
    ...(soc && range ? { yaxis2: { ...axis("km", [0, 0.44]), anchor: "x" } } : {}) }, CONFIG);
}

function renderTariff(months) {
  const withPeak = months.filter((m) => m.peak);
  $("tariff-panel").hidden = withPeak.length === 0;
  if (!withPeak.length) return;
  const x = months.map((m) => m.month);
  plot("tariff", [ // the billed peak last (on top), open and larger: both stay visible where they are equal
    { type: "bar", name: "Monthly peak (kW)", x, y: months.map((m) => (m.peak ? m.peak.value : null)), hovertemplate: "%{y:.3f} kW",
      marker: { color: "rgba(31,95,191,0.35)", pattern: { shape: "/", solidity: 0.4 } } },
    { type: "scatter", mode: "lines+markers", name: "Rolling mean (kW)", x, y: months.map((m) => m.rollingMean), hovertemplate: "%{y:.3f} kW",
      line: { color: "#1f5fbf", width: 2 }, marker: { symbol: "diamond", size: 7, color: "#1f5fbf" } },
    { type: "scatter", mode: "lines+markers", name: "Billed peak (kW)", x, y: months.map((m) => m.billedPeak), hovertemplate: "%{y:.3f} kW",
      line: { color: "#b34700", width: 2.5, dash: "dash" },
      marker: { symbol: "square-open", size: 13, color: "#b34700", line: { width: 2.5 } } },
  ], { ...LAYOUT, yaxis: { title: { text: "kW" }, rangemode: "tozero" }, xaxis: { type: "category", nticks: Math.max(2, Math.floor(chartRoom("tariff") / 60)) } }, CONFIG);
}

// -- the flow ------------------------------------------------------------------------------------------
async function loadEntities() {
  state.entities = await allPages("v1/entities", {});
  $("entity").replaceChildren(...state.entities.map((e) => new Option(`${e.name || e.id} (${e.type})`, e.id)));
  if (state.entities.length) $("entity").value = firstEntity(state.entities).id;
  selectEntity();
}
function selectEntity() {
  const entity = state.entities.find((e) => e.id === $("entity").value);
  $("tz").value = (entity && entity.timeZone) || browserZone();
}

/** A new AbortController for a show or a zoom; the previous one's requests are cancelled. */
function fresh() {
  if (state.controller) state.controller.abort();
  state.controller = new AbortController();
  return state.controller.signal;
}

/** The statistics the panels draw. The API leaves out a metric the entity lacks (an empty item: no bucket), so
 * the overview asks for all of them and a zoom only for those the overview found. */
const STATISTICS = ["positiveActiveInstantaneousPower", "negativeActiveInstantaneousPower", "positiveActiveEnergy",
  "stateOfCharge", "range"];
/** The interval import's quality marks, for the table (a metric the entity lacks is left out of the answer). */
const QUALITY = ["quality", "gasQuality"];
const metricsIn = (items) => [...STATISTICS, ...QUALITY].filter((m) => items.some((it) => it.data[m]));

/** The entity's tariff (GET …/tariff), or null when it has none, kept per entity while the page is open (an
 * entity without one costs no /costs request after its first view). Asked for only when its /costs `costs` are
 * priced (a currency): a tariff-less entity is not asked (a 404 would be a console error). Any other failure: no
 * cost panel (not the page). */
async function contractOf(q, costs, signal) {
  if (state.contracts.has(q.entity)) return state.contracts.get(q.entity);
  const priced = (await costs).some((c) => c.currency);
  const contract = !priced ? null : await api(`v1/entities/${q.entity}/tariff`, { timeZone: q.timeZone }, "json", signal)
    .catch((error) => { if (!token() || isAbort(error)) throw error; return null; });
  state.contracts.set(q.entity, contract);
  return contract;
}
/** The price series a period prices import by (dynamic), or null. */
const seriesOf = (period) => (period && period.import && period.import.prices) || null;
const dynamic = (contract) => !!contract && (contract.periods || []).some((p) => seriesOf(p));
/** The intervals of the dynamic tariff's price series over the view, when the buckets are an hour or finer (the
 * demo's prices are hourly, then quarter-hours): {seriesId: [{start, end, price}]}; coarser buckets need none. */
async function pricesOf(contract, q, view, signal) {
  if (!dynamic(contract) || !(SECONDS[view.resolution] <= 3600)) return {};
  const ids = [...new Set(contract.periods.map(seriesOf).filter(Boolean))];
  const lists = await Promise.all(ids.map((id) => allPages(`v1/prices/${encodeURIComponent(id)}`,
    { start: view.start, end: view.end, timeZone: q.timeZone }, signal)));
  return Object.fromEntries(ids.map((id, k) => [id, lists[k]]));
}

/** The aggregations, statistics and costs of one view ({start, end, resolution}) of query q, fetched together
 * (one signal): /costs has the buckets of /aggregations; it is asked for unless the entity is known to have no
 * tariff. */
async function fetchView(q, view, signal, metrics = [...STATISTICS, ...QUALITY]) {
  const base = `v1/entities/${q.entity}`;
  const params = { start: view.start, end: view.end, resolution: view.resolution, timeZone: q.timeZone };
  const known = state.contracts.has(q.entity);
  const costs = !known || state.contracts.get(q.entity) ? allPages(`${base}/costs`, params, signal) : Promise.resolve([]);
  const contract = contractOf(q, costs, signal);
  const [aggregations, statistics, costItems, prices, tariff] = await Promise.all([
    allPages(`${base}/aggregations`, params, signal),
    metrics.length ? allPages(`${base}/statistics`, { ...params, metrics: metrics.join(",") },
      signal, statisticsPageSize(view.resolution)) : [],
    costs,
    contract.then((c) => pricesOf(c, q, view, signal)),
    contract,
  ]);
  return { aggregations, statistics, costs: tariff ? costItems : [], contract: tariff, prices };
}

/** Draw a view: `fetched` is fetchView's {aggregations, statistics, costs, contract, prices}; `tariff` the
 * capacity tariff's months (null: keep the drawn ones). */
function draw(q, view, fetched, tariff) {
  const { aggregations, statistics, costs, contract, prices } = fetched;
  const country = countryOf(entityOf(q.entity)), slots = sharedSlots(aggregations, statistics, costs);
  const cost = costView(costs, slots, contract, prices);
  state.lastData = { query: q, view, aggregations, statistics, tariff, slots, country, costs, contract, prices, cost,
    series: consumptionSeries(aggregations, country), zoomed: view !== state.overview.view };
  renderConsumption(aggregations, slots, country, cost);
  renderCosts(cost, slots);
  renderPower(statistics, slots);
  renderEv(statistics, slots);
  if (tariff) renderTariff(tariff);
  $("zoom-out").hidden = !state.lastData.zoomed;
  const shown = (t) => (t.length === 10 ? `${t} 00:00` : wall(t).slice(0, 16));
  const finer = view.resolution !== q.resolution
    ? ` Drag across a chart to zoom: ${q.resolution} buckets load for a narrower range.` : "";
  const n = aggregations.length;
  status(n
    ? `${n} bucket${n === 1 ? "" : "s"} of ${view.resolution}, ${shown(view.start)} – ${shown(view.end)} (${q.timeZone}).${finer}`
    : "No data in this window.");
}
const frame = () => new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve)));

async function show() {
  const q = currentQuery();
  state.lastQuery = q;
  const signal = fresh(), began = performance.now();
  const view = { start: q.start, end: q.end,
    resolution: resolutionFor(q.resolution, Date.parse(q.end) - Date.parse(q.start), plotRoom()) };
  status("Loading…");
  state.showing = true;
  const tariffOf = () => api(`v1/entities/${q.entity}/statistics/capacity-tariff`,
    { start: q.start, end: q.end, timeZone: q.timeZone }, "json", signal)
    .then((b) => b.data, (error) => { if (!token() || isAbort(error)) throw error; return []; }); // (a panel, not the page)
  // the capacity tariff of a grid connection only; an entity of unknown type is one when it imports energy
  const grid = gridConnection(entityOf(q.entity));
  let fetched, tariff;
  try {
    [fetched, tariff] = await Promise.all([fetchView(q, view, signal), grid ? tariffOf() : []]);
    if (grid === null && fetched.aggregations.some((it) => it.data.positiveActiveEnergy)) tariff = await tariffOf();
  } finally { if (!signal.aborted) state.showing = false; }
  if (signal.aborted) return;
  state.overview = { query: q, view, fetched, tariff };
  draw(q, view, fetched, tariff);
  await frame(); // painted
  state.lastShow = { began, ms: performance.now() - began, resolution: view.resolution };
}

/** The chart's x range (category slots) was zoomed: fetch the range's buckets at the finest resolution that
 * fits the chart, when that is finer than the one drawn. */
async function zoom(range) {
  const d = state.lastData; // (every chart has the same slots)
  if (!d || !state.overview || state.showing || !d.slots.length) return; // (a Show under way wins)
  const slots = d.slots.filter((s, k) => s.i >= 0 && k >= Math.round(range[0]) && k <= Math.round(range[1]));
  if (!slots.length) return;
  const first = slots[0].timeframe, last = slots[slots.length - 1].timeframe;
  const start = first.start, end = last.end || last.start;
  const resolution = resolutionFor(d.query.resolution, Date.parse(end) - Date.parse(start), plotRoom());
  if (resolution === d.view.resolution) return; // the drawn buckets are fine enough: Plotly zooms them
  const signal = fresh(), view = { start, end, resolution };
  status("Loading…");
  const fetched = await fetchView(d.query, view, signal, metricsIn(state.overview.fetched.statistics));
  if (signal.aborted) return;
  draw(d.query, view, fetched, null);
}
function backToOverview() {
  const o = state.overview;
  if (!o || state.showing || !state.lastData || !state.lastData.zoomed) return;
  fresh(); // a zoom still loading is dropped
  draw(o.query, o.view, o.fetched, null);
}
function onRelayout(event) {
  const range = event["xaxis.range"] || (event["xaxis.range[0]"] !== undefined && [event["xaxis.range[0]"], event["xaxis.range[1]"]]);
  const slots = state.lastData ? state.lastData.slots.length : 0; // double-click: back to the set range, all slots
  if (event["xaxis.autorange"] || (range && range[0] <= -0.49 && range[1] >= slots - 0.51)) { backToOverview(); return; }
  if (range) guarded(() => zoom(range))();
}

async function downloadCsv() {
  const q = currentQuery();
  const response = await api(`v1/entities/${q.entity}/aggregations`,
    { start: q.start, end: q.end, resolution: q.resolution, timeZone: q.timeZone, format: "csv" }, "raw");
  const name = /filename="([^"]+)"/.exec(response.headers.get("content-disposition") || "");
  const url = URL.createObjectURL(await response.blob());
  const a = Object.assign(document.createElement("a"), { href: url, download: name ? name[1] : "aggregations.csv" });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Render `days` synthetic daily buckets (the benchmark); returns the render time in ms. */
state.benchmark = (days = 365) => {
  const t0 = Date.UTC(2025, 0, 1);
  const items = Array.from({ length: days }, (_, i) => {
    const t1 = 5 + (i % 7), t2 = 3 + (i % 5), inj = 10 + (i % 11);
    return { timeframe: { start: new Date(t0 + i * 86400000).toISOString().slice(0, 19) },
      data: { positiveActiveEnergy: { t1, t2, total: t1 + t2 }, negativeActiveEnergy: { t1: inj, total: inj } } };
  });
  return renderConsumption(items);
};

const guarded = (fn) => async (event) => {
  if (event) event.preventDefault();
  try { await fn(); } catch (error) {
    if (isAbort(error)) return; // a newer show or zoom took over
    status(error instanceof ApiError ? error.message : String(error), true); }
};

function start() {
  takeTokenFromFragment();
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  $("zones").replaceChildren(...zones.map((z) => new Option(z)));
  syncCustom();
  $("preset").addEventListener("change", () => {
    syncCustom();
    if (DEFAULT_RESOLUTION[$("preset").value]) $("resolution").value = DEFAULT_RESOLUTION[$("preset").value];
  });
  $("entity").addEventListener("change", () => {
    state.contracts.delete($("entity").value); // (its tariff is read again: it may have one by now)
    selectEntity();
    guarded(show)();
  });
  $("sign-in").addEventListener("submit", guarded(async () => {
    sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    $("token").value = "";
    await signedIn();
  }));
  $("sign-out").addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); showSignedIn(false); status("Signed out."); });
  $("query").addEventListener("submit", guarded(show));
  $("csv").addEventListener("click", guarded(downloadCsv));
  $("prev-period").addEventListener("click", guarded(() => movePeriod(-1)));
  $("next-period").addEventListener("click", guarded(() => movePeriod(1)));
  $("zoom-out").addEventListener("click", backToOverview);
  const turn = (by) => () => { const d = state.lastData; if (d) renderTable(d.aggregations, d.series, state.tablePage + by); };
  $("rows-prev").addEventListener("click", turn(-1));
  $("rows-next").addEventListener("click", turn(1));
  $("colour-by-price").addEventListener("change", () => {
    const d = state.lastData;
    if (d) renderConsumption(d.aggregations, d.slots, d.country, d.cost);
  });
  for (const id of ["consumption", "costs", "power", "ev"]) {
    const chart = $(id);
    new MutationObserver((_, observer) => { // Plotly gives the div .on() with its first plot
      if (typeof chart.on === "function") { chart.on("plotly_relayout", onRelayout); observer.disconnect(); }
    }).observe(chart, { childList: true });
  }
  if (token()) guarded(signedIn)(); else showSignedIn(false);
}
async function signedIn() {
  showSignedIn(true);
  await loadEntities();
  state.ready = true;
  if (state.entities.length) await show(); else status("This token sees no registered entity.");
}

start();
