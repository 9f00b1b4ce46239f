"""The live alerts page served at ``/``: alerts over time, the latest alerts with their
explanations, and per-model counts, refreshed every second from ``/v1/alerts``.

The page holds no secret: it asks for the bearer token (kept in the tab's sessionStorage) or reads
it from the address fragment (``/#token=...``), which browsers never send to the server.
"""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>deepsentry alerts</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5em;color:#1d2330;background:#f7f8fa}
h1{font-size:1.3em;margin:0 0 .6em} .muted{color:#667}
#counts span{display:inline-block;background:#fff;border:1px solid #dde;padding:4px 10px;margin:0 6px 6px 0;border-radius:4px}
canvas{background:#fff;border:1px solid #dde;width:100%;max-width:900px;height:160px}
table{border-collapse:collapse;width:100%;max-width:1200px;background:#fff;font-size:.9em}
th,td{border:1px solid #dde;padding:4px 6px;text-align:left;vertical-align:top} th{background:#eef}
.why{color:#445;font-size:.85em}
</style></head><body>
<h1>deepsentry &middot; live alerts</h1>
<p class="muted" id="status">connecting&hellip;</p>
<div id="counts"></div>
<canvas id="timeline" width="900" height="160" aria-label="alerts per second"></canvas>
<h2>Latest alerts</h2>
<table><thead><tr><th>time</th><th>model</th><th>rule</th><th>risk</th><th>source</th><th>destination</th><th>why (top fields)</th></tr></thead>
<tbody id="alerts"></tbody></table>
<script>
"use strict";
const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
if (fromHash) { sessionStorage.setItem("deepsentry-token", fromHash); history.replaceState(null, "", location.pathname); }
let token = sessionStorage.getItem("deepsentry-token");
let lastId = -1; const rows = []; const perSecond = new Map();
function esc(v){ return String(v ?? "").replace(/[&<>"']/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c])); }
function endpoint(e){ return e ? esc((e.ip ?? "") + (e.port !== undefined ? ":" + e.port : "")) : ""; }
function draw(){
  const c = document.getElementById("timeline"), g = c.getContext("2d"), now = Math.floor(Date.now()/1000);
  g.clearRect(0,0,c.width,c.height); const secs = 120; let max = 1;
  for (let i = 0; i < secs; i++) max = Math.max(max, perSecond.get(now - i) || 0);
  g.fillStyle = "#c0392b";
  for (let i = 0; i < secs; i++) { const n = perSecond.get(now - i) || 0, h = (c.height - 20) * n / max;
    g.fillRect(c.width - (i + 1) * c.width / secs, c.height - h, c.width / secs - 1, h); }
  g.fillStyle = "#667"; g.fillText("alerts per second, last 2 minutes (max " + max + ")", 6, 12);
}
function render(counts){
  document.getElementById("counts").innerHTML = Object.entries(counts).map(([m,n]) => "<span>" + esc(m) + ": <b>" + n + "</b></span>").join("");
  document.getElementById("alerts").innerHTML = rows.slice(-100).reverse().map(a => "<tr data-alert-id='" + esc(a.id) + "'><td>" + esc(a["@timestamp"]) + "</td><td>" + esc(a.deepsentry.model) +
    "</td><td>" + esc(a.rule.name) + "</td><td>" + esc(a.event.risk_score) + "</td><td>" + endpoint(a.source) + "</td><td>" + endpoint(a.destination) +
    "</td><td class='why'>" + (a.deepsentry.explanation || []).map(e => esc(e.field) + "=" + esc(e.value) + " (" + esc(e.attribution) + ")").join(", ") + "</td></tr>").join("");
  draw();
}
async function poll(){
  if (!token) { token = prompt("deepsentry bearer token"); if (token) sessionStorage.setItem("deepsentry-token", token); }
  try {
    const r = await fetch("/v1/alerts?tail=true&since=" + lastId, {headers: {"Authorization": "Bearer " + token}});
    if (r.status === 401) { document.getElementById("status").textContent = "token refused"; sessionStorage.removeItem("deepsentry-token"); token = null; return; }
    const body = await r.json();
    for (const a of body.alerts) { rows.push(a); const s = Math.floor(Date.parse(a["@timestamp"])/1000); perSecond.set(s, (perSecond.get(s) || 0) + 1); }
    if (rows.length > 1000) rows.splice(0, rows.length - 1000);
    lastId = Math.max(lastId, body.last_id);
    document.getElementById("status").textContent = "live: " + rows.length + " alerts shown, updated " + new Date().toLocaleTimeString();
    render(body.counts);
  } catch (e) { document.getElementById("status").textContent = "disconnected, retrying"; }
}
poll(); setInterval(poll, 1000); setInterval(draw, 1000);
</script></body></html>
"""
