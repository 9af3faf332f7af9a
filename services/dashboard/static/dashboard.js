// heatlink dashboard: one snapshot (GET /v1/dashboard), then live values over
// server-sent events (GET /v1/stream with a short-lived ticket) and a state refresh every
// few seconds. No framework, no network fetch beyond this service.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const state = {
  session: null, snap: null, latest: {}, units: {},
  cards: {}, cells: {}, charts: {}, lastEventId: null, source: null, tz: "Europe/Oslo",
  refreshTimer: null, alertsTimer: null, alerts: [],
};

// ---- API ---------------------------------------------------------------------------------

class Unauthorized extends Error {}

// The session cookie (HttpOnly, SameSite=Strict) goes with every request by itself; a
// change also carries the session's CSRF token, which only this page can read.
async function api(path, options = {}) {
  const method = (options.method || "GET").toUpperCase();
  const headers = { ...(options.headers || {}) };
  if (method !== "GET" && state.session) headers["X-CSRF-Token"] = state.session.csrf_token;
  const response = await fetch(path, { ...options, headers, credentials: "same-origin" });
  if (response.status === 401) throw new Unauthorized((await response.json()).detail);
  return response;
}

// ---- time, in the cluster's own zone -------------------------------------------------------

// Formatters are built once: constructing Intl objects per value dominates a large page.
const formatters = {};
function formatter(kind) {
  if (!formatters[kind]) {
    const opts = { timeZone: state.tz, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false };
    // A time with its date also names its UTC offset: around a DST change 02:30 happens
    // twice (or not at all), and the offset tells which.
    if (kind === "date") Object.assign(opts, { day: "2-digit", month: "short", timeZoneName: "shortOffset" });
    formatters[kind] = new Intl.DateTimeFormat(LOCALE, opts);
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
    el.textContent = s > 0 ? t("impact.in", { d: fmtDuration(s) }) : t("impact.now");
  }
}

function fmtDuration(s) {
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return h ? t("duration.hm", { h, m: String(m).padStart(2, "0") })
    : t("duration.ms", { m, s: String(r).padStart(2, "0") });
}

// ---- sign in ---------------------------------------------------------------------------------

function showLogin(message = "") {
  stopLive();
  $("#main").hidden = true; $("#logout").hidden = true; $("#login").hidden = false;
  $("#login-error").textContent = message;
}

$("#login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const button = $("#login-form button[type=submit]");
  button.disabled = true;
  try {
    const response = await fetch("/v1/session", {
      method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: $("#username").value.trim(), password: $("#password").value }),
    });
    const body = await response.json();
    if (response.status === 429) return showLogin(t("login.throttled", { s: response.headers.get("Retry-After") }));
    if (!response.ok) return showLogin(t("login.wrong"));
    $("#password").value = "";
    state.session = body;
    start();
  } catch (err) {
    showLogin(t("login.failed"));
  } finally {
    button.disabled = false;
  }
});

$("#logout").addEventListener("click", async () => {
  await api("/v1/session", { method: "DELETE" }).catch(() => null);
  state.session = null; showLogin();
});

// ---- first load --------------------------------------------------------------------------------

async function start() {
  if (!state.session) {
    const response = await fetch("/v1/session", { credentials: "same-origin" }).catch(() => null);
    if (!response || !response.ok) return showLogin();
    state.session = await response.json();
  }
  try {
    const response = await api("/v1/dashboard");
    if (!response.ok) throw new Error(`the service answered ${response.status}`);
    const snap = await response.json();
    performance.mark("heatlink-snapshot");
    $("#login").hidden = true; $("#main").hidden = false; $("#logout").hidden = false;
    if (state.tz !== snap.timezone) { state.tz = snap.timezone; for (const k in formatters) delete formatters[k]; }
    $("#cluster-name").textContent = snap.cluster;
    $("#org").textContent = `${state.session.username} · ${snap.org}`;
    render(snap);
    await loadOwn();
    loadControl();
    startLive();
    loadAlerts();
    clearInterval(state.refreshTimer);
    state.refreshTimer = setInterval(refresh, snap.refresh_s * 1000);
    performance.mark("heatlink-ready");
    document.body.dataset.ready = "1";
  } catch (err) {
    if (err instanceof Unauthorized) { state.session = null; return showLogin(t("login.ended")); }
    showLogin(t("login.failed"));
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
    loadOwn();
    loadControl();
    for (const ex of snap.exchanges) updateCard(ex);
    for (const key of Object.keys(state.latest)) showValue(key, false);
  } catch (err) {
    if (err instanceof Unauthorized) { state.session = null; showLogin(t("login.ended")); }
  }
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
    (ex.supply_band ? " · " + t("exchange.supply_band", { low: fmtNumber(ex.supply_band.low, 0), high: fmtNumber(ex.supply_band.high, 0) }) : "");
  for (const side of ["primary", "secondary"]) {
    for (const field of ["supply_temp", "return_temp", "flow"]) {
      const td = $(`tr.${side} td.${field}`, el);
      const key = ex[side][field];
      if (key) { td.dataset.series = key; (state.cells[key] ??= []).push(td); } else { td.textContent = t("exchange.not_shared"); td.classList.add("hidden"); }
    }
  }
  const card = { el, ex, range: 3600, chart: null, keys: chartKeys(ex) };
  state.cards[ex.id] = card;
  for (const b of el.querySelectorAll(".ranges button")) {
    b.addEventListener("click", () => {
      for (const o of el.querySelectorAll(".ranges button")) { o.classList.toggle("on", o === b); o.setAttribute("aria-pressed", String(o === b)); }
      card.range = Number(b.dataset.range);
      loadTrend(card);
    });
  }
  updateCard(ex);
  loadAccounting(card);
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
  badge.textContent = t(`state.${ex.state}`);
  $(".reason", card.el).textContent = reasonText(ex);
  const kw = ex.power_kw;
  $(".power-value", card.el).textContent = kw == null ? t("exchange.no_power") : `${fmtNumber(kw / 1000, 2)} MW`;
  $(".contract", card.el).textContent = ex.contracted_power_kw
    ? t("exchange.contracted", { mw: fmtNumber(ex.contracted_power_kw / 1000, 1) }) : t("exchange.no_contract");
  const fill = $(".fill", card.el);
  const share = kw != null && ex.contracted_power_kw ? kw / ex.contracted_power_kw : 0;
  fill.style.width = `${Math.min(100, share * 100)}%`;
  fill.classList.toggle("over", share > 1);
}

const numberFormats = {};
function fmtNumber(v, digits = 1) {
  numberFormats[digits] ??= new Intl.NumberFormat(LOCALE, { minimumFractionDigits: digits, maximumFractionDigits: digits });
  return numberFormats[digits].format(v);
}

function showValue(key, flash = true) {
  const v = state.latest[key];
  if (!v) return;
  const unit = { degC: "°C", "m3/h": "m³/h" }[state.units[key]] ?? state.units[key] ?? "";
  for (const td of state.cells[key] ?? []) {
    td.textContent = `${fmtNumber(v.value, unit === "°C" ? 1 : 0)} ${unit}`;
    td.title = t("exchange.value_title", { key, t: fmtTime(v.ts, true), quality: v.quality });
    td.dataset.value = v.value;
    td.classList.toggle("stale", v.quality !== "good");
    if (flash) { td.classList.remove("flash"); void td.offsetWidth; td.classList.add("flash"); }
  }
}

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
    if (err instanceof Unauthorized) { state.session = null; return showLogin(t("login.ended")); }
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

translatePage();
for (const b of document.querySelectorAll(".lang button")) {
  b.setAttribute("aria-pressed", String(b.dataset.lang === LANG));
  b.addEventListener("click", () => chooseLanguage(b.dataset.lang));
}
setInterval(tick, 1000);
tick();
start();
