// The Ironbark web console (docs/console.md). Plain JavaScript, no build
// step. The session token lives in this page's memory only: a reload logs
// out, and no other page or script storage can read it.
"use strict";

const OPS = ["create", "retrieve", "update", "delete", "notify", "discover"];
let session = null;   // {token, originator, csi, rn, admin}
let rqi = 0;
let acps = [];        // [{path, ri, key, res}]
let editing = null;   // the ACP the form edits, or null for a new one

const $ = (sel) => document.querySelector(sel);
function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}
function row(tbody, cells) {
  const tr = el("tr");
  for (const c of cells) {
    const td = el("td");
    if (c instanceof Node) td.appendChild(c); else td.textContent = c === undefined ? "" : String(c);
    tr.appendChild(td);
  }
  tbody.appendChild(tr);
  return tr;
}
function status(text, bad) {
  const s = $("#status");
  s.textContent = text;
  s.className = bad ? "error" : "";
}

// One oneM2M primitive through the CSE's own HTTP binding, as the session's originator.
async function m2m(method, path, opts = {}) {
  const headers = {
    "X-M2M-RI": "console-" + (++rqi), "X-M2M-RVI": "3", "Accept": "application/json",
    "X-Ironbark-Session": session.token,
  };
  if (opts.body !== undefined) headers["Content-Type"] = "application/json" + (opts.ty ? ";ty=" + opts.ty : "");
  const url = "/" + path.replace(/^\/+/, "") + (opts.query ? "?" + opts.query : "");
  const r = await fetch(url, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
                               credentials: "omit", cache: "no-store" });
  const rsc = Number(r.headers.get("X-M2M-RSC"));
  let doc = null;
  try { doc = await r.json(); } catch (e) { doc = null; }
  return { rsc, doc, ok: rsc >= 2000 && rsc < 3000 };
}
function explain(r) {
  return "RSC " + r.rsc + (r.doc && r.doc["m2m:dbg"] ? ": " + r.doc["m2m:dbg"] : "");
}
async function consoleApi(path, opts = {}) {
  const headers = { "Accept": "application/json" };
  if (session) headers["X-Ironbark-Session"] = session.token;
  if (opts.body) headers["Content-Type"] = "application/json";
  const r = await fetch("/console/api/" + path, { method: opts.method || "GET", headers,
    body: opts.body ? JSON.stringify(opts.body) : undefined, credentials: "omit", cache: "no-store" });
  return { status: r.status, doc: await r.json().catch(() => ({})) };
}

// ---- login ----
async function login(ev) {
  ev.preventDefault();
  $("#login-error").textContent = "";
  const r = await consoleApi("login", { method: "POST", body: { code: $("#code").value } });
  $("#code").value = "";
  if (r.status !== 200) { $("#login-error").textContent = r.doc.error || "login refused"; return; }
  session = { token: r.doc.token, originator: r.doc.originator };
  const info = await consoleApi("session");
  Object.assign(session, info.doc);
  $("#who").textContent = session.originator + " on " + session.csi + " until " + session.expires;
  $("#login-view").hidden = true;
  $("#main-view").hidden = false;
  $("#logout").hidden = false;
  $("#acp-parent").value = session.rn;
  newAcp();
  show("tree");
}
async function logout() {
  await consoleApi("logout", { method: "POST" });
  session = null;
  location.reload();
}
function ended(r) {
  if (r.rsc === 4106 || r.status === 401) {
    status("the session has ended: log in again", true);
    return true;
  }
  return false;
}

// ---- tabs ----
const loaders = { tree: loadTree, acps: loadAcps, audit: loadAudit, aes: loadAes, creds: loadCreds };
function show(tab) {
  for (const p of document.querySelectorAll(".pane")) p.hidden = p.id !== "tab-" + tab;
  for (const b of document.querySelectorAll(".tab")) b.classList.toggle("active", b.dataset.tab === tab);
  status("");
  loaders[tab]();
}

// Every resource below the CSEBase, as structured paths (discovery, fu=1).
async function discover(query) {
  const r = await m2m("GET", session.rn, { query: "fu=1&drt=1&lim=10000" + (query || "") });
  if (!r.ok) { if (!ended(r)) status("discovery refused: " + explain(r), true); return []; }
  return r.doc["m2m:uril"] || [];
}

// ---- resource tree ----
let paths = [];
async function loadTree() {
  paths = [session.rn].concat(await discover(""));
  paths.sort();
  renderTree();
}
function renderTree() {
  const ul = $("#tree-list");
  const f = $("#tree-filter").value.trim();
  ul.textContent = "";
  for (const p of paths.filter((p) => !f || p.includes(f))) {
    const li = el("li", p, "tree-item");
    li.dataset.path = p;
    // A tree by indentation: one step per level below the CSEBase.
    li.style.paddingLeft = (p.split("/").length - 1) * 1.2 + 0.3 + "em";
    li.addEventListener("click", () => showResource(p, li));
    ul.appendChild(li);
  }
}
async function showResource(path, li) {
  for (const x of document.querySelectorAll("#tree-list li")) x.classList.toggle("selected", x === li);
  const r = await m2m("GET", path);
  const tbody = $("#attrs tbody");
  tbody.textContent = "";
  if (!r.ok) { $("#attrs-title").textContent = path + ": " + explain(r); return; }
  const key = Object.keys(r.doc)[0];
  $("#attrs-title").textContent = path + " (" + key + ")";
  for (const [k, v] of Object.entries(r.doc[key]))
    row(tbody, [k, typeof v === "object" ? el("pre", JSON.stringify(v, null, 2)) : v]);
}

// ---- access control ----
function opsOf(acop) { return OPS.filter((_, i) => acop & (1 << i)); }
function opsText(acop) { return acop === 63 ? "all" : opsOf(acop).join(","); }

async function loadAcps() {
  const list = await discover("&ty=1");
  acps = [];
  for (const path of list) {
    const r = await m2m("GET", path);
    if (r.ok) acps.push({ path, ri: r.doc["m2m:acp"].ri, res: r.doc["m2m:acp"] });
  }
  const tbody = $("#acp-table tbody");
  tbody.textContent = "";
  const select = $("#attach-acp");
  select.textContent = "";
  for (const a of acps) {
    const opt = el("option", a.path);
    opt.value = a.ri;
    select.appendChild(opt);
    const rules = [["privileges", a.res.pv], ["self", a.res.pvs]];
    let first = true;
    for (const [kind, set] of rules)
      for (const rule of (set && set.acr) || []) {
        const edit = el("button", "Edit");
        edit.addEventListener("click", () => editAcp(a));
        const tr = row(tbody, [first ? a.path : "", (rule.acor || []).join(", "), opsText(rule.acop) +
          (rule.acco ? " when " + JSON.stringify(rule.acco) : ""), kind, first ? edit : ""]);
        tr.dataset.acp = a.path;
        first = false;
      }
  }
}
function ruleRow(kind, acor, acop, acco) {
  const tbody = $("#rule-table tbody");
  const tr = el("tr");
  tr.dataset.kind = kind;
  tr.acco = acco;
  tr.appendChild(el("td", kind === "pv" ? "privilege" : "self"));
  const td = el("td");
  const input = el("input");
  input.className = "rule-acor";
  input.size = 30;
  input.value = acor.join(", ");
  td.appendChild(input);
  tr.appendChild(td);
  OPS.forEach((op, i) => {
    const c = el("td");
    const box = el("input");
    box.type = "checkbox";
    box.className = "op-" + op;
    box.checked = !!(acop & (1 << i));
    c.appendChild(box);
    tr.appendChild(c);
  });
  const rm = el("button", "Remove");
  rm.type = "button";
  rm.addEventListener("click", () => tr.remove());
  const c = el("td");
  c.appendChild(rm);
  tr.appendChild(c);
  tbody.appendChild(tr);
}
function newAcp() {
  editing = null;
  $("#acp-form-title").textContent = "New policy";
  $("#acp-save").textContent = "Create policy";
  $("#acp-parent").disabled = $("#acp-name").disabled = false;
  $("#acp-name").value = "";
  $("#rule-table tbody").textContent = "";
  ruleRow("pv", [], 0);
  ruleRow("pvs", [session.originator], 63);
}
function editAcp(a) {
  editing = a;
  $("#acp-form-title").textContent = "Edit " + a.path;
  $("#acp-save").textContent = "Save policy";
  $("#acp-parent").value = a.path.split("/").slice(0, -1).join("/");
  $("#acp-name").value = a.res.rn;
  $("#acp-parent").disabled = $("#acp-name").disabled = true;
  $("#rule-table tbody").textContent = "";
  for (const r of (a.res.pv && a.res.pv.acr) || []) ruleRow("pv", r.acor || [], r.acop, r.acco);
  for (const r of (a.res.pvs && a.res.pvs.acr) || []) ruleRow("pvs", r.acor || [], r.acop, r.acco);
}
function rulesOf(kind) {
  const acr = [];
  for (const tr of document.querySelectorAll("#rule-table tbody tr")) {
    if (tr.dataset.kind !== kind) continue;
    const acor = tr.querySelector(".rule-acor").value.split(",").map((s) => s.trim()).filter(Boolean);
    let acop = 0;
    OPS.forEach((op, i) => { if (tr.querySelector(".op-" + op).checked) acop |= 1 << i; });
    if (!acor.length || !acop) continue;
    const rule = { acor, acop };
    if (tr.acco) rule.acco = tr.acco;
    acr.push(rule);
  }
  return { acr };
}
async function saveAcp(ev) {
  ev.preventDefault();
  const pv = rulesOf("pv"), pvs = rulesOf("pvs");
  let r;
  if (editing) {
    r = await m2m("PUT", editing.path, { body: { "m2m:acp": { pv, pvs } } });
  } else {
    const body = { "m2m:acp": { rn: $("#acp-name").value.trim(), pv, pvs } };
    r = await m2m("POST", $("#acp-parent").value.trim(), { ty: 1, body });
  }
  if (ended(r)) return;
  status(r.ok ? (editing ? "saved " + editing.path : "created " + $("#acp-parent").value.trim() + "/" +
                 $("#acp-name").value.trim()) : "refused: " + explain(r), !r.ok);
  if (r.ok) { await loadAcps(); newAcp(); }
}
// attach/detach: RETRIEVE the resource, change its acpi, UPDATE it (as `m2m acp attach` does).
async function changeAcpi(attach) {
  const target = $("#attach-target").value.trim(), ri = $("#attach-acp").value;
  const got = await m2m("GET", target);
  if (!got.ok) { if (!ended(got)) status("cannot read " + target + ": " + explain(got), true); return; }
  const key = Object.keys(got.doc)[0];
  let acpi = got.doc[key].acpi || [];
  if (attach && !acpi.includes(ri)) acpi = acpi.concat([ri]);
  if (!attach) acpi = acpi.filter((x) => x !== ri);
  const r = await m2m("PUT", target, { body: { [key]: { acpi: acpi.length ? acpi : null } } });
  status(r.ok ? (attach ? "attached to " : "detached from ") + target : "refused: " + explain(r), !r.ok);
}

// ---- audit log ----
async function loadAudit(ev) {
  if (ev) ev.preventDefault();
  const q = new URLSearchParams({ originator: $("#audit-originator").value.trim(),
    target: $("#audit-target").value.trim(), decision: $("#audit-decision").value, limit: "200" });
  const r = await consoleApi("audit?" + q);
  const tbody = $("#audit-table tbody");
  tbody.textContent = "";
  if (r.status !== 200) { if (!ended(r)) status(r.doc.error || "refused", true); return; }
  for (const e of r.doc.entries) {
    const tr = row(tbody, [e.ts, e.decision, e.op, e.originator, e.target, e.decider, e.reason]);
    tr.className = "audit-entry";
    tr.children[1].className = e.decision === "deny" ? "deny" : "";
  }
  status(r.doc.entries.length + " entries");
}

// ---- AEs ----
async function loadAes() {
  const tbody = $("#ae-table tbody");
  tbody.textContent = "";
  for (const path of await discover("&ty=2")) {
    const r = await m2m("GET", path);
    if (!r.ok) continue;
    const ae = r.doc["m2m:ae"];
    row(tbody, [path, ae.aei, ae.api, ae.rr, (ae.poa || []).join(" "), ae.ct]);
  }
}

// ---- devices and credentials ----
async function loadCreds() {
  const r = await consoleApi("credentials");
  if (r.status !== 200) { if (!ended(r)) status(r.doc.error || "refused", true); return; }
  const fill = (sel, list, cells) => {
    const tbody = $(sel + " tbody");
    tbody.textContent = "";
    for (const x of list) row(tbody, cells(x));
  };
  fill("#lease-table", r.doc.enrolled, (x) => [x.identity, x.originators, x.until]);
  fill("#psk-table", r.doc.psk, (x) => [x.identity, x.originators]);
  fill("#ca-table", r.doc.ca, (x) => [x.name]);
}

document.addEventListener("DOMContentLoaded", () => {
  $("#login-form").addEventListener("submit", login);
  $("#logout").addEventListener("click", logout);
  for (const b of document.querySelectorAll(".tab")) b.addEventListener("click", () => show(b.dataset.tab));
  $("#tree-filter").addEventListener("input", renderTree);
  $("#tree-reload").addEventListener("click", loadTree);
  $("#acp-form").addEventListener("submit", saveAcp);
  $("#add-rule").addEventListener("click", () => ruleRow("pv", [], 0));
  $("#add-self-rule").addEventListener("click", () => ruleRow("pvs", [], 0));
  $("#acp-new").addEventListener("click", newAcp);
  $("#attach-form").addEventListener("submit", (ev) => { ev.preventDefault(); changeAcpi(true); });
  $("#detach").addEventListener("click", () => changeAcpi(false));
  $("#audit-form").addEventListener("submit", loadAudit);
});
