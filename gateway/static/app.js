// The trainer's dashboard: live board over server-sent events, timeline, composer, saga diagram,
// class view. Vanilla JS, no build step, nothing fetched from outside the gateway.
"use strict";

const { UI, AGENCY, STATE, STATUS, STEP, CHANNEL, describe, money, commandLabel } = window.SW;
const LANES = ["customs", "inspection", "forex", "tax"];
const TERMINAL = new Set(["completed", "rejected", "failed", "cancelled"]);
const MAX_ROWS = 10; // the board draws this many declarations; the class view counts them all
const MAX_KNOWN = 500;
const $ = (id) => document.getElementById(id);

const state = {
  lang: localStorage.getItem("sw.lang") || "en",
  key: "",
  config: null,
  saga: null,
  decls: new Map(), // id → latest item (+ pace, visited states)
  selected: null,
  stats: null,
  timeline: null,
  showStatus: false,
  stream: null,
  drawPending: false,
};

const t = (k, ...a) => { const v = UI[state.lang][k]; return typeof v === "function" ? v(...a) : (v ?? k); };
const word = (table, k) => (table[k] ? table[k][state.lang] : k || "");

// --- examples ------------------------------------------------------------------------------------

// The ready-made declarations come from the gateway (gateway/dashboard/examples.py).
const EXAMPLE_ORDER = ["0110", "9610", "1210", "9710", "9810"];
const examples = () => (state.config ? state.config.examples : {});

// --- language -------------------------------------------------------------------------------------

function applyLang() {
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  document.documentElement.dataset.lang = state.lang;
  for (const e of document.querySelectorAll("[data-i18n]")) e.textContent = t(e.dataset.i18n);
  $("lang-toggle").textContent = state.lang === "zh" ? "English" : "中文";
  $("lang-toggle").setAttribute("aria-label", state.lang === "zh" ? "Switch to English" : "切换到中文");
  renderExamples();
  renderScenarios();
  renderLive();
  scheduleDraw();
  renderTimeline();
  renderSaga();
  renderClass();
}

function toggleLang() {
  state.lang = state.lang === "zh" ? "en" : "zh";
  localStorage.setItem("sw.lang", state.lang);
  applyLang();
}

// --- HTTP -----------------------------------------------------------------------------------------

async function api(method, path, body) {
  const headers = { Authorization: "Bearer " + state.key };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { detail: text }; }
  if (!resp.ok) {
    const err = new Error((data && (data.detail || data.title)) || resp.statusText);
    err.problem = data; err.status = resp.status;
    throw err;
  }
  return data;
}

// --- the stream (fetch-read SSE, so the key travels in a header, not the URL) ---------------------

function renderLive(mode) {
  const live = $("live");
  if (mode) live.dataset.state = mode;
  const m = live.dataset.state;
  live.className = "live " + m;
  live.lastElementChild.textContent = t(m === "on" ? "live" : m === "connecting" ? "connecting" : "offline");
}

async function connect() {
  if (state.stream) state.stream.abort();
  const ctrl = new AbortController();
  state.stream = ctrl;
  while (!ctrl.signal.aborted) {
    renderLive("connecting");
    try {
      const resp = await fetch("/v1/stream", { headers: { Authorization: "Bearer " + state.key, Accept: "text/event-stream" }, signal: ctrl.signal });
      if (!resp.ok) throw new Error("stream " + resp.status);
      renderLive("on");
      const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let cut;
        while ((cut = buf.indexOf("\n\n")) >= 0) {
          handleFrame(buf.slice(0, cut));
          buf = buf.slice(cut + 2);
        }
      }
    } catch (e) {
      if (ctrl.signal.aborted) return;
    }
    renderLive("off");
    await new Promise((r) => setTimeout(r, 2000)); // reconnect pacing
  }
}

function handleFrame(frame) {
  let event = "message", data = "";
  for (const line of frame.split("\n")) {
    if (line.startsWith("event:")) event = line.slice(6).trim();
    else if (line.startsWith("data:")) data += line.slice(5).trim();
  }
  if (!data) return;
  const parsed = JSON.parse(data);
  if (event === "status") for (const it of parsed) absorb(it);
  else if (event === "stats") { state.stats = parsed; renderClass(); }
}

function absorb(it) {
  const prev = state.decls.get(it.id);
  if (prev && prev.at > it.at) return; // an older change arriving late
  const visited = prev ? prev.visited : [];
  if (it.previous_state && !visited.includes(it.previous_state)) visited.push(it.previous_state);
  if (!visited.includes(it.state)) visited.push(it.state);
  state.decls.delete(it.id); // re-insert: most recently moved last
  state.decls.set(it.id, { ...prev, ...it, visited, seenAt: performance.now() });
  for (const id of state.decls.keys()) { // forget the longest-unmoved, never the selected one
    if (state.decls.size <= MAX_KNOWN) break;
    if (id !== state.selected) state.decls.delete(id);
  }
  if (it.id === state.selected) { refreshTimelineSoon(); renderSaga(); }
  scheduleDraw();
}

// --- the board ------------------------------------------------------------------------------------

function scheduleDraw() {
  if (state.drawPending) return;
  state.drawPending = true;
  requestAnimationFrame(() => { state.drawPending = false; drawBoard(); });
}

function laneFigure(lane, d) {
  const f = d.figures || {};
  if (lane === "customs") return f.customs_value_cny ? money(f.customs_value_cny) : "";
  if (lane === "forex") return f.settled_amount_cny ? money(f.settled_amount_cny) : "";
  if (lane === "tax") {
    if (f.refund !== null && f.refund !== undefined) return (state.lang === "zh" ? "退税 " : "refund ") + money(f.refund);
    if (f.taxes_total) return (state.lang === "zh" ? "税款 " : "taxes ") + money(f.taxes_total);
  }
  return "";
}

function drawBoard() {
  const all = [...state.decls.values()];
  const shown = all.slice(-MAX_ROWS).reverse();
  if (state.selected && !shown.some((d) => d.id === state.selected) && state.decls.has(state.selected)) {
    shown.pop(); shown.unshift(state.decls.get(state.selected));
  }
  lookUpPaces(shown);
  const rows = $("rows");
  const focused = document.activeElement && document.activeElement.dataset && document.activeElement.dataset.id;
  const frag = document.createDocumentFragment();
  for (const d of shown) frag.appendChild(rowOf(d));
  rows.replaceChildren(frag);
  if (focused) { const f = rows.querySelector(`[data-id="${focused}"]`); if (f) f.focus(); }
  $("board-empty").hidden = all.length > 0;
  const total = Math.max(all.length, state.stats ? state.stats.declarations : 0);
  const inFlight = state.stats ? Object.entries(state.stats.by_status || {}).filter(([s]) => !TERMINAL.has(s)).reduce((a, [, n]) => a + n, 0) : 0;
  $("board-more").hidden = total <= shown.length;
  $("board-more").textContent = t("more", shown.length, total, inFlight);
}

const paceAsked = new Set();
function lookUpPaces(shown) {
  // Rows this page did not submit: ask once for their pace, so step rows get their button.
  // Not under load (the stream's own numbers say how busy it is): the board only samples then.
  if (state.stats && state.stats.declarations - (state.stats.by_status.completed || 0) > 50) return;
  for (const d of shown) {
    if (d.pace || TERMINAL.has(d.status) || paceAsked.has(d.id)) continue;
    paceAsked.add(d.id);
    api("GET", `/v1/declarations/${d.id}/pace`).then((p) => {
      const known = state.decls.get(d.id);
      if (known) { known.pace = p.pace; scheduleDraw(); }
    }).catch(() => {});
  }
}

// Text from the server (reasons, codes, error messages) may hold what a trader or an operator
// typed: it goes into HTML only escaped.
function esc(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function rowOf(d) {
  const row = document.createElement("div");
  row.className = "drow" + (d.id === state.selected ? " selected" : "") + (d.channel ? " ch-" + d.channel : "");
  row.setAttribute("role", "row");
  row.tabIndex = 0;
  row.dataset.id = d.id;
  row.dataset.status = d.status;
  row.dataset.state = d.state;
  const head = document.createElement("span");
  head.setAttribute("role", "cell");
  head.className = "dhead";
  head.innerHTML = `<b>…${d.id.slice(-6)}</b> <span class="mode">${d.trade_mode || ""} ${t(d.direction || "")}</span>` +
    (d.channel ? `<span class="chan ${d.channel}">${word(CHANNEL, d.channel)} ${t("channel")}</span>` : "");
  row.appendChild(head);
  for (const lane of LANES) {
    const step = (d.steps || {})[lane] || "waiting";
    const c = document.createElement("span");
    c.setAttribute("role", "cell");
    c.className = `cell lane ${lane} step-${step}`;
    c.dataset.lane = lane;
    const fig = laneFigure(lane, d);
    // A paced stage is pending while it waits for the trainer (step) or the officer (demo).
    const label = step === "pending" && d.pace === "step" ? "‖ " + t("held")
      : step === "pending" && d.pace === "demo" ? t("demo_wait") : word(STEP, step);
    // The entry number (18 digits) has a line of its own: the column is made wide enough for it.
    const entry = lane === "customs" && d.entry_id ? `<span class="entry num">${esc(d.entry_id)}</span>` : "";
    c.innerHTML = `<span class="step">${label}</span>${entry}${fig ? `<span class="fig">${fig}</span>` : ""}`;
    row.appendChild(c);
  }
  const st = document.createElement("span");
  st.setAttribute("role", "cell");
  st.className = "cell status st-" + d.status;
  st.innerHTML = `<span class="chip">${word(STATUS, d.status)}</span>`;
  if (d.pace === "step" && !TERMINAL.has(d.status)) {
    const b = document.createElement("button");
    b.type = "button"; b.className = "advance"; b.textContent = t("advance");
    b.addEventListener("click", (e) => { e.stopPropagation(); advance(d.id); });
    st.appendChild(b);
  } else if (d.pace === "demo" && !TERMINAL.has(d.status)) {
    st.insertAdjacentHTML("beforeend", `<small class="pace-note">⏱ ${t("pace_demo")}</small>`);
  }
  if (d.reason && TERMINAL.has(d.status)) st.title = d.reason;
  row.appendChild(st);
  row.addEventListener("click", () => select(d.id));
  row.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); select(d.id); }
    if (e.key === "ArrowDown" && row.nextElementSibling) { e.preventDefault(); row.nextElementSibling.focus(); }
    if (e.key === "ArrowUp" && row.previousElementSibling) { e.preventDefault(); row.previousElementSibling.focus(); }
  });
  return row;
}

async function advance(id) {
  try {
    const r = await api("POST", `/v1/declarations/${id}/advance`);
    toast(t("advanced", r.released.map((x) => commandLabel(x, state.lang)).join(", ")));
  } catch (e) {
    toast(e.status === 409 ? t("nothing_held") : `${t("error")}: ${e.message}`, true);
  }
}

function toast(msg, bad) {
  const r = $("composer-result");
  r.textContent = msg;
  r.className = bad ? "bad" : "ok";
}

// --- selection, timeline ----------------------------------------------------------------------

async function select(id) {
  state.selected = id;
  const d = state.decls.get(id);
  if (d && d.direction) $("saga-direction").value = tableOf(d);
  showTab("timeline");
  scheduleDraw();
  await loadTimeline();
  renderSaga();
  if (d && !d.pace) {
    try { d.pace = (await api("GET", `/v1/declarations/${id}/pace`)).pace; scheduleDraw(); } catch { /* gone */ }
  }
}

let timelineTimer = null;
function refreshTimelineSoon() {
  if (timelineTimer) return;
  timelineTimer = setTimeout(() => { timelineTimer = null; loadTimeline(); }, 300);
}

async function loadTimeline() {
  const id = state.selected;
  if (!id) return;
  try {
    const [tl, view] = await Promise.all([api("GET", `/v1/declarations/${id}/events`), api("GET", `/v1/declarations/${id}`)]);
    if (id !== state.selected) return;
    state.timeline = { id, entries: tl.data, view };
    const d = state.decls.get(id);
    if (!d || (d.at || 0) * 1000 < Date.parse(view.updated_at)) {
      absorb(viewItem(view));
    }
    // The states it went through, from its status messages, for the diagram.
    const visited = [];
    for (const e of tl.data) {
      if (e.type !== "declaration.status.changed") continue;
      for (const s of [e.payload.previous_state, e.payload.state]) if (s && !visited.includes(s)) visited.push(s);
    }
    const known = state.decls.get(id);
    if (known) known.visited = visited;
  } catch (e) {
    state.timeline = { id, error: e.message };
  }
  renderTimeline();
}

const fmtTime = (ms) => new Date(ms).toISOString().slice(11, 23);
const fmtDur = (ms) => (ms >= 1000 ? (ms / 1000).toFixed(2) + " s" : Math.round(ms) + " ms");

function agencyOf(entry) {
  const prefix = entry.type.split(".")[0];
  if (LANES.includes(prefix)) return prefix;
  return entry.type === "declaration.submitted" ? "trader" : "gateway";
}

function renderTimeline() {
  const host = $("timeline"), head = $("timeline-head");
  const tl = state.timeline;
  if (!tl || tl.id !== state.selected) {
    head.replaceChildren();
    host.innerHTML = `<p class="empty">${t("select_hint")}</p>`;
    return;
  }
  if (tl.error) { host.innerHTML = `<p class="bad">${esc(tl.error)}</p>`; return; }
  const v = tl.view, decl = v.declaration;
  head.innerHTML = `<b class="big">${esc(decl.trade_mode)} · ${esc(t(decl.direction))}</b> <code>${esc(v.id)}</code> ` +
    `<span class="chip st-${esc(v.status)}">${word(STATUS, v.status)}</span> ` +
    (v.customs_status ? `<span class="code">${esc(v.customs_status)}</span> ` : "") +
    (v.reason ? `<span class="reason">${esc(v.reason)}</span>` : "") +
    ` <label class="inline"><input type="checkbox" id="show-status" ${state.showStatus ? "checked" : ""}> ${t("show_status")}</label>`;
  $("show-status").addEventListener("change", (e) => { state.showStatus = e.target.checked; renderTimeline(); });
  const entries = tl.entries;
  const start = entries.length ? Date.parse(entries[0].occurred_at) : 0;
  const table = document.createElement("table");
  table.className = "tl";
  table.innerHTML = `<thead><tr><th>${t("time")}</th><th>+</th><th>${t("agency")}</th><th>${t("what")}</th><th>${t("why")}</th></tr></thead>`;
  const body = document.createElement("tbody");
  for (const e of entries) {
    if (e.type === "declaration.status.changed" && !state.showStatus) continue;
    const at = Date.parse(e.occurred_at);
    const ag = agencyOf(e);
    const { what, why } = describe(e.type, e.payload, state.lang, decl);
    const tr = document.createElement("tr");
    tr.className = `entry ${e.direction} ag-${ag}` + (e.type === "declaration.status.changed" ? " statusmsg" : "");
    tr.dataset.type = e.type;
    tr.innerHTML = `<td class="num">${fmtTime(at)}</td><td class="num">+${fmtDur(at - start)}</td>` +
      `<td><span class="agency ${ag}">${word(AGENCY, ag)}</span><br><small>${e.direction === "sent" ? "→" : "←"} ${e.type}</small></td>` +
      `<td class="what"></td><td class="why"></td>`;
    tr.querySelector(".what").textContent = what;
    if (e.sends && e.sends.count > 1) {  // re-sent under the same id: one entry, its attempts
      const resent = document.createElement("small");
      resent.className = "resent";
      resent.textContent = t("resent", e.sends.count, fmtTime(Date.parse(e.sends.last_sent_at)));
      tr.querySelector(".what").append(document.createElement("br"), resent);
    }
    tr.querySelector(".why").textContent = why;
    body.appendChild(tr);
  }
  table.appendChild(body);
  host.replaceChildren(table, stageTable(entries));
}

function stageTable(entries) {
  // A stage runs from a command the gateway sent to the agency's answer (causation id).
  const answers = new Map();
  const rows = [];
  for (const e of entries) {
    if (e.direction !== "received" || !e.causation_id) continue;
    answers.set(e.causation_id, e);
  }
  for (const e of entries) {
    if (e.direction !== "sent" || e.type === "declaration.status.changed") continue;
    const a = answers.get(e.id);
    const took = a ? Date.parse(a.occurred_at) - Date.parse(e.occurred_at) : null;
    rows.push({ cmd: e, answer: a, took });
  }
  const wrap = document.createElement("div");
  wrap.className = "stages";
  const total = entries.length ? Date.parse(entries[entries.length - 1].occurred_at) - Date.parse(entries[0].occurred_at) : 0;
  wrap.innerHTML = `<h3>${t("stage_times")}</h3>`;
  const tbl = document.createElement("table");
  tbl.className = "tl stage-times";
  tbl.innerHTML = `<thead><tr><th>${t("stage")}</th><th>${t("agency")}</th><th>${t("took")}</th></tr></thead>`;
  const tb = document.createElement("tbody");
  for (const r of rows) {
    const ag = r.cmd.type.split(".")[0];
    const tr = document.createElement("tr");
    tr.innerHTML = `<td>${commandLabel(r.cmd.type, state.lang)}</td><td><span class="agency ${ag}">${word(AGENCY, ag)}</span></td>` +
      `<td class="num">${r.took === null ? "…" : fmtDur(r.took)}</td>`;
    tb.appendChild(tr);
  }
  const tr = document.createElement("tr");
  tr.className = "total";
  tr.innerHTML = `<td>${t("total")}</td><td></td><td class="num">${fmtDur(total)}</td>`;
  tb.appendChild(tr);
  tbl.appendChild(tb);
  wrap.appendChild(tbl);
  return wrap;
}

// --- saga diagram ---------------------------------------------------------------------------------

function tableOf(d) {
  return state.saga.table_of[`${d.direction}/${d.trade_mode}`] || d.direction;
}

function renderSaga() {
  if (!state.saga) return;
  const d = state.selected ? state.decls.get(state.selected) : null;
  const name = $("saga-direction").value;
  const current = d && tableOf(d) === name ? d.state : null;
  window.drawSaga($("saga-diagram"), state.saga, name, current, current ? d.visited : [], state.lang);
  $("saga-current").textContent = d ? t("current_state", `${word(STATE, d.state)} (${d.state})`) : t("no_selection");
}

// --- class view -----------------------------------------------------------------------------------

function bars(obj, table, cls) {
  const total = Object.values(obj).reduce((a, b) => a + b, 0) || 1;
  return Object.entries(obj).map(([k, n]) =>
    `<div class="bar ${cls}-${k}"><span class="label">${word(table, k)}</span>` +
    `<span class="track"><span class="fill" style="width:${(100 * n) / total}%"></span></span><b class="num">${n}</b></div>`).join("");
}

function renderClass() {
  const s = state.stats;
  if (!s) return;
  $("class-since").textContent = t("since", new Date(s.started_at * 1000).toLocaleTimeString());
  const medians = Object.entries(s.median_stage_s || {}).map(([k, v]) =>
    `<tr><td>${word(STATE, k)}</td><td class="num">${v >= 1 ? v.toFixed(2) + " s" : Math.round(v * 1000) + " ms"}</td></tr>`).join("");
  $("class-view").innerHTML =
    `<div class="tile"><h3>${t("declarations")}</h3><p class="hero num">${s.declarations}</p><small>${s.events} ${t("events")}</small></div>` +
    `<div class="tile"><h3>${t("by_status")}</h3>${bars(s.by_status || {}, STATUS, "st")}</div>` +
    `<div class="tile"><h3>${t("channels")}</h3>${bars(s.channels || {}, CHANNEL, "ch")}</div>` +
    `<div class="tile"><h3>${t("refunds_paid")}</h3><p class="hero num">${s.refunds_paid}</p><p class="num">${money(s.refund_total)}</p></div>` +
    `<div class="tile wide"><h3>${t("median_stage")}</h3><table class="tl"><tbody>${medians}</tbody></table></div>` +
    (s.dropped ? `<p class="note">${t("dropped", s.dropped)}</p>` : "");
  scheduleDraw();
}

// --- composer ---------------------------------------------------------------------------------

function renderExamples() {
  const host = $("examples");
  host.replaceChildren(...EXAMPLE_ORDER.filter((k) => k in examples()).map((k) => {
    const b = document.createElement("button");
    b.type = "button"; b.dataset.example = k; b.textContent = t("examples")[k];
    b.addEventListener("click", () => loadExample(k));
    return b;
  }));
}

function renderScenarios() {
  const sel = $("f-scenario");
  const keep = sel.value;
  const scenarios = state.config ? state.config.scenarios : [];
  sel.replaceChildren(new Option(t("scenario_none"), ""), ...scenarios.map((s) => new Option(s, s)));
  sel.value = keep;
}

function loadExample(k) {
  const body = structuredClone(examples()[k]);
  $("f-direction").value = body.direction;
  $("f-trade-mode").value = body.trade_mode;
  if ($("f-scenario").value) body.scenario = $("f-scenario").value;
  $("f-body").value = JSON.stringify(body, null, 2);
  for (const b of $("examples").children) b.setAttribute("aria-pressed", String(b.dataset.example === k));
}

function syncBody() {
  let body;
  try { body = JSON.parse($("f-body").value || "{}"); } catch { return; }
  body.direction = $("f-direction").value;
  body.trade_mode = $("f-trade-mode").value;
  if ($("f-scenario").value) body.scenario = $("f-scenario").value; else delete body.scenario;
  $("f-body").value = JSON.stringify(body, null, 2);
}

async function submit(e) {
  if (e) e.preventDefault();
  let body;
  try { body = JSON.parse($("f-body").value); } catch (err) { toast(`${t("error")}: JSON ${err.message}`, true); return; }
  const pace = $("f-pace").value;
  if (pace) body.pace = pace;
  const result = $("composer-result");
  try {
    const created = await api("POST", "/v1/declarations", body);
    result.dataset.id = created.id;
    toast(t("submitted_ok", created.id));
    const p = pace || $("run-pace").value;
    absorb({ id: created.id, at: Date.parse(created.created_at) / 1000 - 0.001, status: created.status,
      state: "customs_review", previous_state: null, direction: body.direction, trade_mode: body.trade_mode,
      steps: { customs: "pending", inspection: "waiting", forex: "waiting", tax: "waiting" }, figures: {}, trigger: "submitted" });
    state.decls.get(created.id).pace = p;
    select(created.id);
  } catch (err) {
    const errors = err.problem && err.problem.errors;
    toast(`${t("error")} ${err.status || ""}: ${err.message}` + (errors ? " — " + errors.map((x) => `${x.field}: ${x.message}`).join("; ") : ""), true);
  }
}

// --- the composer's drawer and presentation mode ---------------------------------------------

// The board is the page: the composer opens beside it (wide screens) or over it, and stays as
// the trainer left it.
function setComposer(open, { focus = false } = {}) {
  $("composer-drawer").hidden = !open;
  $("composer-toggle").setAttribute("aria-expanded", String(open));
  document.body.classList.toggle("composing", open);
  localStorage.setItem("sw.composer", open ? "open" : "closed");
  if (focus) (open ? $("examples").querySelector("button") || $("f-body") : $("composer-toggle")).focus();
}

// Larger type for the back of a room: a toggle (P), remembered; `?present=1` or `?present=0`
// in the address sets it for a bookmark or a second screen.
function setPresent(on, { remember = true } = {}) {
  document.documentElement.classList.toggle("present", on);
  $("present-toggle").setAttribute("aria-pressed", String(on));
  if (remember) localStorage.setItem("sw.present", on ? "on" : "off");
}

function initialPresent() {
  const asked = new URLSearchParams(location.search).get("present");
  if (asked !== null) return { on: ["1", "true", "on", "yes", ""].includes(asked.toLowerCase()), fromUrl: true };
  return { on: localStorage.getItem("sw.present") === "on", fromUrl: false };
}

// --- tabs and keys ----------------------------------------------------------------------------

function showTab(name) {
  for (const n of ["timeline", "saga", "class"]) {
    const on = n === name;
    $("tab-" + n).setAttribute("aria-selected", String(on));
    $("tab-" + n).tabIndex = on ? 0 : -1;
    $("panel-" + n).hidden = !on;
  }
  if (name === "saga") renderSaga();
}

function onKey(e) {
  const tag = (e.target.tagName || "").toLowerCase();
  if (e.key === "Escape" && !$("composer-drawer").hidden) { setComposer(false, { focus: true }); return; }
  if (["input", "textarea", "select"].includes(tag) || e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key === "n" || e.key === "N") setComposer($("composer-drawer").hidden, { focus: true });
  else if (e.key === "p" || e.key === "P") setPresent(!document.documentElement.classList.contains("present"));
  else if (e.key === "l" || e.key === "L") toggleLang();
  else if (e.key === "s" || e.key === "S") submit();
  else if ((e.key === "a" || e.key === "A") && state.selected) advance(state.selected);
  else if (e.key === "1") showTab("timeline");
  else if (e.key === "2") showTab("saga");
  else if (e.key === "3") showTab("class");
  else return;
  e.preventDefault();
}

// --- start --------------------------------------------------------------------------------------

async function loadRun() {
  try {
    const run = await api("GET", "/v1/dashboard/run");
    $("run-pace").value = run.pace;
    state.stats = run.stats;
    renderClass();
  } catch { /* a wrong key: the live indicator says so */ }
}

function viewItem(view) {
  return { id: view.id, at: Date.parse(view.updated_at) / 1000, direction: view.declaration.direction,
    trade_mode: view.declaration.trade_mode, status: view.status, state: view.state, steps: view.steps,
    figures: view.figures, entry_id: view.entry_id, channel: view.channel, customs_status: view.customs_status,
    reason: view.reason, previous_state: null, trigger: "read" };
}

async function loadRecent() {
  // One read when the page opens, so the board is not empty; from then on only the stream.
  try {
    const list = await api("GET", `/v1/declarations?limit=${MAX_ROWS}`);
    for (const view of list.data.reverse()) if (!state.decls.has(view.id)) absorb(viewItem(view));
  } catch { /* a wrong key: the live indicator says so */ }
}

async function main() {
  const present = initialPresent(); // before the first fetch: no flash of the small type
  setPresent(present.on, { remember: !present.fromUrl });
  state.config = await (await fetch("/v1/dashboard/config")).json();
  state.saga = await (await fetch("/v1/saga")).json();
  $("saga-direction").replaceChildren(...Object.keys(state.saga.tables).map((n) => new Option(n, n)));
  $("f-trade-mode").replaceChildren(...state.config.trade_modes.map((m) => new Option(m, m)));
  state.key = sessionStorage.getItem("sw.key") || state.config.demo_api_key || "";
  $("api-key").value = state.key;
  $("api-key").addEventListener("change", () => {
    state.key = $("api-key").value.trim();
    sessionStorage.setItem("sw.key", state.key);
    state.decls.clear(); state.selected = null; state.timeline = null;
    connect(); loadRun(); loadRecent(); applyLang();
  });
  $("lang-toggle").addEventListener("click", toggleLang);
  $("composer-toggle").addEventListener("click", () => setComposer($("composer-drawer").hidden, { focus: true }));
  $("composer-close").addEventListener("click", () => setComposer(false, { focus: true }));
  $("present-toggle").addEventListener("click", () => setPresent(!document.documentElement.classList.contains("present")));
  setComposer(localStorage.getItem("sw.composer") === "open");
  $("composer").addEventListener("submit", submit);
  for (const id of ["f-direction", "f-trade-mode", "f-scenario"]) $(id).addEventListener("change", syncBody);
  $("run-pace").addEventListener("change", async () => {
    try { await api("PUT", "/v1/dashboard/run", { pace: $("run-pace").value }); } catch (e) { toast(`${t("error")}: ${e.message}`, true); loadRun(); }
  });
  $("reset-run").addEventListener("click", async () => {
    try { state.stats = (await api("PUT", "/v1/dashboard/run", { reset: true })).stats; renderClass(); } catch (e) { toast(e.message, true); }
  });
  $("saga-direction").addEventListener("change", renderSaga);
  for (const n of ["timeline", "saga", "class"]) $("tab-" + n).addEventListener("click", () => showTab(n));
  document.querySelector(".tabs").addEventListener("keydown", (e) => {
    const order = ["timeline", "saga", "class"];
    const i = order.findIndex((n) => $("tab-" + n).getAttribute("aria-selected") === "true");
    if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
      const n = order[(i + (e.key === "ArrowRight" ? 1 : 2)) % 3];
      showTab(n); $("tab-" + n).focus(); e.preventDefault();
    }
  });
  document.addEventListener("keydown", onKey);
  applyLang();
  loadExample("0110");
  loadRun();
  loadRecent();
  connect();
}

main();
