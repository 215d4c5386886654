// The cep console: plain JS against the REST API (no build step).
"use strict";
const $ = (s) => document.querySelector(s);
let KEY = localStorage.getItem("cep-key") || "";
let feed = null;
let selected = null;

async function api(method, path, body, type) {
  const headers = { authorization: "Bearer " + KEY };
  let data = body;
  if (body !== undefined && type !== "text/plain") { data = JSON.stringify(body); type = "application/json"; }
  if (type) headers["content-type"] = type;
  const r = await fetch(path, { method, headers, body: data });
  const text = await r.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (e) { json = { raw: text }; }
  return { ok: r.ok, status: r.status, json };
}

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k.startsWith("on")) e[k] = v; else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(k == null ? "" : String(k)));
  return e;
}

function esc(s) { return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;"); }

// ------------------------------------------------------------------ statements
async function loadStatements() {
  const r = await api("GET", "/v1/rules");
  if (!r.ok) return;
  const tb = $("#statements tbody");
  tb.replaceChildren();
  for (const s of r.json.data) {
    const stats = s.kind === "stream" ? null : await api("GET", `/v1/rules/${encodeURIComponent(s.name)}/stats`);
    const toggle = s.kind === "stream" ? "" : el("button", { onclick: async (ev) => {
      ev.stopPropagation();
      await api("PATCH", `/v1/rules/${encodeURIComponent(s.name)}`, { enabled: !s.enabled });
      loadStatements();
    } }, s.enabled ? "Pause" : "Resume");
    const row = el("tr", { "data-name": s.name, title: s.error || "", onclick: () => select(s) },
      el("td", {}, s.name), el("td", {}, s.kind),
      el("td", { class: "status-" + s.status }, s.status), el("td", {}, s.version),
      el("td", { class: "matches" }, stats && stats.ok ? stats.json.matches_stored : ""), el("td", {}, toggle));
    if (selected === s.name) row.classList.add("selected");
    tb.append(row);
  }
}

function select(s) {
  selected = s.name;
  $("#source").value = s.text;
  validateSoon();
  drawGraph(s.name);
  document.querySelectorAll("#statements tr").forEach((tr) => tr.classList.toggle("selected", tr.dataset.name === s.name));
}

// ------------------------------------------------------------------ editor
let timer = null;
function validateSoon() { clearTimeout(timer); timer = setTimeout(validate, 250); syncHighlight([]); }

function syncHighlight(errors) {
  const text = $("#source").value;
  const lines = text.split("\n");
  const marks = {};
  for (const e of errors) { if (e.line >= 1) (marks[e.line - 1] = marks[e.line - 1] || []).push(Math.max(0, e.column - 1)); }
  const out = lines.map((line, i) => {
    if (!marks[i]) return esc(line);
    const c = Math.min(...marks[i]);
    let end = line.slice(c).search(/[\s,;()]/);
    end = end <= 0 ? Math.max(c + 1, line.length) : c + end;
    const word = line.slice(c, end) || " ";
    return esc(line.slice(0, c)) + `<mark class="err">${esc(word)}</mark>` + esc(line.slice(end));
  });
  $("#highlight").innerHTML = out.join("\n") + "\n";
}

async function validate() {
  const text = $("#source").value;
  if (!text.trim()) { $("#errors").replaceChildren(); $("#valid").textContent = ""; $("#register").disabled = true; return; }
  const r = await api("POST", "/v1/rules:validate", text, "text/plain");
  if (!r.ok) { $("#valid").textContent = (r.json && r.json.error && r.json.error.message) || r.status; return; }
  const errs = r.json.errors || [];
  syncHighlight(errs);
  $("#errors").replaceChildren(...errs.map((e) => el("li", {}, `${e.line}:${e.column} ${e.message}`)));
  $("#valid").textContent = r.json.valid ? `✓ ${r.json.kind} ${r.json.name}` : `${errs.length} error(s)`;
  $("#register").disabled = !r.json.valid;
}

async function register() {
  const r = await api("POST", "/v1/rules", $("#source").value, "text/plain");
  $("#register-result").textContent = r.ok ? `${r.json.change} ${r.json.name} v${r.json.version}` : (r.json.error.message);
  if (r.ok) { selected = r.json.name; loadStatements(); drawGraph(r.json.name); }
}

// ------------------------------------------------------------------ NFA graph
async function drawGraph(name) {
  const svg = $("#graph");
  svg.replaceChildren();
  $("#graph-name").textContent = name;
  const r = await api("GET", `/v1/rules/${encodeURIComponent(name)}/graph`);
  if (!r.ok) return;
  const ids = r.json.nodes.map((n) => n.id);
  const x = (id) => 40 + ids.indexOf(id) * 110;
  const ns = "http://www.w3.org/2000/svg";
  const mk = (tag, attrs, text) => { const e = document.createElementNS(ns, tag); for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v); if (text) e.textContent = text; svg.append(e); return e; };
  mk("defs", {}).innerHTML = '<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0L10,5L0,10z" fill="#555"/></marker>';
  r.json.edges.forEach((e, i) => {
    const x1 = x(e.from), x2 = x(e.to), y = 90;
    const bend = x2 > x1 ? -30 - 12 * e.order : 55 + 10 * i % 30;
    const mx = (x1 + x2) / 2;
    const d = x1 === x2 ? `M${x1 - 8},${y - 16} C${x1 - 40},${y - 70} ${x1 + 40},${y - 70} ${x1 + 8},${y - 16}`
      : `M${x1 + 16},${y} Q${mx},${y + bend} ${x2 - 18},${y}`;
    mk("path", { d, fill: "none", stroke: e.var ? "#555" : "#aaa", "stroke-dasharray": e.var ? "" : "4 3", "marker-end": "url(#arrow)" });
    mk("text", { x: mx, y: x1 === x2 ? y - 60 : y + bend / 2 - 2, "text-anchor": "middle" }, e.var ? `${e.var}${e.mode && e.mode !== "strict" ? " (" + e.mode + ")" : ""}` : "ε");
  });
  for (const n of r.json.nodes) {
    const final = n.kind === "match";
    mk("circle", { cx: x(n.id), cy: 90, r: 16, fill: final ? "#e6f4ea" : "#fff", stroke: "#1d2330", "stroke-width": final ? 3 : 1.5 });
    mk("text", { x: x(n.id), y: 94, "text-anchor": "middle" }, n.id === "start" ? "start" : n.id);
  }
  svg.setAttribute("viewBox", `0 0 ${Math.max(400, 60 + ids.length * 110)} 180`);
  const vars = r.json.variables.map((v) => `${v.name}: ${v.condition}`).join("   ");
  mk("text", { x: 10, y: 170 }, vars);
}

// ------------------------------------------------------------------ live matches
function startFeed() {
  if (feed) feed.close();
  feed = new EventSource(`/v1/matches/stream?access_token=${encodeURIComponent(KEY)}`);
  feed.onopen = () => { $("#feed-state").textContent = "● live"; };
  feed.onerror = () => { $("#feed-state").textContent = "reconnecting…"; };
  feed.addEventListener("match", (ev) => {
    const m = JSON.parse(ev.data);
    const tb = $("#matches tbody");
    tb.prepend(el("tr", { class: "match" }, el("td", {}, new Date().toLocaleTimeString()), el("td", {}, m.statement),
      el("td", {}, JSON.stringify(m.key)), el("td", {}, el("code", {}, JSON.stringify(m.fields))), el("td", {}, el("code", {}, m.id.slice(0, 12)))));
    while (tb.children.length > 100) tb.lastChild.remove();
  });
}

// ------------------------------------------------------------------ lag and deliveries
async function loadLag() {
  const r = await api("GET", "/v1/streams");
  if (!r.ok) return;
  const rows = [];
  for (const s of r.json.data) {
    const d = await api("GET", `/v1/streams/${encodeURIComponent(s.name)}`);
    if (!d.ok) continue;
    for (const p of d.json.lag) {
      for (const x of p.streams) {
        rows.push(el("tr", {}, el("td", {}, s.name), el("td", {}, p.partition), el("td", {}, x.committed_offset ?? "–"),
          el("td", {}, x.end_offset), el("td", {}, x.lag_entries ?? "unknown"), el("td", { class: "status-" + p.status }, p.status)));
      }
    }
  }
  $("#lag tbody").replaceChildren(...rows);
}

async function loadDeliveries() {
  const r = await api("GET", "/v1/deliveries?limit=50");
  if (!r.ok) return;
  $("#deliveries tbody").replaceChildren(...r.json.data.map((d) => el("tr", {},
    el("td", {}, d.statement), el("td", { class: "status-" + d.status }, d.status), el("td", {}, d.attempts),
    el("td", { title: d.last_error || "" }, d.last_status || (d.last_error || "").slice(0, 40)),
    el("td", {}, el("code", {}, d.match_id.slice(0, 12))),
    el("td", {}, el("button", { onclick: async () => { await api("POST", `/v1/deliveries/${d.id}:retry`); loadDeliveries(); } }, "Redeliver")))));
}

// ------------------------------------------------------------------ wiring
async function connect() {
  KEY = $("#key").value.trim();
  localStorage.setItem("cep-key", KEY);
  const r = await api("GET", "/v1/whoami");
  $("#who").textContent = r.ok ? `tenant ${r.json.tenant} (${r.json.role})` : "key not accepted";
  if (!r.ok) return;
  loadStatements(); startFeed(); loadLag(); loadDeliveries();
}

$("#key").value = KEY;
$("#connect").onclick = connect;
$("#source").addEventListener("input", validateSoon);
$("#source").addEventListener("scroll", () => { $("#highlight").scrollTop = $("#source").scrollTop; });
$("#register").onclick = register;
setInterval(() => { if (KEY) { loadStatements(); loadLag(); loadDeliveries(); } }, 3000);
if (KEY) connect();
