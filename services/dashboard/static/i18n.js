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
