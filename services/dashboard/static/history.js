// heatlink dashboard: the alarm journal with filters and CSV, and the ISA-18.2 / EEMUA 191
// figures (issue 15). Loaded when its panel is opened. Loaded before dashboard.js.
"use strict";

function historyQuery() {
  const form = $("#history-filters");
  const end = new Date();
  const start = new Date(end - Number(form.period.value) * 1000);
  const q = new URLSearchParams({ start: start.toISOString(), end: end.toISOString() });
  for (const name of ["asset", "exchange", "severity"]) if (form[name].value) q.set(name, form[name].value);
  return q;
}

function fillHistoryFilters() {
  const form = $("#history-filters");
  const options = (select, items) => {
    const chosen = select.value;
    select.replaceChildren(select.options[0], ...items.map(([value, label]) => {
      const o = document.createElement("option"); o.value = value; o.textContent = label; return o;
    }));
    select.value = chosen;
  };
  options(form.asset, state.snap.nodes.map((n) => [n.id, n.name]));
  options(form.exchange, state.snap.exchanges.map((x) => [x.id, x.name]));
}

const EVENTS = ["raised", "returned", "cleared", "acknowledged", "shelved", "unshelved",
  "out_of_service", "returned_to_service", "escalated", "severity_raised", "updated"];

function eventText(event) {
  return EVENTS.includes(event) ? t(`event.${event}`) : event.replace(/_/g, " ");
}

async function loadHistory() {
  if (!$("#history-details").open || !state.snap) return;
  const q = historyQuery();
  $("#history-csv").href = `/v1/alert-journal.csv?${q}`;
  let entries = [], kpis = null;
  try {
    const [j, k] = await Promise.all([api(`/v1/alert-journal?${q}&limit=500`),
      api(`/v1/alert-kpis?start=${encodeURIComponent(q.get("start"))}&end=${encodeURIComponent(q.get("end"))}`)]);
    if (j.ok) entries = await j.json();
    if (k.ok) kpis = await k.json();
  } catch (err) { return; }
  $("#journal tbody").replaceChildren(...entries.map((e) => {
    const tr = document.createElement("tr");
    tr.dataset.alert = e.alert_id; tr.dataset.event = e.event; tr.dataset.severity = e.severity;
    const alert = { ...e, id: e.alert_id };
    for (const text of [fmtTime(e.at, true), alertTitle(alert) || e.title, eventText(e.event), e.actor]) {
      const td = document.createElement("td"); td.textContent = text; tr.append(td);
    }
    return tr;
  }));
  if (kpis) renderKpis(kpis);
}

function renderKpis(k) {
  const items = [
    ["kpi.per_10_min", t("kpi.per_10_min_value", { avg: fmtNumber(k.per_10_min_avg, 2), max: k.per_10_min_max })],
    ["kpi.flood", `${fmtNumber(k.flood_share * 100, 1)} %`],
    ["kpi.standing", String(k.standing)],
    ["kpi.chattering", String(k.chattering)],
    ["kpi.fleeting", String(k.fleeting)],
  ];
  for (const x of k.exchanges) {
    items.push([null, t("kpi.exchange", { name: state.snap.exchanges.find((e) => e.id === x.exchange)?.name ?? x.exchange }),
      t("kpi.exchange_value", { availability: fmtNumber(x.availability * 100, 2), per_month: fmtNumber(x.disruptions_per_month, 1),
        mttr: x.mean_time_to_restore_s == null ? "–" : fmtDuration(Math.round(x.mean_time_to_restore_s)) })]);
  }
  const dl = $("#kpis");
  dl.replaceChildren();
  for (const [key, a, b] of items) {
    const div = document.createElement("div");
    if (key) div.dataset.kpi = key.split(".")[1];
    const dt = document.createElement("dt"), dd = document.createElement("dd");
    dt.textContent = key ? t(key) : a; dd.textContent = key ? a : b;
    div.append(dt, dd); dl.append(div);
  }
  const top = document.createElement("div");
  top.dataset.kpi = "top";
  const dt = document.createElement("dt"); dt.textContent = t("kpi.top");
  const dd = document.createElement("dd");
  const ol = document.createElement("ol");
  for (const f of k.top) { const li = document.createElement("li"); li.textContent = `${f.title} (${f.annunciations})`; ol.append(li); }
  dd.append(ol); top.append(dt, dd); dl.append(top);
}

// dashboard.js (loaded after this file) defines $ and the state: plain DOM calls here.
document.getElementById("history-details").addEventListener("toggle", () => {
  if (state.snap) fillHistoryFilters();
  loadHistory();
});
document.getElementById("history-filters").addEventListener("change", () => loadHistory());
