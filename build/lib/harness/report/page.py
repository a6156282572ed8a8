"""One run's `report.html`: self-contained (inline CSS and SVG, no script, no network).

Every string that comes from a run (message ids and contents, process names, scenario fields) is user
data and goes through `html.escape`; the page also forbids scripts with a Content-Security-Policy.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

import orjson

from harness.checkers.verdict import CLIENT_TO_SERVER, GUARANTEES, SERVER_TO_CLIENT, Verdict
from harness.history import read_history
from harness.report import timeline
from harness.report.charts import histogram_svg

LIST_LIMIT = 200

DESCRIPTIONS = {
    "lost": "acknowledged, yet never stored",
    "abandoned": "attempted, never acknowledged, never stored",
    "duplicated": "stored more than once",
    "unexpected": "stored, yet never attempted (or its send definitely failed)",
    "recovered": "outcome unknown (timeout, disconnect), stored once: not a violation",
    "reordered": "stored after a message its sender sent later",
    "missed": "stored above the page's initial offset, never received by it",
    "redelivered": "the same row received more than once",
    "out_of_order": "received after a row with a larger server offset",
    "phantom": "received, yet no row holds it",
}

CSS = """
:root { --ok:#1a7f37; --bad:#cf222e; --muted:#57606a; --line:#d0d7de; --bg:#f6f8fa; }
* { box-sizing: border-box; }
body { font: 14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color:#1f2328;
       margin: 0 auto; max-width: 1260px; padding: 18px 24px 60px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px;
     border-bottom: 1px solid var(--line); padding-bottom: 4px; }
.muted { color: var(--muted); } code, .id { font-family: ui-monospace, Menlo, Consolas, monospace; }
.banner { border-radius: 8px; padding: 14px 18px; margin: 14px 0; color: #fff; }
.banner.pass { background: var(--ok); } .banner.fail { background: var(--bad); }
.banner .big { font-size: 24px; font-weight: 700; margin-right: 12px; }
.banner ul { margin: 6px 0 0 18px; padding: 0; }
.badges { display: flex; flex-wrap: wrap; gap: 8px; margin: 8px 0; }
.badge { border-radius: 14px; padding: 3px 12px; font-weight: 600; border: 2px solid; }
.badge.held { color: var(--ok); border-color: var(--ok); background: #dafbe1; }
.badge.broken { color: var(--bad); border-color: var(--bad); background: #ffebe9; }
.badge.expected { box-shadow: 0 0 0 2px #fff, 0 0 0 4px #0969da; }
table { border-collapse: collapse; margin: 6px 0; }
th, td { border: 1px solid var(--line); padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: var(--bg); } td.n { text-align: right; font-variant-numeric: tabular-nums; }
td.hot { color: var(--bad); font-weight: 700; }
.facts span { margin-right: 18px; }
.notice { background: #fff8c5; border: 1px solid #d4a72c; border-radius: 6px; padding: 6px 10px; }
.ids { max-height: 160px; overflow: auto; background: var(--bg); padding: 6px 8px; border-radius: 6px;
       word-break: break-word; }
.legend span { margin-right: 16px; white-space: nowrap; }
.sw { display: inline-block; width: 12px; height: 12px; vertical-align: -2px; margin-right: 4px; }
.charts { display: flex; flex-wrap: wrap; gap: 20px; }
pre { background: var(--bg); padding: 10px; border-radius: 6px; overflow: auto; max-height: 400px; }
svg text { font: 11px -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; fill: #1f2328; }
svg .axis { fill: var(--muted); } svg .grid { stroke: #e5e7eb; }
svg .lane0 { fill: #ffffff; } svg .lane1 { fill: #f6f8fa; } svg .lanelabel { font-weight: 600; }
svg .fault { fill: #ffd8b5; fill-opacity: .35; } svg .faulthit { fill: #fb8f44; fill-opacity: .45; }
svg .conn { stroke: #2da44e; stroke-width: 2; stroke-opacity: .55; }
svg .send { stroke: #0969da; stroke-width: 1.2; } svg .ack { stroke: #1a7f37; stroke-width: 1.2; }
svg .recv { fill: #6e7781; } svg .note { fill: #57606a; }
svg .sendagg { fill: #0969da; } svg .ackagg { fill: #1a7f37; } svg .recvagg { fill: #6e7781; }
svg .bar { fill: #0969da; }
"""


def render(run_dir: Path, verdict: Verdict, scenario: dict[str, Any] | None) -> str:
    """The whole page as a string."""
    run_id = run_dir.name
    name = str((scenario or {}).get("name") or run_id)
    meta = _read_json(run_dir / "run.json")
    parts = [
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; img-src data:\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        f"<title>{escape(name)} - sio-harness</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(name)}</h1>",
        f'<div class="muted">run <code>{escape(run_id)}</code>'
        + (f" &middot; seed {escape(str(scenario.get('seed')))}" if scenario else "")
        + (f" &middot; {escape(str(scenario.get('description')))}"
           if scenario and scenario.get("description") else "") + "</div>",
        _banner(verdict, meta),
        _badges(verdict),
        _facts(verdict),
        _counts(verdict),
        _timeline(run_dir, verdict),
        _lists(verdict),
        _latency(verdict),
        _recoveries(verdict),
        _context(verdict, scenario, meta, run_id),
        "</body></html>",
    ]
    return "\n".join(parts)


def _banner(verdict: Verdict, meta: dict[str, Any] | None) -> str:
    failures = list(verdict.failures)
    if meta and meta.get("quiet") and not meta["quiet"].get("reached", True):
        failures.append("the run did not become quiet before its timeout: the verdict may be partial")
    if meta and meta.get("untriggered"):
        failures.append("fault trigger never fired: " + ", ".join(map(str, meta["untriggered"])))
    expected = ", ".join(verdict.expected) or "no guarantee"
    found = ", ".join(f"{k} >= {v}" for k, v in verdict.expected_violations.items())
    what = f"expected {expected}" + (f"; must find {found}" if found else "")
    if not failures:
        return (f'<div class="banner pass"><span class="big">PASS</span>'
                f"{escape(what)}: met</div>")
    items = "".join(f"<li>{escape(f)}</li>" for f in failures)
    return f'<div class="banner fail"><span class="big">FAIL</span>{escape(what)}<ul>{items}</ul></div>'


def _badges(verdict: Verdict) -> str:
    out = ['<div class="badges">']
    for name in GUARANTEES:
        held = verdict.guarantees.get(name, False)
        cls = "held" if held else "broken"
        cls += " expected" if name in verdict.expected else ""
        mark = "&#10003;" if held else "&#10007;"
        tip = "expected to hold" if name in verdict.expected else "not expected"
        out.append(f'<span class="badge {cls}" title="{tip}">{mark} {escape(name)}</span>')
    out.append('<span class="muted">(ringed: expected by the scenario)</span></div>')
    return "".join(out)


def _facts(verdict: Verdict) -> str:
    judged = len(verdict.server_to_client)
    return ('<div class="facts muted">'
            f"<span>{verdict.events:,} events</span><span>{verdict.messages:,} messages</span>"
            f"<span>{verdict.rows:,} rows stored</span><span>{verdict.duration_ms / 1000:.2f} s</span>"
            f"<span>{judged} page(s) judged for delivery</span>"
            f"<span>{len(verdict.recoveries)} fault(s) healed</span></div>")


def _counts(verdict: Verdict) -> str:
    counts = verdict.counts
    rows = []
    for direction, names in (("client &rarr; server", CLIENT_TO_SERVER),
                             ("server &rarr; client", SERVER_TO_CLIENT)):
        for i, name in enumerate(names):
            n = counts[name]
            hot = " hot" if n and name != "recovered" else ""
            head = f'<th rowspan="{len(names)}">{direction}</th>' if i == 0 else ""
            rows.append(f"<tr>{head}<td>{name}</td><td class=\"n{hot}\">{n:,}</td>"
                        f"<td class=\"muted\">{escape(DESCRIPTIONS[name])}</td></tr>")
    return ("<h2>Anomalies</h2><table><tr><th>direction</th><th>category</th><th>count</th>"
            f"<th>meaning</th></tr>{''.join(rows)}</table>")


def _timeline(run_dir: Path, verdict: Verdict) -> str:
    history = run_dir / "history.jsonl"
    if not history.is_file():
        return '<h2>Timeline</h2><p class="muted">no history.jsonl in this run folder</p>'
    tl = timeline.build(read_history(history), verdict)
    notice = ""
    if tl.aggregated:
        notice = (f'<p class="notice">This run has {tl.events:,} events: more than '
                  f"{timeline.MARK_LIMIT:,} sends, acks and receipts, so each lane shows them aggregated "
                  f"into {timeline.BUCKETS} time buckets (three bands: sends, acks, receipts; darker = "
                  "more). Anomalies are still drawn one by one.</p>")
    legend = ('<div class="legend muted">'
              '<span><i class="sw" style="background:#0969da"></i>send</span>'
              '<span><i class="sw" style="background:#1a7f37"></i>ack</span>'
              '<span><i class="sw" style="background:#6e7781;border-radius:6px"></i>receipt</span>'
              '<span><i class="sw" style="background:#2da44e;height:3px"></i>connected</span>'
              '<span><i class="sw" style="background:#ffd8b5"></i>fault, start to heal</span>'
              '<span><i class="sw" style="border:2px solid #d62728;border-radius:6px"></i>'
              "lost / missed</span>"
              '<span><i class="sw" style="border:2px solid #9467bd;border-radius:6px"></i>'
              "duplicated / redelivered</span>"
              '<span><i class="sw" style="border:2px solid #e377c2;border-radius:6px"></i>'
              "reordered</span>"
              '<span><i class="sw" style="border:2px solid #ff7f0e;border-radius:6px"></i>abandoned</span>'
              "</div>")
    return ("<h2>Timeline</h2>" + notice + legend + timeline.svg(tl)
            + '<p class="muted">Hover a mark for details. Missed messages are drawn on the page that '
            "missed them, at the time they were sent.</p>")


def _ids(ids: list[str]) -> str:
    shown = ", ".join(f'<span class="id">{escape(i)}</span>' for i in ids[:LIST_LIMIT])
    more = f" &hellip; and {len(ids) - LIST_LIMIT:,} more (see verdict.json)" if len(ids) > LIST_LIMIT else ""
    return f'<div class="ids">{shown}{more}</div>'


def _lists(verdict: Verdict) -> str:
    out = []
    for name in CLIENT_TO_SERVER:
        ids = verdict.client_to_server.get(name, [])
        if ids:
            out.append(f"<h3>{name} ({len(ids):,}) <span class=\"muted\">"
                       f"{escape(DESCRIPTIONS[name])}</span></h3>{_ids(ids)}")
    for name in SERVER_TO_CLIENT:
        for proc, per in verdict.server_to_client.items():
            ids = per.get(name, [])
            if ids:
                out.append(f"<h3>{name} by {escape(proc)} ({len(ids):,}) <span class=\"muted\">"
                           f"{escape(DESCRIPTIONS[name])}</span></h3>{_ids(ids)}")
    if verdict.unchecked_lineages:
        items = "".join(f"<li><code>{escape(p)}</code>: {escape(r)}</li>"
                        for p, r in verdict.unchecked_lineages.items())
        out.append(f'<p class="muted">Not judged for server &rarr; client delivery:</p><ul>{items}</ul>')
    body = "".join(out) or '<p class="muted">No offending message.</p>'
    return f"<h2>Offending messages</h2>{body}"


def _latency(verdict: Verdict) -> str:
    out = ["<h2>Latency</h2>"]
    for kind, title in (("ack", "send &rarr; ack"), ("delivery", "send &rarr; delivered")):
        stats = verdict.latency.get(kind) or {}
        if not stats:
            out.append(f'<p class="muted">{title}: no samples</p>')
            continue
        rows = "".join(
            f"<tr><td>{escape(who)}</td><td class=\"n\">{s.count:,}</td><td class=\"n\">{s.p50_ms:.2f}</td>"
            f"<td class=\"n\">{s.p95_ms:.2f}</td><td class=\"n\">{s.p99_ms:.2f}</td>"
            f"<td class=\"n\">{s.max_ms:.2f}</td></tr>" for who, s in stats.items())
        out.append(f"<h3>{title} (ms)</h3><table><tr><th>client</th><th>count</th><th>p50</th>"
                   f"<th>p95</th><th>p99</th><th>max</th></tr>{rows}</table>")
    charts = [histogram_svg(verdict.histograms[k], t) for k, t in
              (("ack", "send -> ack"), ("delivery", "send -> delivered")) if k in verdict.histograms]
    out.append(f'<div class="charts">{"".join(charts)}</div>')
    return "".join(out)


def _recoveries(verdict: Verdict) -> str:
    if not verdict.recoveries:
        return ""
    rows = "".join(
        f"<tr><td>{escape(r.fault)}</td><td>{escape(r.target)}</td>"
        f"<td class=\"n\">{'' if r.started_ms is None else f'{r.started_ms / 1000:.2f}'}</td>"
        f"<td class=\"n\">{r.healed_ms / 1000:.2f}</td>"
        f"<td class=\"n{' hot' if r.recovery_ms is None else ''}\">"
        f"{'never' if r.recovery_ms is None else f'{r.recovery_ms:.1f}'}</td></tr>"
        for r in verdict.recoveries)
    return ("<h2>Recovery after each heal</h2><p class=\"muted\">From the heal to the first successful "
            "operation (a receipt or an acknowledged send) of the faulted client, or of any client "
            "for a fault not aimed at one.</p><table><tr><th>fault</th><th>target</th>"
            f"<th>started (s)</th><th>healed (s)</th><th>recovered after (ms)</th></tr>{rows}</table>")


def _context(verdict: Verdict, scenario: dict[str, Any] | None, meta: dict[str, Any] | None,
             run_id: str) -> str:
    out = ["<h2>Run</h2>"]
    for note in verdict.notes:
        out.append(f'<p class="notice">{escape(note)}</p>')
    out.append(f"<p>Replay: <code>sio-harness replay reports/{escape(run_id)}</code> &middot; "
               f"re-check: <code>sio-harness check reports/{escape(run_id)}</code></p>")
    if scenario:
        text = orjson.dumps(scenario, option=orjson.OPT_INDENT_2).decode()
        out.append(f"<details><summary>scenario.json</summary><pre>{escape(text)}</pre></details>")
    if meta:
        text = orjson.dumps(meta, option=orjson.OPT_INDENT_2).decode()
        out.append(f"<details><summary>run.json</summary><pre>{escape(text)}</pre></details>")
    return "".join(out)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None
