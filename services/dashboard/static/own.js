// heatlink dashboard: the viewer's own assets first (temperature, rate of change against its
// limits, time to its limit per upstream supply, the predicted path during a disruption),
// then, for a supplier, what its recipients need from it. Loaded before dashboard.js.
"use strict";

const ownCharts = {};

async function loadOwn() {
  let view;
  try {
    const response = await api("/v1/dashboard/own");
    if (!response.ok) return;
    view = await response.json();
  } catch (err) {
    if (err instanceof Unauthorized) throw err;
    return;
  }
  renderOwn(view.assets);
  renderNeeds(view.recipients);
}

function rateLevel(rate, limits) {
  if (rate == null) return "unknown";
  let level = "normal";
  for (const r of limits) {
    const max = rate < 0 ? r.max_fall_per_h : r.max_rise_per_h;
    if (max != null && Math.abs(rate) >= max) level = r.severity === "alarm" ? "alarm" : (level === "alarm" ? level : "warning");
  }
  return level;
}

function limitText(dep) {
  return t(dep.side === "high" ? "own.limit_high" : "own.limit_low", { v: fmtNumber(dep.limit_c, 1) });
}

function el(tag, attrs = {}, text = null) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text != null) e.textContent = text;
  return e;
}

function renderOwn(assets) {
  const box = $("#own-list");
  $("#own").hidden = assets.length === 0;
  const keep = new Set(assets.map((a) => a.asset));
  for (const card of box.querySelectorAll("article")) if (!keep.has(card.dataset.asset)) card.remove();
  for (const a of assets) {
    let card = box.querySelector(`article[data-asset="${CSS.escape(a.asset)}"]`);
    if (!card) { card = makeOwnCard(a); box.append(card); }
    fillOwnCard(card, a);
  }
}

function makeOwnCard(a) {
  const card = el("article", { class: "own-asset", "data-asset": a.asset });
  const head = el("header");
  head.append(el("h3", {}, a.name), el("span", { class: "badge state" }));
  const figures = el("div", { class: "figures" });
  for (const [cls, label] of [["temp", "own.temperature"], ["rate", "own.rate"]]) {
    const f = el("div", { class: `figure ${cls}` });
    f.append(el("span", { class: "label" }, t(label)), el("span", { class: "value" }), el("span", { class: "limits muted" }));
    figures.append(f);
  }
  const deps = el("ul", { class: "deps", "aria-label": t("own.upstream") });
  const chart = el("div", { class: "own-chart", role: "img", "aria-label": t("own.trend") });
  const crossing = el("p", { class: "crossing", role: "status" });
  card.append(head, figures, deps, crossing, chart);
  return card;
}

function fillOwnCard(card, a) {
  card.dataset.state = a.state;
  card.className = `own-asset ${a.state}`;
  const badge = $(".badge", card);
  badge.className = `badge state ${a.state}`;
  badge.textContent = t(`state.${a.state}`);
  badge.title = a.reason;  // the service's words: an own asset's reason has no key yet
  const temp = $(".figure.temp", card);
  $(".value", temp).textContent = a.value == null ? t("own.no_value") : `${fmtNumber(a.value, 1)} °C`;
  temp.dataset.value = a.value ?? "";
  $(".limits", temp).textContent = a.low != null && a.high != null
    ? t("own.band", { low: fmtNumber(a.low, 1), high: fmtNumber(a.high, 1) }) : "";
  const rate = $(".figure.rate", card);
  const level = rateLevel(a.rate_k_per_h, a.rate_limits);
  rate.dataset.level = level;
  rate.dataset.value = a.rate_k_per_h ?? "";
  $(".value", rate).textContent = a.rate_k_per_h == null ? "–"
    : t("own.rate_value", { v: (a.rate_k_per_h > 0 ? "+" : "") + fmtNumber(a.rate_k_per_h, 1) });
  const warn = a.rate_limits.find((r) => r.severity === "warning");
  const alarm = a.rate_limits.find((r) => r.severity === "alarm");
  $(".limits", rate).textContent = warn && alarm
    ? t("own.rate_limits", { warn: fmtNumber(warn.max_fall_per_h ?? warn.max_rise_per_h, 1), alarm: fmtNumber(alarm.max_fall_per_h ?? alarm.max_rise_per_h, 1) }) : "";
  const deps = $(".deps", card);
  deps.replaceChildren(...a.dependencies.map((d) => {
    const li = el("li", { "data-exchange": d.exchange, "data-lost": d.lost_since ? "1" : "0", "data-state": d.state });
    let text;
    if (d.lost_since && d.time_to_limit_s != null) {
      text = d.time_to_limit_s > 0
        ? t("own.lost", { upstream: d.upstream_name, limit: limitText(d), d: fmtDuration(Math.round(d.time_to_limit_s)) })
        : t("own.lost_past", { upstream: d.upstream_name, limit: limitText(d) });
      li.dataset.seconds = Math.round(d.time_to_limit_s);
    } else if (d.time_to_limit_s != null) {
      text = t("own.if_stops", { upstream: d.upstream_name, limit: limitText(d), d: fmtDuration(Math.round(d.time_to_limit_s)) });
      li.dataset.seconds = Math.round(d.time_to_limit_s);
    } else if (d.limit_c != null && a.value != null) {
      text = t("own.if_stops_never", { upstream: d.upstream_name, limit: limitText(d) });
    } else {
      text = t("own.if_stops_unknown", { upstream: d.upstream_name });
    }
    li.textContent = text;
    return li;
  }));
  const lostDep = a.dependencies.find((d) => d.lost_since);
  $(".crossing", card).textContent = a.crossing_at && lostDep
    ? t("own.crossing", { limit: limitText(lostDep), t: fmtTime(a.crossing_at, true) }) : "";
  card.dataset.crossingAt = a.crossing_at ?? "";
  loadOwnTrend(card, a);
}

async function loadOwnTrend(card, a) {
  if (!a.series) return;
  const end = new Date(), start = new Date(end - 3600 * 1000);
  let points = [];
  try {
    const r = await api(`/v1/series/${a.series}/readings?start=${encodeURIComponent(start.toISOString())}` +
      `&end=${encodeURIComponent(end.toISOString())}&step=20&agg=avg`);
    if (r.ok) points = (await r.json()).points;
  } catch (err) { return; }
  const measured = new Map(points.map((p) => [Date.parse(p.ts) / 1000, p.value]));
  const predicted = new Map(a.predicted.map((p) => [Date.parse(p.ts) / 1000, p.value]));
  const xs = [...new Set([start / 1000, ...measured.keys(), ...predicted.keys()])].sort((x, y) => x - y);
  const data = [xs, xs.map((x) => measured.get(x) ?? null), xs.map((x) => predicted.get(x) ?? null),
    xs.map(() => a.low), xs.map(() => a.high)];
  const box = $(".own-chart", card);
  const width = Math.max(260, box.clientWidth || 400);
  const limitStroke = getComputedStyle(document.documentElement).getPropertyValue("--alarm").trim() || "#d63a3a";
  const opts = {
    width, height: 200, tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), state.tz),
    scales: { x: { time: true } },
    axes: [
      { stroke: "#8b9aab", grid: { stroke: "#2a3644" }, values: (u, splits) => splits.map((ts) => axisTime(ts, 3600, 60)) },
      { size: 55, stroke: "#8b9aab", grid: { stroke: "#2a3644" }, values: (u, v) => v.map((x) => fmtNumber(x, 0) + " °C") },
    ],
    series: [{},
      { label: t("own.measured"), stroke: "#c8d2dc", width: 2, spanGaps: true },
      { label: t("own.predicted"), stroke: "#4fb3d9", width: 2, dash: [6, 4], spanGaps: true },
      { label: t("own.limit_low_line"), stroke: limitStroke, width: 1, dash: [2, 3] },
      { label: t("own.limit_high_line"), stroke: limitStroke, width: 1, dash: [2, 3] }],
    legend: { live: false },
  };
  ownCharts[a.asset]?.destroy();
  box.replaceChildren();
  ownCharts[a.asset] = new uPlot(opts, data, box);
  card.dataset.chart = "1";
}

function renderNeeds(needs) {
  $("#supply").hidden = needs.length === 0;
  $("#supply-list").replaceChildren(...needs.map((n) => {
    const li = el("li", { "data-exchange": n.exchange, "data-state": n.state, class: `need ${n.state}` });
    const parts = [t("supply.need", { asset: n.asset_name, recipient: n.recipient_name })];
    if (n.low != null && n.high != null) parts.push(t("own.band", { low: fmtNumber(n.low, 1), high: fmtNumber(n.high, 1) }));
    if (n.max_rate_per_h != null) parts.push(t("supply.rate", { v: fmtNumber(n.max_rate_per_h, 1) }));
    parts.push(n.time_to_limit_s != null ? t("supply.if_stops", { d: fmtDuration(Math.round(n.time_to_limit_s)) }) : t("supply.if_stops_unknown"));
    li.textContent = parts.join(" · ");
    if (n.time_to_limit_s != null) li.dataset.seconds = Math.round(n.time_to_limit_s);
    return li;
  }));
}
