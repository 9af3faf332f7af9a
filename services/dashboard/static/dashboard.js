// heatlink dashboard: one snapshot (GET /v1/dashboard), then live values over
// server-sent events (GET /v1/stream with a short-lived ticket) and a state refresh every
// few seconds. No framework, no network fetch beyond this service.
"use strict";

const TOKEN_KEY = "heatlink.token";
const $ = (sel, root = document) => root.querySelector(sel);
const state = {
  token: sessionStorage.getItem(TOKEN_KEY), snap: null, latest: {}, units: {},
  cards: {}, cells: {}, charts: {}, lastEventId: null, source: null, tz: "Europe/Oslo",
  refreshTimer: null, alertsTimer: null, alerts: [],
};

// ---- API ---------------------------------------------------------------------------------

class Unauthorized extends Error {}

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options, headers: { Authorization: `Bearer ${state.token}`, ...(options.headers || {}) },
  });
  if (response.status === 401) throw new Unauthorized((await response.json()).detail);
  return response;
}

// ---- time, in the cluster's own zone -------------------------------------------------------

// Formatters are built once: constructing Intl objects per value dominates a large page.
const formatters = {};
function formatter(kind) {
  if (!formatters[kind]) {
    const opts = { timeZone: state.tz, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false };
    if (kind === "date") Object.assign(opts, { day: "2-digit", month: "short" });
    formatters[kind] = new Intl.DateTimeFormat("en-GB", opts);
  }
  return formatters[kind];
}

function fmtTime(iso, withDate = false) {
  return formatter(withDate ? "date" : "time").format(new Date(iso));
}

function tick() {
  $("#clock").textContent = fmtTime(Date.now(), true) + " " + state.tz.split("/").pop();
  for (const el of document.querySelectorAll("[data-impact-at]")) {
    const s = Math.round((Date.parse(el.dataset.impactAt) - Date.now()) / 1000);
    el.textContent = s > 0 ? `impact in ${fmtDuration(s)}` : "impact now";
  }
}

function fmtDuration(s) {
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return h ? `${h} h ${String(m).padStart(2, "0")} min` : `${m} min ${String(r).padStart(2, "0")} s`;
}

// ---- sign in ---------------------------------------------------------------------------------

function showLogin(message = "") {
  stopLive();
  $("#main").hidden = true; $("#logout").hidden = true; $("#login").hidden = false;
  $("#login-error").textContent = message;
}

$("#login-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  state.token = $("#token").value.trim();
  sessionStorage.setItem(TOKEN_KEY, state.token);
  start();
});

$("#logout").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY); state.token = null; showLogin();
});

// ---- first load --------------------------------------------------------------------------------

async function start() {
  if (!state.token) return showLogin();
  try {
    const response = await api("/v1/dashboard");
    if (!response.ok) throw new Error(`the service answered ${response.status}`);
    const snap = await response.json();
    performance.mark("heatlink-snapshot");
    $("#login").hidden = true; $("#main").hidden = false; $("#logout").hidden = false;
    if (state.tz !== snap.timezone) { state.tz = snap.timezone; for (const k in formatters) delete formatters[k]; }
    $("#cluster-name").textContent = snap.cluster;
    $("#org").textContent = snap.org;
    render(snap);
    startLive();
    loadAlerts();
    clearInterval(state.refreshTimer);
    state.refreshTimer = setInterval(refresh, snap.refresh_s * 1000);
    performance.mark("heatlink-ready");
    document.body.dataset.ready = "1";
  } catch (err) {
    if (err instanceof Unauthorized) {
      sessionStorage.removeItem(TOKEN_KEY);
      return showLogin("That token was not accepted: " + err.message);
    }
    showLogin("Could not load the dashboard: " + err.message);
  }
}

function render(snap) {
  state.snap = snap;
  state.units = Object.fromEntries(snap.series.map((s) => [s.key, s.unit]));
  state.latest = { ...snap.latest };
  drawGraph(snap);
  const box = $("#exchanges");
  box.replaceChildren();
  chartObserver.disconnect();
  state.cards = {};
  state.cells = {};
  for (const ex of snap.exchanges) box.append(makeCard(ex));
  for (const key of Object.keys(state.latest)) showValue(key, false);
}

async function refresh() {
  try {
    const response = await api("/v1/dashboard");
    if (!response.ok) return;
    const snap = await response.json();
    state.snap = snap;
    for (const [k, v] of Object.entries(snap.latest)) {
      if (!state.latest[k] || state.latest[k].ts < v.ts) state.latest[k] = v;
    }
    drawGraph(snap);
    for (const ex of snap.exchanges) updateCard(ex);
    for (const key of Object.keys(state.latest)) showValue(key, false);
  } catch (err) {
    if (err instanceof Unauthorized) showLogin("Your token is no longer accepted.");
  }
}

// ---- cluster graph: columns follow the direction of heat flow ------------------------------

const NODE_W = 168, NODE_H = 48, COL_W = 200, ROW_H = 62, PAD = 16, SITE_GAP = 28;
const SVG_NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, parent = null) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (parent) parent.append(el);
  return el;
}

function drawGraph(snap) {
  const g = $("#graph");
  g.replaceChildren();
  const defs = svg("defs", {}, g);
  const marker = svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5,
    markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, defs);
  svg("path", { d: "M0,0 L10,5 L0,10 z", fill: "#6b7b8c" }, marker);
  const pos = {};
  let y = PAD, maxDepth = 0;
  const sites = [...new Set(snap.nodes.map((n) => n.site))];
  for (const site of sites) {
    const label = svg("text", { x: PAD, y: y + 12, class: "site" }, g);
    label.textContent = site;
    y += 20;
    const rows = {};
    for (const n of snap.nodes.filter((m) => m.site === site)) {
      const row = rows[n.depth] = (rows[n.depth] ?? -1) + 1;
      pos[n.id] = { x: PAD + n.depth * COL_W, y: y + row * ROW_H };
      maxDepth = Math.max(maxDepth, n.depth);
    }
    y += (Math.max(0, ...Object.values(rows)) + 1) * ROW_H + SITE_GAP;
  }
  for (const e of snap.edges) {
    const a = pos[e.source], b = pos[e.target];
    if (!a || !b) continue;
    const x1 = a.x + NODE_W, y1 = a.y + NODE_H / 2, x2 = b.x, y2 = b.y + NODE_H / 2;
    const mid = (x1 + x2) / 2;
    svg("path", { class: "edge", d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}` }, g);
  }
  const exchangeOf = Object.fromEntries(snap.exchanges.map((x) => [x.exchanger, x.id]));
  for (const n of snap.nodes) {
    const p = pos[n.id];
    const node = svg("g", { class: `node ${n.state}`, transform: `translate(${p.x},${p.y})`,
      "data-asset": n.id, "data-state": n.state }, g);
    svg("rect", { width: NODE_W, height: NODE_H, rx: n.role === "exchanger" ? 4 : 14 }, node);
    const title = svg("title", {}, node);
    title.textContent = `${n.name} (${n.owner}): ${n.state.replace("_", " ")}, ${n.reason}`;
    const name = svg("text", { x: 10, y: 20 }, node);
    name.textContent = n.name.length > 24 ? n.name.slice(0, 23) + "…" : n.name;
    const role = svg("text", { x: 10, y: 37, class: "role" }, node);
    role.textContent = `${n.role} · ${n.state.replace("_", " ")}`;
    if (exchangeOf[n.id]) {
      node.classList.add("selectable");
      node.addEventListener("click", () => selectExchange(exchangeOf[n.id]));
    }
  }
  const width = PAD * 2 + maxDepth * COL_W + NODE_W;
  g.setAttribute("viewBox", `0 0 ${width} ${y}`);
  g.style.maxWidth = `${width * 1.4}px`;
}

function selectExchange(id) {
  for (const [key, card] of Object.entries(state.cards)) card.el.classList.toggle("selected", key === id);
  state.cards[id]?.el.scrollIntoView({ behavior: "smooth", block: "nearest" });
}

// ---- exchange cards ----------------------------------------------------------------------------

const chartObserver = new IntersectionObserver((entries) => {
  for (const entry of entries) {
    if (!entry.isIntersecting) continue;
    chartObserver.unobserve(entry.target);
    const card = state.cards[entry.target.dataset.exchange];
    if (card) loadTrend(card);
  }
}, { rootMargin: "200px" });

function makeCard(ex) {
  const el = $("#exchange-card").content.firstElementChild.cloneNode(true);
  el.dataset.exchange = ex.id;
  $(".name", el).textContent = ex.name;
  $(".parties", el).textContent = `${ex.supplier} → ${ex.recipient}` +
    (ex.supply_band ? ` · supply band ${ex.supply_band.low}–${ex.supply_band.high} °C` : "");
  for (const side of ["primary", "secondary"]) {
    for (const field of ["supply_temp", "return_temp", "flow"]) {
      const td = $(`tr.${side} td.${field}`, el);
      const key = ex[side][field];
      if (key) { td.dataset.series = key; (state.cells[key] ??= []).push(td); } else { td.textContent = "not shared"; td.classList.add("hidden"); }
    }
  }
  const card = { el, ex, range: 3600, chart: null, keys: chartKeys(ex) };
  state.cards[ex.id] = card;
  for (const b of el.querySelectorAll(".ranges button")) {
    b.addEventListener("click", () => {
      for (const o of el.querySelectorAll(".ranges button")) o.classList.toggle("on", o === b);
      card.range = Number(b.dataset.range);
      loadTrend(card);
    });
  }
  updateCard(ex);
  // Charts load when their card scrolls into view: a cluster of 500 series opens at once.
  chartObserver.observe(el);
  return el;
}

function updateCard(ex) {
  const card = state.cards[ex.id];
  if (!card) return;
  card.ex = ex;
  card.el.classList.remove("normal", "warning", "alarm", "unknown", "planned_outage");
  card.el.classList.add(ex.state);
  card.el.dataset.state = ex.state;
  const badge = $(".badge", card.el);
  badge.className = `badge state ${ex.state}`;
  badge.textContent = ex.state.replace("_", " ");
  $(".reason", card.el).textContent = ex.reason;
  const kw = ex.power_kw;
  $(".power-value", card.el).textContent = kw == null ? "power –" : `${fmtNumber(kw / 1000, 2)} MW`;
  $(".contract", card.el).textContent = ex.contracted_power_kw
    ? `of ${fmtNumber(ex.contracted_power_kw / 1000, 1)} MW contracted` : "no contracted power";
  const fill = $(".fill", card.el);
  const share = kw != null && ex.contracted_power_kw ? kw / ex.contracted_power_kw : 0;
  fill.style.width = `${Math.min(100, share * 100)}%`;
  fill.classList.toggle("over", share > 1);
}

const numberFormats = {};
function fmtNumber(v, digits = 1) {
  numberFormats[digits] ??= new Intl.NumberFormat("en-GB", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  return numberFormats[digits].format(v);
}

function showValue(key, flash = true) {
  const v = state.latest[key];
  if (!v) return;
  const unit = { degC: "°C", "m3/h": "m³/h" }[state.units[key]] ?? state.units[key] ?? "";
  for (const td of state.cells[key] ?? []) {
    td.textContent = `${fmtNumber(v.value, unit === "°C" ? 1 : 0)} ${unit}`;
    td.title = `${key} at ${fmtTime(v.ts, true)} (${v.quality})`;
    td.dataset.value = v.value;
    td.classList.toggle("stale", v.quality !== "good");
    if (flash) { td.classList.remove("flash"); void td.offsetWidth; td.classList.add("flash"); }
  }
}

// ---- trends (uPlot) ----------------------------------------------------------------------------

function chartKeys(ex) {
  const keys = [];
  for (const side of ["secondary", "primary"]) {
    for (const f of ["supply_temp", "return_temp"]) if (ex[side][f]) keys.push([ex[side][f], `${side} ${f.replace("_temp", "")}`, "°C"]);
  }
  for (const side of ["secondary", "primary"]) if (ex[side].flow) keys.push([ex[side].flow, `${side} flow`, "m³/h"]);
  return keys;
}

const COLOURS = ["#4fb3d9", "#e07b39", "#9ccc65", "#ce93d8", "#ffd54f", "#90a4ae"];

async function loadTrend(card) {
  if (!card.keys.length) return;
  const end = new Date(), start = new Date(end - card.range * 1000);
  const step = card.range / 360;
  let results;
  try {
    results = await Promise.all(card.keys.map(([key]) => api(
      `/v1/series/${key}/readings?start=${encodeURIComponent(start.toISOString())}` +
      `&end=${encodeURIComponent(end.toISOString())}&step=${step}&agg=avg`).then((r) => r.ok ? r.json() : { points: [] })));
  } catch (err) { return; }
  // Buckets share start and step, so their times line up across series.
  const xs = [...new Set(results.flatMap((r) => r.points.map((p) => Date.parse(p.ts) / 1000)))].sort((a, b) => a - b);
  const at = new Map(xs.map((x, i) => [x, i]));
  const data = [xs, ...results.map((r) => {
    const col = new Array(xs.length).fill(null);
    for (const p of r.points) col[at.get(Date.parse(p.ts) / 1000)] = p.value;
    return col;
  })];
  drawChart(card, data);
}

function drawChart(card, data) {
  const box = $(".chart", card.el);
  const width = Math.max(260, box.clientWidth || 400);
  const opts = {
    width, height: 200, tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), state.tz),
    scales: { x: { time: true } },
    axes: [
      { stroke: "#8b9aab", grid: { stroke: "#2a3644" }, values: (u, splits, ax, space, incr) => splits.map((ts) => axisTime(ts, card.range, incr)) },
      { scale: "°C", stroke: "#8b9aab", grid: { stroke: "#2a3644" }, values: (u, v) => v.map((x) => x + " °C") },
      { scale: "m³/h", side: 1, stroke: "#8b9aab", grid: { show: false } },
    ],
    series: [{}, ...card.keys.map(([, label, unit], i) => ({
      label, scale: unit, stroke: COLOURS[i % COLOURS.length], width: 1.5, spanGaps: true,
    }))],
    legend: { live: false },
  };
  card.chart?.destroy();
  box.replaceChildren();
  card.chart = new uPlot(opts, data, box);
  card.data = data;
}

function axisTime(ts, range, incr) {
  const opts = { timeZone: state.tz, hour: "2-digit", minute: "2-digit", hour12: false };
  if (incr < 60) opts.second = "2-digit";
  if (range > 86400) Object.assign(opts, { day: "2-digit", month: "short" });
  return new Intl.DateTimeFormat("en-GB", opts).format(new Date(ts * 1000));
}

function appendToCharts(values) {
  for (const card of Object.values(state.cards)) {
    if (!card.chart || card.range !== 3600) continue;
    let changed = false;
    for (const v of values) {
      const i = card.keys.findIndex(([key]) => key === v.series);
      if (i < 0) continue;
      const x = Date.parse(v.ts) / 1000;
      const xs = card.data[0];
      if (xs.length && x <= xs[xs.length - 1]) continue;
      xs.push(x);
      card.data.forEach((col, j) => { if (j > 0) col.push(j === i + 1 ? v.value : null); });
      changed = true;
    }
    if (changed) card.chart.setData(card.data);
  }
}

window.addEventListener("resize", () => {
  for (const card of Object.values(state.cards)) {
    const w = $(".chart", card.el).clientWidth;
    if (card.chart && w) card.chart.setSize({ width: w, height: 200 });
  }
});

// ---- live values over server-sent events -------------------------------------------------------

function stopLive() {
  state.source?.close(); state.source = null;
  $("#live").className = "live off";
}

async function startLive() {
  stopLive();
  let ticket;
  try {
    const response = await api("/v1/stream/ticket", { method: "POST" });
    ticket = await response.json();
  } catch (err) {
    if (err instanceof Unauthorized) return showLogin("Your token is no longer accepted.");
    return setTimeout(startLive, 5000);
  }
  // A new EventSource does not send Last-Event-ID by itself; the query carries it.
  const url = ticket.stream_url + (state.lastEventId ? `&last_event_id=${encodeURIComponent(state.lastEventId)}` : "");
  const source = state.source = new EventSource(url);
  source.addEventListener("open", () => { $("#live").className = "live on"; });
  source.addEventListener("hello", (ev) => { state.lastEventId = ev.lastEventId; });
  source.addEventListener("values", (ev) => {
    state.lastEventId = ev.lastEventId;
    const values = JSON.parse(ev.data).values;
    for (const v of values) {
      const old = state.latest[v.series];
      if (!old || old.ts <= v.ts) { state.latest[v.series] = v; showValue(v.series); }
    }
    appendToCharts(values);
  });
  source.addEventListener("gap", () => refresh());
  source.addEventListener("alert", () => loadAlerts());
  source.addEventListener("end", () => { source.close(); setTimeout(startLive, 3000); });
  source.addEventListener("error", () => {
    $("#live").className = "live off";
    // CONNECTING: the browser retries by itself; CLOSED (e.g. the ticket expired): a new one.
    if (source.readyState === EventSource.CLOSED && state.source === source) setTimeout(startLive, 3000);
  });
}

// ---- alerts and maintenance: shown once their endpoints exist -----------------------------------

async function loadAlerts() {
  clearTimeout(state.alertsTimer);
  try {
    const response = await api("/v1/alerts");
    if (response.status === 404 || !response.ok) { $("#alerts").hidden = true; return; }
    const body = await response.json();
    state.alerts = Array.isArray(body) ? body : (body.alerts ?? []);
    $("#alerts").hidden = false;
    renderAlerts();
    state.alertsTimer = setTimeout(loadAlerts, 15000);
  } catch (err) {
    $("#alerts").hidden = true;
  }
  loadMaintenance();
}

const ALERT_STATES = { active_unack: "active, unacknowledged", active_ack: "active, acknowledged",
  cleared_unack: "cleared, unacknowledged", normal: "normal" };

function renderAlerts() {
  const list = $("#alert-list");
  list.replaceChildren();
  $("#alerts-empty").hidden = state.alerts.length > 0;
  for (const a of state.alerts) {
    const li = document.createElement("li");
    const shelved = a.shelved_until && Date.parse(a.shelved_until) > Date.now();
    li.className = `alert ${a.severity ?? ""}${shelved ? " shelved" : ""}`;
    li.dataset.alert = a.id;
    li.dataset.state = a.state ?? "";
    li.dataset.shelved = shelved ? "1" : "0";
    const title = document.createElement("span");
    title.className = "title";
    title.textContent = `${a.title ?? a.rule_id ?? "alert"}${a.exchange ? " · " + a.exchange : ""}`;
    const status = document.createElement("span");
    status.className = "state";
    status.textContent = (ALERT_STATES[a.state] ?? a.state ?? "") +
      (shelved ? `, shelved until ${fmtTime(a.shelved_until)}` : "") +
      (a.raised_at ? ` · since ${fmtTime(a.raised_at, true)}` : "");
    const impact = document.createElement("span");
    impact.className = "impact";
    // time_to_impact_s was estimated when the alert last changed: count down from then.
    if (a.time_to_impact_s != null && (a.state ?? "").startsWith("active")) {
      const from = Date.parse(a.updated_at ?? a.raised_at ?? new Date().toISOString());
      impact.dataset.impactAt = new Date(from + a.time_to_impact_s * 1000).toISOString();
    }
    const actions = document.createElement("span");
    actions.className = "actions";
    const buttons = [];
    if (a.state === "active_unack" || a.state === "cleared_unack") buttons.push(["Acknowledge", "ack", null]);
    buttons.push(shelved ? ["Unshelve", "unshelve", null] : ["Shelve 1 h", "shelve", { duration_s: 3600, reason: "from the dashboard" }]);
    for (const [label, action, body] of buttons) {
      const b = document.createElement("button");
      b.type = "button"; b.textContent = label; b.dataset.action = action;
      b.addEventListener("click", async () => {
        b.disabled = true;
        const r = await api(`/v1/alerts/${encodeURIComponent(a.id)}/${action}`, {
          method: "POST", headers: { "Content-Type": "application/json" },
          body: body ? JSON.stringify(body) : undefined,
        }).catch(() => null);
        if (!r || !r.ok) { b.disabled = false; b.title = "not possible now"; }
        loadAlerts();
      });
      actions.append(b);
    }
    li.append(title, status, impact, actions);
    list.append(li);
  }
  tick();
}

async function loadMaintenance() {
  try {
    const response = await api("/v1/maintenance");
    if (!response.ok) { $("#maintenance").hidden = true; return; }
    const body = await response.json();
    const now = Date.now();
    const windows = (Array.isArray(body) ? body : (body.windows ?? []))
      .filter((w) => !w.cancelled_at && Date.parse(w.ends_at) > now);
    const list = $("#maintenance-list");
    list.replaceChildren(...windows.map((w) => {
      const li = document.createElement("li");
      const ongoing = Date.parse(w.starts_at) <= now;
      li.dataset.exchange = w.exchange;
      li.textContent = `${ongoing ? "now" : "planned"}: ${w.exchange}, ${fmtTime(w.starts_at, true)} – ` +
        `${fmtTime(w.ends_at, true)}${w.reason ? " · " + w.reason : ""}`;
      return li;
    }));
    $("#maintenance").hidden = windows.length === 0;
  } catch (err) {
    $("#maintenance").hidden = true;
  }
}

setInterval(tick, 1000);
tick();
start();
