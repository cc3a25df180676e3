// The saga's transition table (GET /v1/saga, generated from gateway/saga.py) drawn as SVG:
// states in columns by their longest distance from the start, one arrow per row of the table.
(() => {
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";

function el(name, attrs, text) {
  const e = document.createElementNS(SVGNS, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function shortEvent(type) {
  // customs.declaration.accepted → accepted; tax.refund.paid → refund paid
  const parts = type.split(".");
  return parts.slice(parts[1] === "declaration" || parts[1] === "goods" ? 2 : 1).join(" ");
}

function layout(rows, initial) {
  const states = [initial];
  for (const r of rows) for (const s of [r.state, r.to]) if (!states.includes(s)) states.push(s);
  const rank = Object.fromEntries(states.map((s) => [s, 0]));
  for (let i = 0; i < states.length; i++) {
    // longest path in a DAG: relax every edge |V| times
    for (const r of rows) if (r.to !== r.state) rank[r.to] = Math.max(rank[r.to], rank[r.state] + 1);
  }
  const columns = [];
  for (const s of states) (columns[rank[s]] = columns[rank[s]] || []).push(s);
  return { states, rank, columns };
}

// Draw `table` into `host`; `current` is the selected declaration's state, `visited` its past.
function drawSaga(host, table, name, current, visited, lang) {
  const rows = table.tables[name] || [];
  const { columns } = layout(rows, table.initial);
  const W = 156, H = 58, GX = 92, GY = 56, PAD = 24;
  const pos = {};
  const tallest = Math.max(...columns.map((c) => c.length));
  columns.forEach((col, x) => {
    const offset = ((tallest - col.length) * (H + GY)) / 2;
    col.forEach((s, y) => { pos[s] = { x: PAD + x * (W + GX), y: PAD + offset + y * (H + GY) }; });
  });
  const width = PAD * 2 + columns.length * (W + GX) - GX;
  const height = PAD * 2 + tallest * (H + GY) - GY + 20;
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": `saga ${name}: ${rows.length} transitions` });
  svg.appendChild(el("defs")).appendChild(
    Object.assign(el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "10", refY: "5",
      markerWidth: "14", markerHeight: "14", markerUnits: "userSpaceOnUse", orient: "auto-start-reverse" }), {})
  ).appendChild(el("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "currentColor" }));
  const seen = new Set(visited || []);
  const pairCount = {};
  for (const r of rows) {
    const a = pos[r.state], b = pos[r.to];
    const key = r.state + ">" + r.to;
    const k = (pairCount[key] = (pairCount[key] || 0) + 1) - 1;
    const x1 = a.x + W, y1 = a.y + H / 2 + k * 10, x2 = b.x, y2 = b.y + H / 2 + k * 10;
    const mx = (x1 + x2) / 2;
    const taken = seen.has(r.state) && (seen.has(r.to) || r.to === current);
    const g = el("g", { class: "edge" + (taken ? " taken" : "") });
    g.appendChild(el("path", { d: `M ${x1} ${y1} C ${mx} ${y1}, ${mx} ${y2}, ${x2} ${y2}`,
      fill: "none", "marker-end": "url(#arrow)" }));
    let label = shortEvent(r.on) + (r.when ? ` [${r.when}]` : "");
    const lx = x1 + (x2 - x1) * 0.5, ly = y1 + (y2 - y1) * 0.5;
    const t = el("text", { x: lx, y: ly - 8 - k * 16, "text-anchor": "middle", class: "edge-label" }, label);
    if (r.commands.length) {
      t.appendChild(el("tspan", { x: lx, dy: "16", class: "edge-cmd" },
        "→ " + r.commands.map((c) => c.split(".").slice(1).join(" ")).join(" + ")));
    }
    g.appendChild(el("title", {}, `${r.state} × ${r.on}${r.when ? " [" + r.when + "]" : ""} → ${r.to}` +
      (r.commands.length ? ` + ${r.commands.join(", ")}` : "")));
    g.appendChild(t);
    svg.appendChild(g);
  }
  for (const [s, p] of Object.entries(pos)) {
    const terminal = table.terminal.includes(s);
    const cls = ["node", terminal ? "terminal" : "", s === current ? "current" : "",
      seen.has(s) && s !== current ? "visited" : "", s === "failed" || s === "rejected" ? "bad" : ""].join(" ");
    const g = el("g", { class: cls, "data-state": s });
    g.appendChild(el("rect", { x: p.x, y: p.y, width: W, height: H, rx: terminal ? 27 : 8 }));
    const names = window.SW.STATE[s];
    const label = names ? names[lang] : s;
    const name = el("text", { x: p.x + W / 2, y: p.y + 23, "text-anchor": "middle", class: "node-name" }, label);
    const estimate = [...label].reduce((w, c) => w + (c.charCodeAt(0) > 0x2e80 ? 17 : 9.5), 0);
    if (estimate > W - 12) { name.setAttribute("textLength", W - 12); name.setAttribute("lengthAdjust", "spacingAndGlyphs"); }
    g.appendChild(name);
    g.appendChild(el("text", { x: p.x + W / 2, y: p.y + 43, "text-anchor": "middle", class: "node-id" }, s));
    svg.appendChild(g);
  }
  host.replaceChildren(svg);
}

window.drawSaga = drawSaga;
})();
