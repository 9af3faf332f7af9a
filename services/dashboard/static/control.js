// heatlink dashboard: control on screen (issue 15). The owner of a writable point previews
// a ramp against the moved asset's limits, sends it, follows it, sees why it holds, resumes
// or cancels it; a supplier answers protective-action requests. Every action goes through
// the control API, which decides who may and audits it. Loaded before dashboard.js.
"use strict";

const control = { points: [], preview: null, chart: null };

async function loadControl() {
  let points = [], ramps = [], requests = [];
  try {
    const [p, r, q] = await Promise.all([api("/v1/control/points"), api("/v1/control/ramps?limit=20"),
      api("/v1/control/protective-requests")]);
    if (!p.ok) { $("#control").hidden = true; return; }
    points = await p.json();
    if (r.ok) ramps = await r.json();
    if (q.ok) requests = await q.json();
  } catch (err) { return; }
  control.points = points.filter((x) => x.may_request);
  const answerable = requests.filter((x) => x.status === "open" && x.to_org === state.session?.org);
  $("#control").hidden = control.points.length === 0 && ramps.length === 0 && requests.length === 0;
  $("#ramp-form").hidden = control.points.length === 0;
  const select = $("#ramp-form select[name=point]");
  if (select.options.length !== control.points.length) {
    select.replaceChildren(...control.points.map((x) => {
      const o = document.createElement("option");
      o.value = x.key; o.textContent = `${assetName(x.asset)} · ${x.key.split("/").pop()}`;
      return o;
    }));
  }
  renderRamps(ramps);
  renderRequests(requests, answerable);
}

const RAMP_STATUS = ["running", "held", "completed", "cancelled"];

function renderRamps(ramps) {
  $("#ramp-list").replaceChildren(...ramps.map((r) => {
    const li = el("li", { class: `ramp ${r.status}`, "data-ramp": r.id, "data-status": r.status });
    const text = el("span", { class: "what" }, t("control.ramp", {
      point: r.point.split("/").slice(-2).join("/"), from: r.start_value == null ? "–" : fmtNumber(r.start_value, 1),
      to: fmtNumber(r.target, 1), rate: fmtNumber(r.rate_per_h, 2) }));
    const status = el("span", { class: "status" }, `${RAMP_STATUS.includes(r.status) ? t(`control.status.${r.status}`) : r.status}` +
      ` · ${t("control.step", { step: r.step, steps: r.steps })}` +
      (r.confirmed_value != null ? ` · ${t("control.confirmed", { v: fmtNumber(r.confirmed_value, 2) })}` : ""));
    li.append(text, status);
    if (r.status === "held" && r.reasons.length) li.append(el("span", { class: "why" }, t("control.why", { why: r.reasons.join("; ") })));
    const mine = control.points.some((p) => p.key === r.point);
    if (mine && (r.status === "running" || r.status === "held")) {
      const actions = el("span", { class: "actions" });
      for (const [what, label] of [...(r.status === "held" ? [["resume", "control.resume"]] : []), ["cancel", "control.cancel"]]) {
        const b = el("button", { type: "button", "data-action": what }, t(label));
        b.addEventListener("click", async () => {
          b.disabled = true;
          const answer = await api(`/v1/control/ramps/${r.id}/${what}`, { method: "POST" }).catch(() => null);
          if (!answer || !answer.ok) $("#ramp-error").textContent = answer ? (await answer.json()).detail : t("login.failed");
          loadControl();
        });
        actions.append(b);
      }
      li.append(actions);
    }
    return li;
  }));
}

function renderRequests(requests, answerable) {
  $("#protective-title").hidden = requests.length === 0;
  $("#protective-list").replaceChildren(...requests.map((q) => {
    const li = el("li", { class: "request", "data-request": q.id, "data-status": q.status });
    li.append(el("span", { class: "what" }, `${q.from_org} → ${q.to_org}: ${q.action}${q.reason ? " (" + q.reason + ")" : ""}`),
      el("span", { class: "status" }, t(`control.request.${q.status}`) ?? q.status));
    if (answerable.includes(q)) {
      const actions = el("span", { class: "actions" });
      for (const what of ["accept", "decline"]) {
        const b = el("button", { type: "button", "data-action": what }, t(`control.${what}`));
        b.addEventListener("click", async () => {
          b.disabled = true;
          await api(`/v1/control/protective-requests/${q.id}/${what}`, { method: "POST",
            headers: { "Content-Type": "application/json" }, body: JSON.stringify({ note: "" }) }).catch(() => null);
          loadControl();
        });
        actions.append(b);
      }
      li.append(actions);
    }
    return li;
  }));
}

async function previewRamp(ev) {
  ev.preventDefault();
  const form = $("#ramp-form");
  $("#ramp-error").textContent = "";
  $("#ramp-preview").hidden = true;
  const body = { point: form.point.value, target: Number(form.target.value) };
  const answer = await api("/v1/control/previews", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body) }).catch(() => null);
  if (!answer || !answer.ok) {
    $("#ramp-error").textContent = answer ? (await answer.json()).detail : t("login.failed");
    return;
  }
  const p = control.preview = await answer.json();
  const box = $("#ramp-preview");
  box.hidden = false;
  box.dataset.within = p.within_limits ? "1" : "0";
  $(".summary", box).textContent = t("control.summary", { from: fmtNumber(p.start_value, 2), to: fmtNumber(p.target, 2),
    rate: fmtNumber(p.rate_per_h, 2), limit: fmtNumber((p.target >= p.start_value ? p.max_rise_per_h : p.max_fall_per_h) ?? 0, 1),
    d: fmtDuration(Math.round(p.duration_s)), end: fmtTime(p.ends_at, true) }) +
    (p.low != null ? " " + t(p.within_limits ? "control.within" : "control.outside", { low: fmtNumber(p.low, 1), high: fmtNumber(p.high, 1) }) : "");
  const xs = p.path.map((x) => Date.parse(x.ts) / 1000);
  const data = [xs, p.path.map((x) => x.value), xs.map(() => p.low), xs.map(() => p.high)];
  const chartBox = $(".preview-chart", box);
  const limitStroke = getComputedStyle(document.documentElement).getPropertyValue("--alarm").trim();
  control.chart?.destroy();
  chartBox.replaceChildren();
  control.chart = new uPlot({
    width: Math.max(260, chartBox.clientWidth || 400), height: 180,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), state.tz), scales: { x: { time: true } },
    axes: [{ stroke: "#9aa8b7", grid: { stroke: "#2a3644" }, values: (u, splits) => splits.map((ts) => axisTime(ts, 3600, 60)) },
      { size: 72, stroke: "#9aa8b7", grid: { stroke: "#2a3644" }, values: (u, v) => v.map((x) => fmtNumber(x, 1) + " °C") }],
    series: [{}, { label: t("control.planned"), stroke: "#4fb3d9", width: 2 },
      { label: t("own.limit_low_line"), stroke: limitStroke, width: 1, dash: [2, 3] },
      { label: t("own.limit_high_line"), stroke: limitStroke, width: 1, dash: [2, 3] }],
    legend: { live: false },
  }, data, chartBox);
}

async function sendRamp() {
  const p = control.preview;
  if (!p) return;
  const button = $("#ramp-send");
  button.disabled = true;
  const answer = await api("/v1/control/ramps", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ point: p.point, target: p.target }) }).catch(() => null);
  button.disabled = false;
  if (!answer || !answer.ok) {
    $("#ramp-error").textContent = answer ? (await answer.json()).detail : t("login.failed");
    return;
  }
  $("#ramp-preview").hidden = true;
  control.preview = null;
  loadControl();
}

document.getElementById("ramp-form").addEventListener("submit", previewRamp);
document.getElementById("ramp-send").addEventListener("click", sendRamp);
