// heatlink dashboard: trend charts with the vendored uPlot. Loaded before dashboard.js, which starts the page.
"use strict";

// ---- trends (uPlot) ----------------------------------------------------------------------------

function chartKeys(ex) {
  const keys = [];
  for (const side of ["secondary", "primary"]) {
    for (const f of ["supply_temp", "return_temp"]) if (ex[side][f]) keys.push([ex[side][f], t(`trend.${side} ${f.replace("_temp", "")}`), "°C"]);
  }
  for (const side of ["secondary", "primary"]) if (ex[side].flow) keys.push([ex[side].flow, t(`trend.${side} flow`), "m³/h"]);
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
      { scale: "°C", size: 60, stroke: "#8b9aab", grid: { stroke: "#2a3644" }, values: (u, v) => v.map((x) => fmtNumber(x, 0) + " °C") },
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
  return new Intl.DateTimeFormat(LOCALE, opts).format(new Date(ts * 1000));
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
