"""The audit's self-contained HTML report: one file, no network, opens offline.

Tables (summary, parties, rounds, claims, content, violations) are rendered here, escaped;
the four charts (points flow per party per round as stacked bars, holdings over blocks,
reports and removals on a timeline, gas per round) are drawn as inline SVG by the page's own
inline script from the JSON embedded in it. The page's Content-Security-Policy forbids every
fetch. Once every chart is drawn without an exception the script sets
``#render-status[data-status="ok"]``; an exception sets it to ``error`` with the message, so a
headless browser can tell that the page really rendered.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

REPORT_FILE = "audit.html"
JSON_FILE = "audit.json"
#: Nothing may be fetched: only the page's own inline script and style run.
_CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"
#: Points per party drawn in the holdings chart at most (the series is thinned evenly).
MAX_SERIES_POINTS = 1500
#: Rows of the content table at most (the rest are counted in the summary).
MAX_CONTENT_ROWS = 500

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2330;
background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:18px 28px}
header h1{margin:0 0 4px;font-size:22px}
header .sub{opacity:.8;font-size:13px;word-break:break-all}
main{padding:18px 28px;max-width:1400px}
section{background:#fff;border:1px solid #dde1e7;border-radius:8px;margin:0 0 18px;
padding:14px 18px}
h2{font-size:17px;margin:0 0 10px}
.verdict{font-size:18px;font-weight:600;padding:10px 14px;border-radius:6px;margin-bottom:12px}
.verdict.clean{background:#e3f5e8;color:#17612d}
.verdict.bad{background:#fde7e7;color:#8a1c1c}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{border:1px solid #dde1e7;border-radius:6px;padding:8px 12px;min-width:120px}
.card b{display:block;font-size:18px}
table{border-collapse:collapse;width:100%;font-size:12.5px}
th,td{border-bottom:1px solid #eceef2;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f0f2f5;position:sticky;top:0}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:11.5px;word-break:break-all}
.removed{color:#8a1c1c;font-weight:600}
.legend span{display:inline-block;margin-right:14px}
.legend i{display:inline-block;width:11px;height:11px;margin-right:4px;vertical-align:-1px}
figure{margin:0}
figcaption{color:#5a6272;font-size:12.5px;margin-top:4px}
svg text{font:11px system-ui,sans-serif;fill:#3a4150}
#render-status{font-size:12px;color:#5a6272}
.scroll{max-height:420px;overflow:auto}
"""

_JS = r"""
(function () {
var status = document.getElementById('render-status');
function fail(msg) {
  status.setAttribute('data-status', 'error');
  status.textContent = 'script error: ' + msg;
}
window.addEventListener('error', function (e) { fail(e.message || String(e)); });
try {
var D = JSON.parse(document.getElementById('audit-data').textContent);
var NS = 'http://www.w3.org/2000/svg';
var COLORS = ['#3b6fd8', '#e07b1f', '#2e9d5b', '#c23b8f', '#7a52c7', '#b5a321', '#1f9fb0',
  '#d14b3c', '#6b7a8f', '#8c564b'];
function color(i) { return COLORS[i % COLORS.length]; }
var index = {};
D.parties.forEach(function (p, i) { index[p.address] = i; });
function el(tag, attrs, parent) {
  var e = document.createElementNS(NS, tag);
  for (var k in attrs) { e.setAttribute(k, attrs[k]); }
  if (parent) { parent.appendChild(e); }
  return e;
}
function title(e, text) { el('title', {}, e).textContent = text; return e; }
function label(s, x, y, text, anchor) {
  var t = el('text', {x: x, y: y, 'text-anchor': anchor || 'start'}, s);
  t.textContent = text;
  return t;
}
function svg(id, w, h) {
  var s = el('svg', {width: w, height: h, viewBox: '0 0 ' + w + ' ' + h, role: 'img'});
  document.getElementById(id).appendChild(s);
  return s;
}
function short(a) { return a ? a.slice(0, 6) + '..' + a.slice(-4) : ''; }
function nice(v) {
  var a = Math.abs(v);
  if (a >= 1e9) return (v / 1e9).toFixed(1) + 'G';
  if (a >= 1e6) return (v / 1e6).toFixed(1) + 'M';
  if (a >= 1e3) return (v / 1e3).toFixed(1) + 'k';
  return String(v);
}
function axisY(s, x0, y0, h, lo, hi, ticks) {
  for (var i = 0; i <= ticks; i++) {
    var v = lo + (hi - lo) * i / ticks, y = y0 + h - (v - lo) / (hi - lo || 1) * h;
    el('line', {x1: x0, x2: x0 + 4, y1: y, y2: y, stroke: '#999'}, s);
    label(s, x0 - 4, y + 4, nice(Math.round(v)), 'end');
  }
  el('line', {x1: x0, x2: x0, y1: y0, y2: y0 + h, stroke: '#999'}, s);
}
function legend(id, items) {
  var host = document.getElementById(id);
  items.forEach(function (it) {
    var span = document.createElement('span'), box = document.createElement('i');
    box.style.background = it[1];
    span.appendChild(box);
    span.appendChild(document.createTextNode(it[0]));
    host.appendChild(span);
  });
}

// 1. Points flow per party per round, stacked: gains above zero, losses below.
(function () {
  var rounds = {};
  D.flows.forEach(function (f) { (rounds[f.round] = rounds[f.round] || []).push(f); });
  var keys = Object.keys(rounds).map(Number).sort(function (a, b) { return a - b; });
  var n = D.parties.length || 1;
  var bw = Math.max(6, Math.min(22, Math.floor(760 / Math.max(1, keys.length * n))));
  var gap = 14, W = Math.max(520, 70 + keys.length * (n * bw + gap)), H = 300;
  var x0 = 60, y0 = 14, h = 240, hi = 1, lo = -1;
  keys.forEach(function (r) {
    rounds[r].forEach(function (f) {
      hi = Math.max(hi, f.earned + Math.max(0, f.claims));
      lo = Math.min(lo, f.paid + Math.min(0, f.claims));
    });
  });
  var s = svg('chart-flows', W, H);
  axisY(s, x0, y0, h, lo, hi, 4);
  function Y(v) { return y0 + h - (v - lo) / (hi - lo) * h; }
  el('line', {x1: x0, x2: W - 6, y1: Y(0), y2: Y(0), stroke: '#444'}, s);
  var SEG = [['earned (deliveries)', '#2e9d5b'], ['claim refunds, fines, won deposits', '#3b6fd8'],
    ['paid (requests)', '#e07b1f'], ['claimed back, fined, lost deposits', '#c0392b']];
  var drawn = 0;
  keys.forEach(function (r, ri) {
    var gx = x0 + 8 + ri * (n * bw + gap);
    rounds[r].forEach(function (f) {
      var i = index[f.party] || 0, x = gx + i * bw, up = 0, down = 0;
      var parts = [f.earned, Math.max(0, f.claims), f.paid, Math.min(0, f.claims)];
      parts.forEach(function (v, k) {
        if (!v) return;
        var y, hh;
        if (v > 0) { y = Y(up + v); hh = Y(up) - Y(up + v); up += v; }
        else { y = Y(down); hh = Y(down + v) - Y(down); down += v; }
        var bar = el('rect', {x: x, y: y, width: bw - 2, height: Math.max(1, hh),
          fill: SEG[k][1], stroke: color(i), 'stroke-width': 1.2}, s);
        title(bar, 'round ' + r + ' ' + short(f.party) + ': ' + SEG[k][0] + ' ' + v);
        drawn++;
      });
    });
    label(s, gx + n * bw / 2, H - 30, 'r' + r, 'middle');
  });
  s.setAttribute('data-bars', String(drawn));
  legend('legend-flows', SEG);
})();

// 2. Holdings over blocks: one step line per party.
(function () {
  var S = D.series, W = 860, H = 280, x0 = 60, y0 = 12, w = W - x0 - 16, h = 220;
  var s = svg('chart-balances', W, H);
  if (!S.length) { s.setAttribute('data-lines', '0'); return; }
  var b0 = S[0].block, b1 = S[S.length - 1].block, hi = -Infinity, lo = Infinity;
  S.forEach(function (p) {
    for (var a in p.holdings) {
      hi = Math.max(hi, p.holdings[a]);
      lo = Math.min(lo, p.holdings[a]);
    }
  });
  // Holdings move by small transfers: the axis spans what they reach, padded.
  var pad = Math.max(1, Math.round((hi - lo) * 0.1));
  hi += pad; lo = Math.max(0, lo - pad);
  function X(b) { return x0 + (b - b0) / ((b1 - b0) || 1) * w; }
  function Y(v) { return y0 + h - (v - lo) / (hi - lo) * h; }
  axisY(s, x0, y0, h, lo, hi, 4);
  el('line', {x1: x0, x2: x0 + w, y1: y0 + h, y2: y0 + h, stroke: '#999'}, s);
  label(s, x0, H - 22, 'block ' + b0);
  label(s, x0 + w, H - 22, 'block ' + b1, 'end');
  var lines = 0;
  D.parties.forEach(function (p, i) {
    var d = '';
    S.forEach(function (pt) {
      var v = pt.holdings[p.address];
      if (v === undefined) return;
      d += (d === '' ? 'M' + X(pt.block) + ',' + Y(v) : 'H' + X(pt.block) + 'V' + Y(v));
    });
    if (d) {
      title(el('path', {d: d, fill: 'none', stroke: color(i), 'stroke-width': 1.8}, s),
        short(p.address) + ' holdings');
      lines++;
    }
  });
  s.setAttribute('data-lines', String(lines));
  legend('legend-balances',
    D.parties.map(function (p, i) { return [short(p.address), color(i)]; }));
})();

// 3. Timeline: epochs, reports, removals, claims.
(function () {
  var T = D.timeline, W = 860, H = 210, x0 = 90, w = W - x0 - 40, s = svg('chart-timeline', W, H);
  var blocks = T.map(function (e) { return e.block; }).filter(function (b) { return b !== null; });
  if (!blocks.length) { s.setAttribute('data-marks', '0'); return; }
  var b0 = Math.min.apply(null, blocks), b1 = Math.max.apply(null, blocks);
  function X(b) { return x0 + (b - b0) / ((b1 - b0) || 1) * w; }
  var rows = {epochs: 30, reports: 80, removals: 125, claims: 170}, marks = 0;
  for (var k in rows) {
    label(s, x0 - 8, rows[k] + 4, k, 'end');
    el('line', {x1: x0, x2: x0 + w, y1: rows[k], y2: rows[k], stroke: '#e3e6eb'}, s);
  }
  T.forEach(function (e) {
    var x = X(e.block), y, shape;
    if (e.kind === 'round_opened' || e.kind === 'registration_closed' || e.kind === 'finished') {
      el('line', {x1: x, x2: x, y1: 14, y2: H - 14, stroke: '#c7ccd5',
        'stroke-dasharray': '3,3'}, s);
      label(s, x + 2, 22, e.kind === 'round_opened' ? 'r' + e.round :
        (e.kind === 'finished' ? 'end' : 'r0'));
      marks++;
    } else if (e.kind === 'report') {
      y = rows.reports + ((index[e.reporter] || 0) % 5 - 2) * 4;
      shape = el('circle', {cx: x, cy: y, r: 3.5, fill: color(index[e.suspect] || 0),
        stroke: e.by_claim ? '#000' : 'none'}, s);
      title(shape, 'epoch ' + e.epoch + ': ' + short(e.reporter) + ' reported ' +
        short(e.suspect) + (e.by_claim ? ' (upheld claim)' : ''));
      marks++;
    } else if (e.kind === 'removal') {
      y = rows.removals;
      shape = el('path', {d: 'M' + (x - 6) + ',' + y + 'L' + x + ',' + (y - 6) + 'L' + (x + 6) +
        ',' + y + 'L' + x + ',' + (y + 6) + 'Z', fill: '#c0392b'}, s);
      title(shape, 'removed ' + short(e.party) + ' in epoch ' + e.epoch + ' by ' +
        e.reporters.length + ' reporters');
      marks++;
    } else if (e.kind === 'claim_filed' || e.kind === 'claim_resolved') {
      y = rows.claims;
      if (e.kind === 'claim_filed') {
        shape = el('path', {d: 'M' + (x - 5) + ',' + (y + 5) + 'L' + x + ',' + (y - 5) + 'L' +
          (x + 5) + ',' + (y + 5) + 'Z', fill: '#7a52c7'}, s);
        title(shape, 'claim ' + e.claim + ' filed (' + e.claim_kind + ')');
      } else {
        shape = el('rect', {x: x - 4, y: y - 4, width: 8, height: 8,
          fill: e.upheld ? '#c0392b' : '#2e9d5b'}, s);
        title(shape, 'claim ' + e.claim + (e.upheld ? ' upheld' : ' rejected') +
          ' (' + e.cause + ')');
      }
      marks++;
    }
  });
  s.setAttribute('data-marks', String(marks));
})();

// 4. Gas per round.
(function () {
  var G = D.gas, W = Math.max(420, 80 + G.length * 60), H = 260;
  var x0 = 70, y0 = 12, h = 190, s = svg('chart-gas', W, H), hi = 1, bars = 0;
  G.forEach(function (g) { hi = Math.max(hi, g[1]); });
  axisY(s, x0, y0, h, 0, hi, 4);
  G.forEach(function (g, i) {
    var k = g[0], x = x0 + 10 + i * 60, v = g[1], y = y0 + h - v / hi * h;
    title(el('rect', {x: x, y: y, width: 40, height: Math.max(1, y0 + h - y),
      fill: '#3b6fd8'}, s), k + ': ' + v + ' gas');
    var t = label(s, x + 20, H - 44, k, 'end');
    t.setAttribute('transform', 'rotate(-35 ' + (x + 20) + ' ' + (H - 44) + ')');
    bars++;
  });
  s.setAttribute('data-bars', String(bars));
})();

status.setAttribute('data-status', 'ok');
status.textContent = 'charts rendered';
} catch (e) { fail(e && e.message ? e.message : String(e)); }
})();
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]], numeric: set[int]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for i, value in enumerate(row):
            cls = ' class="n"' if i in numeric else ""
            cells.append(f"<td{cls}>{value}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _mono(value: Any) -> str:
    return f'<span class="mono">{_e(value)}</span>'


def thin(series: Sequence[Mapping[str, Any]], limit: int = MAX_SERIES_POINTS) -> list[Any]:
    """Return at most ``limit`` points of ``series``, evenly spaced, first and last kept."""
    if len(series) <= limit:
        return list(series)
    step = (len(series) - 1) / (limit - 1)
    return [series[round(i * step)] for i in range(limit)]


def _embedded_json(data: Mapping[str, Any]) -> str:
    # Inside <script>, '<' could close the element: every value is escaped as JSON unicode.
    text = json.dumps(data, separators=(",", ":"), sort_keys=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render(result: Mapping[str, Any]) -> str:
    """Return the report page for an audit result (``AuditResult.as_json()``)."""
    s = result["summary"]
    violations = result["violations"]
    verdict = ('<div class="verdict clean">No violation: the replay of every rule agrees with '
               "the ledger</div>" if not violations else
               f'<div class="verdict bad">{len(violations)} violation(s) found</div>')
    cards = "".join(f'<div class="card">{_e(k)}<b>{_e(v)}</b></div>' for k, v in (
        ("violations", len(violations)), ("events", s.get("events")),
        ("transactions", s.get("transactions")), ("parties", s.get("parties")),
        ("credible", s.get("credible")), ("removed", s.get("removed")),
        ("epoch", s.get("round")), ("phase", s.get("phase")),
        ("total points", s.get("total_points")), ("claims", s.get("claims")),
        ("objects checked", s.get("content", {}).get("checked", 0)),
        ("views compared", s.get("views_compared")),
    ))
    parties = _table(
        ["#", "address", "status", "|D|", "u", "minted", "balance", "escrowed", "pending",
         "disputed", "deposited", "holdings", "earned", "paid", "claims", "reports sent",
         "reported by", "gas"],
        ([p["index"], _mono(p["address"]),
          (f'<span class="removed">removed (epoch {_e(p["removed_epoch"])})</span>'
           if p["status"] == "removed" else _e(p["status"])),
          p["data_size"], p["samples_released"], p["minted"], p["balance"], p["escrowed"],
          p["pending"], p["disputed"], p["deposited"], p["holdings"], p["earned"], p["paid"],
          p["claims"], p["reports_sent"], p["reported_by"], p["gas"]]
         for p in result["parties"]),
        {0, *range(3, 18)})
    rounds = _table(
        ["epoch", "start", "request until", "upload until", "settle until", "closed",
         "requests", "uploads", "paid", "gas"],
        ([r["round"], r["start"], r["request_deadline"], r["upload_deadline"],
          r["settle_deadline"],
          "-" if r["closed_block"] is None else
          f'{_e(r["closed_block"])}{" (deadline)" if r["by_deadline"] else ""}',
          r["requests"], r["uploads"], r["paid"], r["gas"]] for r in result["rounds"]),
        {0, 1, 2, 3, 4, 6, 7, 8, 9})
    claims = _table(
        ["id", "round", "kind", "requester", "uploader", "amount", "state", "cause", "fine",
         "filed in"],
        ([c["id"], c["round"], _e(c["kind"]), _mono(c["requester"]), _mono(c["uploader"]),
          c["amount"], _e(c["state"]), _e(c["cause"] or "-"), c["fine"], _mono(c["tx"])]
         for c in result["claims"]), {0, 1, 5, 8}) if result["claims"] else "<p>none</p>"
    content_rows = sorted(result["content"], key=lambda c: c["status"] == "ok")
    content = _table(
        ["status", "what", "epoch", "owner", "CID", "detail"],
        ([_e(c["status"]), _e(c["what"]), c["epoch"], _mono(c["owner"]), _mono(c["cid"]),
          _e(c["detail"])] for c in content_rows[:MAX_CONTENT_ROWS]), {2})
    counts = ", ".join(f"{_e(k)}: {_e(v)}" for k, v in
                       sorted(s.get("content", {}).get("by_status", {}).items()))
    violation_table = _table(
        ["kind", "block", "transaction", "parties", "detail"],
        ([_e(v["kind"]), "" if v["block"] is None else v["block"], _mono(v["tx"]),
          "<br>".join(_mono(p) for p in v["parties"]), _e(v["detail"])]
         for v in violations), {1}) if violations else "<p>none</p>"
    deployment = result.get("deployment")
    deployment_html = ("<p>not checked (no --deployment file given)</p>" if not deployment else
                       _table(["fact", "value"], ([_e(k), _mono(v)] for k, v in
                                                  sorted(deployment.items())), set()))
    chart_data = {
        "parties": [{"address": p["address"]} for p in result["parties"]],
        "flows": result["flows"], "series": thin(result["series"]),
        "timeline": result["timeline"],
        # In the epochs' order (the embedded JSON's keys are sorted).
        "gas": [[label, gas] for label, gas in result["gas"].items()],
    }
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>fppdl audit of {_e(s.get("ledger"))}</title><style>{_CSS}</style></head>
<body><header><h1>fppdl audit</h1><div class="sub">ledger {_e(s.get("ledger"))} on chain
{_e(s.get("chain_id"))}, blocks {_e(s.get("from_block"))}-{_e(s.get("to_block"))}
&middot; <span id="render-status" data-status="pending">charts not rendered (script not run)</span>
</div></header><main>
<section id="summary"><h2>Summary</h2>{verdict}<div class="cards">{cards}</div></section>
<section id="violations"><h2>Violations</h2><div class="scroll">{violation_table}</div></section>
<section id="parties"><h2>Parties</h2><div class="scroll">{parties}</div></section>
<section><h2>Points flow per party per round</h2><figure><div id="chart-flows"></div>
<figcaption class="legend" id="legend-flows"></figcaption><figcaption>One bar per party (outline
colour) and round: gains above zero, losses below. Points only move between parties.
</figcaption></figure></section>
<section><h2>Holdings over blocks</h2><figure><div id="chart-balances"></div>
<figcaption class="legend" id="legend-balances"></figcaption><figcaption>Every bucket of each
party (balance, escrow, pending, disputed, deposited) after each transaction.</figcaption>
</figure></section>
<section><h2>Reports, removals and claims</h2><figure><div id="chart-timeline"></div>
<figcaption>Dots: low-quality reports (colour of the suspect; outlined: an upheld claim);
diamonds: removals; triangles: claims filed; squares: verdicts (red upheld, green rejected).
</figcaption></figure></section>
<section><h2>Gas per round</h2><figure><div id="chart-gas"></div><figcaption>Gas used by the
ledger transactions of each epoch (only transactions that logged an event).</figcaption>
</figure></section>
<section id="rounds"><h2>Epochs</h2><div class="scroll">{rounds}</div></section>
<section id="claims"><h2>Claims</h2><div class="scroll">{claims}</div></section>
<section id="content"><h2>Stored content</h2><p>{counts or "no commitment"}</p>
<div class="scroll">{content}</div></section>
<section id="deployment"><h2>Deployment record</h2>{deployment_html}</section>
</main>
<script type="application/json" id="audit-data">{_embedded_json(chart_data)}</script>
<script>{_JS}</script>
</body></html>
"""


def write_report(result: Mapping[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """Write ``audit.html`` and ``audit.json`` into ``out_dir``; return both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    page = out_dir / REPORT_FILE
    page.write_text(render(result), encoding="utf-8")
    data = out_dir / JSON_FILE
    data.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return page, data
