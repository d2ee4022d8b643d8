// The dashboard: one module, no build step. Reads the API with the bearer token kept in sessionStorage and
// draws with Plotly (served by the service). Every number shown is the API's, unchanged.
const TOKEN_KEY = "connect-readings.token";
const TIERS = ["t1", "t2", "t3", "t4"];
const PATTERNS = ["", "/", "x", ".", "\\", "+", "-", "|"];
const $ = (id) => document.getElementById(id);
const state = { entities: [], requests: [], lastQuery: null, lastData: null, renderMs: null };
window.__dashboard = state; // for the browser tests and the render benchmark

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
  if (!signedIn) for (const id of ["consumption-panel", "power-panel", "tariff-panel", "table-panel"]) $(id).hidden = true;
}

function status(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

// -- the API -------------------------------------------------------------------------------------------
class ApiError extends Error {}

async function api(path, params = {}, accept = "json") {
  const url = new URL(path, document.baseURI);
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) url.searchParams.set(k, v);
  state.requests.push(url.pathname + url.search);
  const response = await fetch(url, { headers: { Authorization: `Bearer ${token()}` } });
  if (response.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    showSignedIn(false);
    throw new ApiError("The token was refused (expired or invalid): sign in again.");
  }
  if (!response.ok) {
    let message = `${response.status}`;
    try { const e = (await response.json()).errors[0]; message = `${e.code}: ${e.message}`; } catch { /* not JSON */ }
    throw new ApiError(message);
  }
  return accept === "json" ? response.json() : response;
}

async function allPages(path, params) {
  const items = [];
  let continuationToken;
  do {
    const body = await api(path, { ...params, pageSize: 1000, continuationToken });
    items.push(...body.data);
    continuationToken = body.meta && body.meta.continuationToken;
  } while (continuationToken);
  return items;
}

// -- time windows --------------------------------------------------------------------------------------
function zoneOffsetMs(utcMs, zone) {
  const parts = new Intl.DateTimeFormat("en-US", { timeZone: zone, hourCycle: "h23", year: "numeric",
    month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" }).formatToParts(utcMs);
  const p = Object.fromEntries(parts.map((x) => [x.type, Number(x.value)]));
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - Math.floor(utcMs / 1000) * 1000;
}
/** The UTC instant of local midnight starting y-m-d in `zone` (Date.UTC normalises overflowing days/months). */
function localMidnight(y, m, d, zone) {
  const guess = Date.UTC(y, m - 1, d);
  let t = guess - zoneOffsetMs(guess, zone);
  t = guess - zoneOffsetMs(t, zone);
  return new Date(t).toISOString().replace(".000Z", "Z");
}
function today(zone) {
  const [y, m, d] = new Intl.DateTimeFormat("en-CA", { timeZone: zone }).format(new Date()).split("-").map(Number);
  return { y, m, d };
}
function windowOf(preset, zone) {
  const { y, m, d } = today(zone);
  switch (preset) {
    case "today": return [localMidnight(y, m, d, zone), localMidnight(y, m, d + 1, zone)];
    case "7d": return [localMidnight(y, m, d - 6, zone), localMidnight(y, m, d + 1, zone)];
    case "month": return [localMidnight(y, m, 1, zone), localMidnight(y, m + 1, 1, zone)];
    case "year": return [localMidnight(y, 1, 1, zone), localMidnight(y + 1, 1, 1, zone)];
    default: {
      const [fy, fm, fd] = $("from").value.split("-").map(Number);
      const [ty, tm, td] = $("to").value.split("-").map(Number);
      if (!fy || !ty) throw new ApiError("Pick both dates of the custom window.");
      return [localMidnight(fy, fm, fd, zone), localMidnight(ty, tm, td + 1, zone)];
    }
  }
}
const DEFAULT_RESOLUTION = { today: "1 hour", "7d": "1 day", month: "1 day", year: "1 month" };
const browserZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone;

function currentQuery() {
  const zone = $("tz").value.trim() || browserZone();
  const [start, end] = windowOf($("preset").value, zone);
  return { entity: $("entity").value, start, end, resolution: $("resolution").value, timeZone: zone };
}

// -- data → series -------------------------------------------------------------------------------------
const local = (stamp) => stamp.slice(0, 19); // the wall-clock time in the query's zone (Plotly has no offsets)

/** The consumption series of aggregation items: [{key, label, metric, sign, values[]}] (values as served). */
function consumptionSeries(items) {
  const series = [];
  for (const [metric, label, sign] of [["positiveActiveEnergy", "Import", 1], ["negativeActiveEnergy", "Export", -1]]) {
    const tiers = TIERS.filter((t) => items.some((it) => it.data[metric] && it.data[metric][t] != null));
    const fields = tiers.length ? tiers : ["total"];
    if (!items.some((it) => it.data[metric])) continue;
    for (const f of fields) {
      series.push({ key: `${metric}.${f}`, label: `${label} ${f} (kWh)`, sign,
        values: items.map((it) => (it.data[metric] ? it.data[metric][f] : null)) });
    }
  }
  for (const [metric, label] of [["positiveGasVolume", "Gas"], ["negativeGasVolume", "Gas returned"]]) {
    if (items.some((it) => it.data[metric]))
      series.push({ key: `${metric}.value`, label: `${label} (m³)`, gas: true,
        values: items.map((it) => (it.data[metric] ? it.data[metric].value : null)) });
  }
  return series;
}

const LAYOUT = { margin: { l: 50, r: 50, t: 10, b: 40 }, legend: { orientation: "h", y: -0.2 }, hovermode: "x unified",
  font: { family: "system-ui, sans-serif", size: 12 } };
const CONFIG = { responsive: true, displaylogo: false };

function renderConsumption(items) {
  const began = performance.now();
  const x = items.map((it) => local(it.timeframe.start));
  const series = consumptionSeries(items);
  const traces = series.map((s, i) => s.gas
    ? { type: "scatter", mode: "lines+markers", name: s.label, x, y: s.values, yaxis: "y2", marker: { symbol: "square" } }
    : { type: "bar", name: s.label, x, y: s.values.map((v) => (v == null ? null : s.sign * v)),
        marker: { pattern: { shape: PATTERNS[i % PATTERNS.length], solidity: 0.4 } } });
  const hasEnergy = series.some((s) => !s.gas);
  const layout = { ...LAYOUT, barmode: "relative",
    yaxis: { title: { text: hasEnergy ? "kWh" : "" }, zeroline: true, zerolinewidth: 2, visible: hasEnergy },
    yaxis2: { title: { text: "m³" }, overlaying: "y", side: "right", showgrid: false, rangemode: "tozero" } };
  $("consumption-panel").hidden = items.length === 0;
  Plotly.react("consumption", traces, layout, CONFIG);
  renderTable(items, series);
  state.renderMs = performance.now() - began;
  return state.renderMs;
}

function renderTable(items, series) {
  const thead = $("table").tHead, tbody = $("table").tBodies[0];
  thead.replaceChildren(row("th", ["Bucket start", ...series.map((s) => s.label)], series.map((s) => s.key)));
  tbody.replaceChildren(...items.map((it, i) => row("td", [local(it.timeframe.start).replace("T", " "),
    ...series.map((s) => (s.values[i] == null ? "" : String(s.values[i])))])));
  $("table-panel").hidden = items.length === 0;
}
function row(tag, cells, keys = []) {
  const tr = document.createElement("tr");
  cells.forEach((text, i) => {
    const cell = document.createElement(tag);
    cell.textContent = text;
    if (tag === "th") { cell.scope = "col"; if (i > 0) cell.dataset.key = keys[i - 1]; }
    tr.append(cell);
  });
  return tr;
}

function renderPower(items) {
  const withPower = items.filter((it) => it.data.positiveActiveInstantaneousPower);
  const peaks = items.filter((it) => it.data.positiveActiveEnergy && it.data.positiveActiveEnergy.peakDemand);
  $("power-panel").hidden = withPower.length === 0 && peaks.length === 0;
  if ($("power-panel").hidden) return;
  const kw = (g, unit) => (g == null ? null : unit === "W" ? g / 1000 : unit === "MW" ? g * 1000 : g);
  const x = withPower.map((it) => local(it.timeframe.start));
  const total = (it, f) => { const p = it.data.positiveActiveInstantaneousPower; return kw(p.total && p.total[f], p.unit); };
  const traces = [
    { type: "scatter", mode: "lines", name: "Max", x, y: withPower.map((it) => total(it, "max")), line: { width: 0 }, showlegend: false, hoverinfo: "skip" },
    { type: "scatter", mode: "lines", name: "Min–max band", x, y: withPower.map((it) => total(it, "min")), line: { width: 0 }, fill: "tonexty", fillcolor: "rgba(31,95,191,0.2)" },
    { type: "scatter", mode: "lines", name: "Mean import power (kW)", x, y: withPower.map((it) => total(it, "mean")), line: { color: "#1f5fbf", width: 2 } },
    { type: "scatter", mode: "markers", name: "Peak demand (kW)", x: peaks.map((it) => local(it.data.positiveActiveEnergy.peakDemand.start)),
      y: peaks.map((it) => it.data.positiveActiveEnergy.peakDemand.value), marker: { symbol: "diamond", size: 9, color: "#b34700" } },
  ];
  Plotly.react("power", traces, { ...LAYOUT, yaxis: { title: { text: "kW" }, rangemode: "tozero" } }, CONFIG);
}

function renderTariff(months) {
  const withPeak = months.filter((m) => m.peak);
  $("tariff-panel").hidden = withPeak.length === 0;
  if (!withPeak.length) return;
  const x = months.map((m) => m.month);
  Plotly.react("tariff", [
    { type: "bar", name: "Monthly peak (kW)", x, y: months.map((m) => (m.peak ? m.peak.value : null)), marker: { pattern: { shape: "/", solidity: 0.4 } } },
    { type: "scatter", mode: "lines+markers", name: "Billed peak (kW)", x, y: months.map((m) => m.billedPeak), line: { dash: "dot" }, marker: { symbol: "square" } },
    { type: "scatter", mode: "lines+markers", name: "Rolling mean (kW)", x, y: months.map((m) => m.rollingMean), marker: { symbol: "diamond" } },
  ], { ...LAYOUT, yaxis: { title: { text: "kW" }, rangemode: "tozero" }, xaxis: { type: "category" } }, CONFIG);
}

// -- the flow ------------------------------------------------------------------------------------------
async function loadEntities() {
  state.entities = await allPages("v1/entities", {});
  $("entity").replaceChildren(...state.entities.map((e) => new Option(`${e.name || e.id} (${e.type})`, e.id)));
  selectEntity();
}
function selectEntity() {
  const entity = state.entities.find((e) => e.id === $("entity").value);
  $("tz").value = (entity && entity.timeZone) || browserZone();
}

async function show() {
  const q = currentQuery();
  state.lastQuery = q;
  const base = `v1/entities/${q.entity}`;
  const params = { start: q.start, end: q.end, resolution: q.resolution, timeZone: q.timeZone };
  status("Loading…");
  const [aggregations, statistics, tariff] = await Promise.all([
    allPages(`${base}/aggregations`, params),
    allPages(`${base}/statistics`, { ...params, metrics: "positiveActiveInstantaneousPower,positiveActiveEnergy" }),
    api(`${base}/statistics/capacity-tariff`, { start: q.start, end: q.end, timeZone: q.timeZone })
      .then((b) => b.data, (error) => { if (!token()) throw error; return []; }), // (a panel, not the page)
  ]);
  state.lastData = { query: q, aggregations, statistics, tariff, series: consumptionSeries(aggregations) };
  renderConsumption(aggregations);
  renderPower(statistics);
  renderTariff(tariff);
  status(aggregations.length ? `${aggregations.length} buckets, ${q.start} – ${q.end} (${q.timeZone})` : "No data in this window.");
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
  try { await fn(); } catch (error) { status(error instanceof ApiError ? error.message : String(error), true); }
};

function start() {
  takeTokenFromFragment();
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  $("zones").replaceChildren(...zones.map((z) => new Option(z)));
  const syncCustom = () => { for (const el of document.querySelectorAll(".custom")) el.hidden = $("preset").value !== "custom"; };
  syncCustom();
  $("preset").addEventListener("change", () => {
    syncCustom();
    if (DEFAULT_RESOLUTION[$("preset").value]) $("resolution").value = DEFAULT_RESOLUTION[$("preset").value];
  });
  $("entity").addEventListener("change", () => { selectEntity(); guarded(show)(); });
  $("sign-in").addEventListener("submit", guarded(async () => {
    sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    $("token").value = "";
    await signedIn();
  }));
  $("sign-out").addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); showSignedIn(false); status("Signed out."); });
  $("query").addEventListener("submit", guarded(show));
  $("csv").addEventListener("click", guarded(downloadCsv));
  if (token()) guarded(signedIn)(); else showSignedIn(false);
}
async function signedIn() {
  showSignedIn(true);
  await loadEntities();
  state.ready = true;
  if (state.entities.length) await show(); else status("This token sees no registered entity.");
}

start();
