// Accounting on each exchange card (issue 14): energy month to date against the contract,
// and the month's statement to open or download. An exchange without accounting, or one
// whose figures the caller may not see, answers 404 and the section stays hidden.
"use strict";

async function loadAccounting(card) {
  const box = card.el.querySelector(".accounting");
  let response;
  try {
    response = await api(`/v1/exchanges/${encodeURIComponent(card.ex.id)}/month-to-date`);
  } catch (err) {
    return;
  }
  if (!response.ok) { box.classList.add("hidden"); return; }
  const mtd = await response.json();
  box.classList.remove("hidden");
  const heat = mtd.resources.find((r) => r.resource === "heat");
  const text = box.querySelector(".mtd");
  if (heat) {
    const mwh = (heat.total ?? 0) / 1000;
    const contracted = heat.contracted == null ? "" : t("accounting.contracted", { mwh: fmtNumber(heat.contracted / 1000, 1) });
    text.textContent = t("accounting.mtd", { month: mtd.month, mwh: fmtNumber(mwh, 1),
      unc: fmtNumber((heat.uncertainty ?? 0) / 1000, 1), contracted, agreed: heat.agreed_hours,
      disputed: heat.disputed_hours, substituted: heat.substituted_hours });
    const fill = box.querySelector(".fill");
    const share = heat.contracted ? (heat.total ?? 0) / heat.contracted : 0;
    fill.style.width = `${Math.min(100, share * 100)}%`;
  } else {
    text.textContent = t("accounting.none", { month: mtd.month });
  }
  for (const button of box.querySelectorAll("button[data-format]")) {
    button.onclick = () => downloadStatement(card.ex.id, mtd.month, button.dataset.format);
  }
}

async function downloadStatement(exchangeId, month, format) {
  const accept = { pdf: "application/pdf", csv: "text/csv", json: "application/json" }[format];
  const response = await api(`/v1/exchanges/${encodeURIComponent(exchangeId)}/statements/${month}`,
    { headers: { Accept: accept } });
  if (!response.ok) return;
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = `${exchangeId}-${month}.${format}`;
  if (format === "pdf") link.target = "_blank";
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
