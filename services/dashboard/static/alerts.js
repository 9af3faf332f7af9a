// heatlink dashboard: active alerts and announced maintenance. Loaded before dashboard.js, which starts the page.
"use strict";

// ---- alerts and maintenance: shown once their endpoints exist -----------------------------------

async function loadAlerts() {
  clearTimeout(state.alertsTimer);
  try {
    const response = await api("/v1/alerts");
    if (response.status === 404 || !response.ok) { $("#alerts").hidden = true; return; }
    const body = await response.json();
    state.alerts = Array.isArray(body) ? body : (body.alerts ?? []);
    state.alertsOrg = body.org ?? null;
    $("#alerts").hidden = false;
    renderAlerts();
    // Reasons that name an alert are shown in its words: now that they are known.
    if (state.snap) { for (const ex of state.snap.exchanges) updateCard(ex); drawGraph(state.snap); }
    state.alertsTimer = setTimeout(loadAlerts, 15000);
  } catch (err) {
    $("#alerts").hidden = true;
  }
  loadMaintenance();
}


function renderAlerts() {
  const list = $("#alert-list");
  list.replaceChildren();
  $("#alerts-empty").hidden = state.alerts.length > 0;
  // One alarm per cause: what follows from a root cause is nested under it, with its own
  // times, and is acknowledged with it.
  const listed = new Set(state.alerts.map((a) => a.id));
  const under = new Map();
  for (const a of state.alerts) {
    if (a.parent_id != null && listed.has(a.parent_id)) {
      if (!under.has(a.parent_id)) under.set(a.parent_id, []);
      under.get(a.parent_id).push(a);
    }
  }
  for (const a of state.alerts) {
    if (a.parent_id != null && listed.has(a.parent_id)) continue;
    const li = alertItem(a, true);
    const children = under.get(a.id) ?? [];
    if (children.length) {
      const nested = document.createElement("ul");
      nested.className = "children";
      nested.setAttribute("aria-label", t("alerts.grouped", { n: children.length }));
      for (const c of children) nested.append(alertItem(c, false));
      li.append(nested);
    }
    list.append(li);
  }
  tick();
}

function alertItem(a, withActions) {
  const li = document.createElement("li");
  const shelved = a.shelved_until && Date.parse(a.shelved_until) > Date.now();
  li.className = `alert ${a.severity ?? ""}${shelved ? " shelved" : ""}`;
  li.dataset.alert = a.id;
  li.dataset.state = a.state ?? "";
  li.dataset.shelved = shelved ? "1" : "0";
  const title = document.createElement("span");
  title.className = "title";
  title.textContent = alertTitle(a);
  const status = document.createElement("span");
  status.className = "state";
  status.textContent = (a.state ? t(`alerts.${a.state}`) : "") +
    (shelved ? ", " + t("alerts.shelved_until", { t: fmtTime(a.shelved_until) }) : "") +
    (a.raised_at ? " · " + t("alerts.since", { t: fmtTime(a.raised_at, true) }) : "");
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
  // The facilitator sees every organisation's alerts; acting on one is its own org's.
  const ours = !a.org || !state.alertsOrg || a.org === state.alertsOrg;
  if (!ours) status.textContent += ` · ${a.org}`;
  if (withActions && ours && (a.state === "active_unack" || a.state === "cleared_unack")) buttons.push([t("alerts.ack"), "ack", null]);
  if (withActions && ours) buttons.push(shelved ? [t("alerts.unshelve"), "unshelve", null] : [t("alerts.shelve"), "shelve", { duration_s: 3600, reason: "from the dashboard" }]);
  for (const [label, action, body] of buttons) {
    const b = document.createElement("button");
    b.type = "button"; b.textContent = label; b.dataset.action = action;
    b.addEventListener("click", async () => {
      b.disabled = true;
      const r = await api(`/v1/alerts/${encodeURIComponent(a.id)}/${action}`, {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: body ? JSON.stringify(body) : undefined,
      }).catch(() => null);
      if (!r || !r.ok) { b.disabled = false; b.title = t("alerts.not_now"); }
      loadAlerts();
    });
    actions.append(b);
  }
  li.append(title, status, impact, actions);
  return li;
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
      li.textContent = `${t(ongoing ? "maintenance.now" : "maintenance.planned")}: ${w.exchange}, ${fmtTime(w.starts_at, true)} – ` +
        `${fmtTime(w.ends_at, true)}${w.reason ? " · " + w.reason : ""}`;
      return li;
    }));
    $("#maintenance").hidden = windows.length === 0;
  } catch (err) {
    $("#maintenance").hidden = true;
  }
}
