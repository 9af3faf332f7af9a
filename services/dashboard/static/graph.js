// heatlink dashboard: the cluster graph, coloured by state. Loaded before dashboard.js, which starts the page.
"use strict";

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
  svg("path", { d: "M0,0 L10,5 L0,10 z", fill: "#8b9aab" }, marker);
  const pos = {};
  // Columns for the depths this viewer sees only: no empty columns for hidden assets.
  const depths = [...new Set(snap.nodes.map((n) => n.depth))].sort((a, b) => a - b);
  const column = Object.fromEntries(depths.map((d, i) => [d, i]));
  let y = PAD, maxDepth = 0;
  const sites = [...new Set(snap.nodes.map((n) => n.site))];
  for (const site of sites) {
    const label = svg("text", { x: PAD, y: y + 12, class: "site" }, g);
    label.textContent = site;
    y += 20;
    const rows = {};
    for (const n of snap.nodes.filter((m) => m.site === site)) {
      const col = column[n.depth];
      const row = rows[col] = (rows[col] ?? -1) + 1;
      pos[n.id] = { x: PAD + col * COL_W, y: y + row * ROW_H };
      maxDepth = Math.max(maxDepth, col);
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
    title.textContent = t("cluster.node", { name: n.name, owner: n.owner, state: t(`state.${n.state}`), reason: reasonText(n) });
    const name = svg("text", { x: 10, y: 20 }, node);
    name.textContent = n.name.length > 24 ? n.name.slice(0, 23) + "…" : n.name;
    const role = svg("text", { x: 10, y: 37, class: "role" }, node);
    role.textContent = `${t(`role.${n.role}`)} · ${t(`state.${n.state}`)}`;
    if (exchangeOf[n.id]) {
      // A button to the keyboard too: Tab reaches it, Enter or Space selects its exchange.
      node.classList.add("selectable");
      node.setAttribute("tabindex", "0");
      node.setAttribute("role", "button");
      node.setAttribute("aria-label", title.textContent);
      node.addEventListener("click", () => selectExchange(exchangeOf[n.id]));
      node.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); selectExchange(exchangeOf[n.id]); }
      });
    } else {
      node.setAttribute("role", "img");
      node.setAttribute("aria-label", title.textContent);
    }
  }
  const width = PAD * 2 + maxDepth * COL_W + NODE_W;
  // Scaled to the width of its panel, down to ~70 % of its natural size (labels stay
  // legible); narrower than that (a phone), it keeps that size and its panel scrolls.
  g.setAttribute("viewBox", `0 0 ${width} ${y}`);
  g.style.width = "100%";
  g.style.maxWidth = `${width}px`;
  g.style.minWidth = `${Math.round(width * 0.7)}px`;
  g.style.height = "auto";
}

function selectExchange(id) {
  for (const [key, card] of Object.entries(state.cards)) card.el.classList.toggle("selected", key === id);
  const card = state.cards[id]?.el;
  if (!card) return;
  card.scrollIntoView({ behavior: "smooth", block: "nearest" });
  card.setAttribute("tabindex", "-1");
  card.focus({ preventScroll: true });
}
