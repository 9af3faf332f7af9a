// heatlink dashboard: texts from the message catalogue the page was served with (its
// language is <html lang>), numbers and times formatted for that language. Loaded first.
"use strict";

const LANG = document.documentElement.lang || "en";
const LOCALE = LANG === "nb" ? "nb-NO" : "en-GB";
const MESSAGES = JSON.parse(document.getElementById("messages")?.textContent || "{}");

// t("key", {name: value}): the catalogue's text with {name} filled in; the key itself when
// missing, so a gap shows in tests instead of passing silently.
function t(key, values = {}) {
  const text = MESSAGES[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in values ? String(values[name]) : m));
}

// Static texts of the page and its templates: data-i18n (text), data-i18n-label
// (aria-label), data-i18n-title (title), data-i18n-placeholder.
function translate(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-label]")) el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
}

function translatePage() {
  translate(document);
  for (const tpl of document.querySelectorAll("template")) translate(tpl.content);
  document.title = t("page.title");
}

// The language switch: remembered in a cookie the server reads when it serves the page.
function chooseLanguage(lang) {
  document.cookie = `heatlink_lang=${lang}; path=/; max-age=31536000; samesite=strict`;
  location.reload();
}

// ---- server texts in the page's language: reasons and alert titles from their fields ---------

const LOSS = new Set(["disrupted", "low", "predicted_low", "falling"]);
const EXCESS = new Set(["high", "predicted_high", "rising"]);

function assetName(id) {
  return state.snap?.nodes.find((n) => n.id === id)?.name ?? id ?? "";
}

function conditionText(condition) {
  const key = `condition.${condition}`;
  return key in MESSAGES ? t(key) : String(condition ?? "").replace(/_/g, " ");
}

// An alert's title from its fields, in the page's language; the service's English title
// where no message fits (a kind this page does not know).
function alertTitle(a) {
  const d = a.detail ?? {};
  if (a.role === "recipient" && a.cause_asset && a.kind !== "maintenance") {
    const key = LOSS.has(a.condition) ? "alert.lost_upstream" : EXCESS.has(a.condition) ? "alert.hot_upstream" : "alert.upstream";
    return t(key, { cause: d.cause?.name ?? assetName(a.cause_asset), supplier: d.cause?.org_name ?? "",
      asset: d.affected_asset?.name ?? assetName(a.asset), condition: conditionText(a.condition) });
  }
  if (a.role === "supplier" && a.kind !== "intake_closed" && a.kind !== "maintenance") {
    return t("alert.supplier", { exchange: d.exchange?.name ?? a.exchange, condition: conditionText(a.condition), cause: assetName(a.cause_asset) });
  }
  if (a.role === "owner" && a.asset) {
    return t("alert.owner", { asset: assetName(a.asset), condition: conditionText(a.condition) });
  }
  return a.title ?? a.rule_id ?? "";
}

function reasonText(item) {
  const key = item.reason_key, v = item.reason_values ?? {};
  if (!key) return item.reason ?? "";
  if (key === "reason.alert") {
    const a = (state.alerts ?? []).find((x) => String(x.id) === String(v.alert));
    return a ? alertTitle(a) : t("reason.alert_active");
  }
  if (key === "reason.upstream") return t(key, { reason: reasonText({ reason_key: v.key, reason_values: v }) });
  if (key === "reason.maintenance") return t(key, { until: fmtTime(v.until, true), why: v.why ? ": " + v.why : "" });
  const shown = {};
  for (const [k, x] of Object.entries(v)) shown[k] = typeof x === "number" ? fmtNumber(x, Number.isInteger(x) ? 0 : 1) : x;
  return t(key, shown);
}
