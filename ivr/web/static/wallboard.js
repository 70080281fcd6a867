// The wallboard's script (served as a file: the page's CSP allows no inline script).
"use strict";
(function () {
const SNAPSHOT_URL = "/api/wallboard/snapshot";
const STREAM_URL = "/api/wallboard/stream";
const SVG_NS = "http://www.w3.org/2000/svg";
const token = takeToken();

// The token comes in the URL fragment (#token=...), which the browser never
// sends; it is kept for this tab only and removed from the address bar.
function takeToken() {
  const fromFragment = new URLSearchParams(window.location.hash.slice(1)).get("token");
  if (fromFragment) {
    sessionStorage.setItem("ivr-wallboard-token", fromFragment);
    history.replaceState(null, "", window.location.pathname);
  }
  return sessionStorage.getItem("ivr-wallboard-token");
}

const STATE_LABELS = {
  available: "Available", ringing: "Ringing", on_call: "On call",
  wrap_up: "Wrap-up", paused: "Paused", logged_out: "Logged out",
};
// [kpi key, label, format, where the value is in a queue entry]
const QUEUE_NOW = [
  ["waiting", "Waiting now", "int", (q) => [q.waiting, q.kpis.waiting.status]],
  ["longest_wait", "Longest wait", "duration", (q) => [q.waiting ? q.longest_wait : null, q.kpis.longest_wait.status], "counting"],
];
const QUEUE_AGENTS = ["available", "on_call", "wrap_up", "paused"];
const QUEUE_TODAY = [
  ["offered", "Offered", "int"], ["answered", "Answered", "int"], ["abandoned", "Abandoned", "int"],
];
const QUEUE_KPIS = [
  ["service_level", "Service level", "pct"], ["answer_rate", "Answer rate", "pct"],
  ["abandon_rate", "Abandon rate", "pct"], ["asa", "ASA", "duration"], ["aht", "AHT", "duration"],
];
const CUT_FIELDS = [
  ["offered", "Offered", "int"], ["answered", "Answered", "int"], ["abandoned", "Abandoned", "int"],
  ["service_level", "Service level", "pct"], ["asa", "ASA", "duration"],
];

let last = null;          // newest payload or update
let timeFormat = null;

function fmt(value, kind) {
  if (value === null || value === undefined) return "–";
  if (kind === "pct") return (value * 100).toFixed(1) + "%";
  if (kind === "duration") {
    const s = Math.max(0, Math.floor(value));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const mm = h ? String(m).padStart(2, "0") : String(m);
    return (h ? h + ":" : "") + mm + ":" + String(r).padStart(2, "0");
  }
  return String(Math.round(value));
}

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

// A tile: label, value element carrying data-kpi/data-value/data-status, optional target.
function tile(container, kpi, label, big) {
  let value = container.querySelector(`[data-kpi="${kpi}"]`);
  if (value) return value;
  const box = el("div", { class: big ? "tile big" : "tile", "data-status": "none" });
  box.append(el("span", { class: "label" }, label));
  value = el("span", { class: "value", "data-kpi": kpi, "data-status": "none" }, "–");
  box.append(value, el("span", { class: "target" }, ""));
  container.append(box);
  return value;
}

function setTile(value, raw, kind, status, target) {
  value.textContent = fmt(raw, kind);
  value.dataset.value = raw === null || raw === undefined ? "" : String(raw);
  value.dataset.format = kind;
  const s = status || "none";
  value.dataset.status = s;
  value.parentElement.dataset.status = s;
  const t = value.parentElement.querySelector(".target");
  t.textContent = target === null || target === undefined ? "" : "target " + fmt(target, kind);
}

// Keyed children: reuse the element with data-<attr>=key, create missing, drop stale,
// in payload order; an element already in its place is not moved.
function keyed(container, attr, keys, create) {
  const have = new Map();
  for (const child of Array.from(container.children)) have.set(child.getAttribute(attr), child);
  const out = [];
  const children = container.children;
  keys.forEach((key, i) => {
    let node = have.get(key);
    if (!node) { node = create(key); node.setAttribute(attr, key); }
    have.delete(key);
    if (children[i] !== node) container.insertBefore(node, children[i] || null);
    out.push(node);
  });
  for (const stale of have.values()) { stale.remove(); if (rowsSeen) rowsSeen.unobserve(stale); }
  return out;
}

function renderTotals(t) {
  const row = document.querySelector("#totals .row");
  setTile(tile(row, "waiting", "Waiting now", true), t.waiting, "int", t.waiting ? "amber" : "green");
  for (const [k, label, kind] of [...QUEUE_TODAY, ...QUEUE_KPIS]) {
    setTile(tile(row, k, label), t[k], kind, "none");
  }
}

function renderQueues(queues, arrived) {
  const nodes = keyed(document.getElementById("queues"), "data-queue", queues.map((q) => q.queue),
    () => {
      const s = el("section", { class: "panel queue" });
      s.append(el("h2"), el("div", { class: "row now" }), el("div", { class: "row agents" }),
        el("div", { class: "row today" }), el("div", { class: "row kpis" }));
      return s;
    });
  queues.forEach((q, i) => {
    const s = nodes[i];
    const h = s.querySelector("h2");
    h.textContent = q.name;
    h.append(el("small", {}, q.queue));
    const now = s.querySelector(".now");
    for (const [k, label, kind, pick, counting] of QUEUE_NOW) {
      const [raw, status] = pick(q);
      const v = tile(now, k, label, true);
      setTile(v, raw, kind, status, k === "longest_wait" ? q.service_level_seconds : null);
      if (counting) { v.dataset.counting = raw === null ? "" : "1"; v.dataset.received = String(arrived); }
    }
    const agents = s.querySelector(".agents");
    for (const k of QUEUE_AGENTS) {
      setTile(tile(agents, k, STATE_LABELS[k]), q.agents[k], "int", "none");
    }
    const today = s.querySelector(".today");
    for (const [k, label, kind] of QUEUE_TODAY) setTile(tile(today, k, label), q.today[k], kind, "none");
    const kpis = s.querySelector(".kpis");
    for (const [k, label, kind] of QUEUE_KPIS) {
      const entry = q.kpis[k];
      setTile(tile(kpis, k, label), entry.value, kind, entry.status, entry.target);
    }
  });
}

function renderCut(containerId, attr, field, items) {
  const nodes = keyed(document.getElementById(containerId), attr, items.map((x) => x[field]), () => {
    const d = el("div", { class: "cut" });
    d.append(el("h2"), el("div", { class: "row" }));
    return d;
  });
  items.forEach((item, i) => {
    const d = nodes[i];
    const h = d.querySelector("h2");
    h.textContent = item.name || item[field];
    if (item.number) h.append(el("small", {}, item.number));
    const row = d.querySelector(".row");
    for (const [k, label, kind] of CUT_FIELDS) setTile(tile(row, k, label), item[k], kind, "none");
  });
}

const agentRows = new Map();  // seat id -> <tr>
// Rows on screen: the clock only redraws those (1,800 seats would cost a layout a second);
// a row coming into view is brought up to date then.
const onScreen = new Set();
const rowsSeen = typeof IntersectionObserver === "function" ? new IntersectionObserver((entries) => {
  const now = performance.now();
  for (const entry of entries) {
    if (entry.isIntersecting) { onScreen.add(entry.target); countUp(entry.target, now); }
    else onScreen.delete(entry.target);
  }
}) : null;

function agentRow(key) {
  const tr = el("tr");
  for (const f of ["agent", "name", "state", "time_in_state", "reason"]) tr.append(el("td", { "data-field": f }));
  agentRows.set(key, tr);
  if (rowsSeen) rowsSeen.observe(tr); else onScreen.add(tr);
  return tr;
}

function countUp(tr, now) {
  const text = fmt(Number(tr.dataset.base) + (now - Number(tr.dataset.received)) / 1000, "duration");
  const cell = tr.children[3];
  if (cell.textContent !== text) cell.textContent = text;
}

function setAgent(tr, a, arrived) {
  tr.dataset.state = a.state;
  tr.dataset.base = String(a.time_in_state);
  tr.dataset.received = String(arrived);
  const cells = tr.children;
  cells[0].textContent = a.agent;
  cells[1].textContent = a.name;
  cells[2].textContent = STATE_LABELS[a.state] || a.state;
  cells[3].textContent = fmt(a.time_in_state, "duration");
  cells[4].textContent = a.reason || "";
}

// Every seat, in order (a whole payload, or a seat appeared).
function renderAgents(agents, arrived) {
  const tbody = document.getElementById("agents");
  const rows = keyed(tbody, "data-agent", agents.map((a) => a.agent), agentRow);
  agentRows.clear();
  agents.forEach((a, i) => { agentRows.set(a.agent, rows[i]); setAgent(rows[i], a, arrived); });
}

// Some seats changed: only their rows are touched.
function patchAgents(agents, arrived) {
  for (const a of agents) {
    let tr = agentRows.get(a.agent);
    if (!tr) {  // not expected (a new seat comes with the whole list): keep the order anyway
      tr = agentRow(a.agent);
      tr.setAttribute("data-agent", a.agent);
      const after = Array.from(agentRows.keys()).filter((k) => k > a.agent).sort()[0];
      document.getElementById("agents").insertBefore(tr, after ? agentRows.get(after) : null);
    }
    setAgent(tr, a, arrived);
  }
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

let chartKey = "";  // slots and scale of the drawn chart
let chartBars = [];  // per interval: [offered rect, answered rect]

function renderChart(intervals) {
  const chart = document.getElementById("interval-chart");
  const W = 960, H = 260, left = 36, bottom = 22, top = 8;
  const slots = Math.max(intervals.length, 1);
  const max = Math.max(1, ...intervals.map((x) => Math.max(x.offered, x.answered)));
  const step = (W - left) / slots, bar = Math.max(1, step / 2 - 1);
  const y = (v) => H - bottom - (v / max) * (H - bottom - top);
  const series = [["offered", "var(--offered)", 0], ["answered", "var(--answered)", bar]];
  const key = intervals.length + ":" + max + ":" + (intervals.length ? intervals[0].start : "");
  if (key === chartKey) {  // same bars: move the ones whose value changed
    intervals.forEach((x, i) => {
      series.forEach(([name], j) => {
        const r = chartBars[i][j];
        if (r.getAttribute("data-value") === String(x[name])) return;
        r.setAttribute("y", y(x[name]));
        r.setAttribute("height", H - bottom - y(x[name]));
        r.setAttribute("data-value", x[name]);
        r.firstChild.textContent = `${x.label} ${name} ${x[name]}`;
      });
    });
    return;
  }
  chartKey = key;
  chartBars = [];
  while (chart.firstChild) chart.removeChild(chart.firstChild);
  for (const frac of [0, 0.5, 1]) {
    const v = Math.round(max * frac);
    chart.append(svg("line", { x1: left, x2: W, y1: y(v), y2: y(v), stroke: "#30363d" }));
    chart.append(svg("text", { x: left - 4, y: y(v) + 4, "text-anchor": "end" }, String(v)));
  }
  intervals.forEach((x, i) => {
    const x0 = left + i * step;
    const bars = [];
    for (const [name, colour, dx] of series) {
      const r = svg("rect", { x: x0 + dx, y: y(x[name]), width: bar, height: H - bottom - y(x[name]),
        fill: colour, "data-series": name, "data-interval": x.start, "data-value": x[name] });
      r.append(svg("title", {}, `${x.label} ${name} ${x[name]}`));
      chart.append(r);
      bars.push(r);
    }
    chartBars.push(bars);
    if (x.label.endsWith(":00") && (slots <= 48 || Number(x.label.slice(0, 2)) % 2 === 0)) {
      chart.append(svg("text", { x: x0, y: H - 6 }, x.label));
    }
  });
}

// A whole payload or an update: draw the sections it carries.
function render(payload) {
  const arrived = performance.now();
  last = payload;
  if (payload.center) {
    if (!timeFormat) {
      try {
        timeFormat = new Intl.DateTimeFormat(undefined, { timeZone: payload.center.timezone,
          hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
      } catch (e) {
        timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
      }
    }
    document.getElementById("center-name").textContent = payload.center.name || "Wallboard";
  }
  if (timeFormat) document.getElementById("updated-at").textContent = timeFormat.format(new Date(payload.at * 1000));
  if (payload.totals) renderTotals(payload.totals);
  if (payload.queues) renderQueues(payload.queues, arrived);
  if (payload.lines) renderCut("lines", "data-line", "line", payload.lines);
  if (payload.tiers) renderCut("tiers", "data-tier", "tier", payload.tiers);
  if (payload.agents) renderAgents(payload.agents, arrived);
  if (payload.agents_changed) patchAgents(payload.agents_changed, arrived);
  if (payload.intervals) renderChart(payload.intervals);
  document.body.dataset.updates = String(Number(document.body.dataset.updates) + 1);
}

// Between updates, times in state and longest waits count up on the client's own clock,
// each from when its value arrived.
function tick() {
  if (!last) return;
  const now = performance.now();
  for (const tr of onScreen) {
    if (tr.isConnected) countUp(tr, now); else onScreen.delete(tr);
  }
  for (const v of document.querySelectorAll('[data-kpi="longest_wait"][data-counting="1"]')) {
    v.textContent = fmt(Number(v.dataset.value) + (now - Number(v.dataset.received)) / 1000, "duration");
  }
}

function setStatus(state, text) {
  const s = document.getElementById("stream-status");
  s.dataset.state = state;
  s.textContent = text || state;
}

function authHeaders() {
  return token ? { Authorization: "Bearer " + token } : {};
}

function showError(e) {
  document.getElementById("error").textContent = String((e && e.message) || e);
}

function askForToken(message) {
  sessionStorage.removeItem("ivr-wallboard-token");
  const form = document.getElementById("login");
  form.hidden = false;
  document.getElementById("login-message").textContent = message;
}

class Refused extends Error {}

async function loadSnapshot() {
  const response = await fetch(SNAPSHOT_URL, { headers: authHeaders(), cache: "no-store" });
  if (response.status === 401 || response.status === 403) throw new Refused("the token was refused");
  if (!response.ok) throw new Error("snapshot: HTTP " + response.status);
  render(await response.json());
}

// One SSE message (the lines before a blank line): its data, and a new retry delay.
function readMessage(block, retry) {
  const data = [];
  for (const line of block.split(/\r?\n/)) {
    if (line === "" || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") data.push(value);
    else if (field === "retry" && /^[0-9]+$/.test(value)) retry = Number(value);
  }
  if (data.length) {
    try { render(JSON.parse(data.join("\n"))); } catch (e) { showError(e); }
  }
  return retry;
}

// Server-Sent Events over fetch (EventSource cannot send an Authorization
// header); reconnects after the server's retry: delay, as EventSource would.
async function listen() {
  let retry = 3000;
  for (;;) {
    try {
      const response = await fetch(STREAM_URL, { headers: authHeaders(), cache: "no-store" });
      if (response.status === 401 || response.status === 403) throw new Refused("the token was refused");
      if (!response.ok || !response.body) throw new Error("stream: HTTP " + response.status);
      setStatus("live");
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, "");
          retry = readMessage(block, retry);
        }
      }
    } catch (e) {
      if (e instanceof Refused) { setStatus("error"); askForToken(e.message); return; }
      showError(e);
    }
    setStatus("reconnecting");
    await new Promise((resolve) => setTimeout(resolve, retry));
  }
}

document.getElementById("login").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem("ivr-wallboard-token", document.getElementById("token-input").value.trim());
  window.location.reload();
});

// The floor panel (ivr.scheduling): required vs scheduled vs logged-in agents
// per group now, in-seat rate and adherence today, read every 30 s.
const FLOOR_URL = "/api/schedule/floor";
const ADHERENCE_URL = "/api/schedule/adherence?group_by=group";
const CHART_URL = "/api/schedule/chart";

function renderFloor(floor, adherence) {
  const tbody = document.getElementById("floor");
  const today = new Map((adherence.rows || []).map((r) => [r.group, r]));
  const out = new Map();
  for (const a of floor.out_of_adherence || []) out.set(a.group, (out.get(a.group) || 0) + 1);
  tbody.textContent = "";
  for (const g of floor.groups) {
    const t = today.get(g.group) || {};
    const next = g.intervals.slice(0, 16).filter((_, i) => i % 4 === 0)
      .map((i) => i.required + "/" + i.scheduled).join("  ");
    if (g.required === null && !g.scheduled && !g.logged_in) continue;
    const tr = el("tr", { "data-group": g.group });
    const short = g.required !== null && g.logged_in < g.required;
    for (const [text, cls] of [
      [g.group, ""], [g.required === null ? "–" : String(g.required), ""], [String(g.scheduled), ""],
      [String(g.logged_in), short ? "bad" : ""], [String(g.on_the_phones), ""],
      [fmt(t.in_seat_rate, "pct"), ""], [fmt(t.adherence, "pct"), ""],
      [String(out.get(g.group) || 0), out.get(g.group) ? "bad" : ""], [next, "series"],
    ]) {
      const td = el("td", cls ? { class: cls } : {}, text);
      tr.appendChild(td);
    }
    tbody.appendChild(tr);
  }
  document.getElementById("floor-note").textContent = floor.published
    ? "" : "No published schedule covers today (ivr schedule build, then publish).";
  document.body.dataset.floorUpdates = String(Number(document.body.dataset.floorUpdates || 0) + 1);
}

async function loadFloor() {
  try {
    const [f, a] = await Promise.all([FLOOR_URL, ADHERENCE_URL].map((url) =>
      fetch(url, { headers: authHeaders(), cache: "no-store" }).then((r) => {
        if (!r.ok) throw new Error(url + ": HTTP " + r.status);
        return r.json();
      })));
    renderFloor(f, a);
    // The picture of the day (SVG from the service) as a data: image: the page's
    // CSP allows images from data:, and an image runs no script.
    const chart = await fetch(CHART_URL, { headers: authHeaders(), cache: "no-store" });
    if (!chart.ok) throw new Error(CHART_URL + ": HTTP " + chart.status);
    document.getElementById("floor-chart").src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(await chart.text());
  } catch (e) {
    showError(e);
  }
}

window.wallboard = { render, renderFloor, get last() { return last; } };
setInterval(tick, 1000);
if (!token) {
  askForToken("Enter a viewer token (or open /wallboard#token=...)");
} else {
  loadFloor();
  setInterval(loadFloor, 30000);
  loadSnapshot()
    .then(listen, (e) => {
      if (e instanceof Refused) { setStatus("error"); askForToken(e.message); } else { showError(e); listen(); }
    });
}
})();
