"""One run's `report.html`: self-contained (inline CSS and SVG, no script, no network).

The page is `templates/report.html`; this module gathers what it shows. Every string that comes from a
run (message ids and contents, process names, scenario fields) is user data: the template escapes it
(autoescape), and the page also forbids scripts with a Content-Security-Policy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from markupsafe import Markup

from harness.checkers.nodes import per_node
from harness.checkers.verdict import CLIENT_TO_SERVER, GUARANTEES, SERVER_TO_CLIENT, Verdict
from harness.history import read_history
from harness.outcome import Outcome
from harness.report import timeline
from harness.report.charts import histogram_svg
from harness.report.templating import render as render_template
from harness.runfolder import RunFolder

LIST_LIMIT = 200

DESCRIPTIONS = {
    "lost": "acknowledged, yet never stored",
    "abandoned": "its send failed: it never left the page, and is not stored",
    "indeterminate": "its outcome is unknown (timeout, disconnect, no completion), and it is not stored",
    "duplicated": "stored more than once",
    "unexpected": "stored, yet never attempted (or its send definitely failed)",
    "recovered": "outcome unknown (timeout, disconnect), stored once: not a violation",
    "reordered": "stored after a message its sender sent later",
    "missed": "stored above the page's initial offset, never received by it",
    "redelivered": "the same row received more than once",
    "out_of_order": "received after a row with a larger server offset",
    "phantom": "received, yet no row holds it",
}


def render(run_dir: Path, verdict: Verdict, scenario: dict[str, Any] | None, outcome: Outcome) -> str:
    """The whole page as a string."""
    folder = RunFolder(run_dir)
    run_id = folder.name
    meta = _read_json(folder.run)
    history = folder.history
    tl = timeline.build(read_history(history), verdict) if history.is_file() else None
    nodes = per_node(read_history(history), verdict) if history.is_file() and tl and _multinode(scenario) else None
    return render_template(
        "report.html",
        name=str((scenario or {}).get("name") or run_id), run_id=run_id, scenario=scenario, meta=meta,
        verdict=verdict, what=_what_was_expected(verdict), outcome=outcome,
        badges=[{"name": name, "held": verdict.guarantees.get(name), "expected": name in verdict.expected}
                for name in GUARANTEES],
        counts=verdict.counts, descriptions=DESCRIPTIONS,
        directions=(("client → server", CLIENT_TO_SERVER), ("server → client", SERVER_TO_CLIENT)),
        timeline=tl, timeline_svg=Markup(timeline.svg(tl)) if tl else "",
        mark_limit=timeline.MARK_LIMIT, buckets=timeline.BUCKETS,
        offending=_offending(verdict), list_limit=LIST_LIMIT,
        latency=[(title, verdict.latency.get(kind) or {})
                 for kind, title in (("ack", "send → ack"), ("delivery", "send → delivered"))],
        charts=[Markup(histogram_svg(verdict.histograms[k], t))
                for k, t in (("ack", "send -> ack"), ("delivery", "send -> delivered")) if k in verdict.histograms],
        scenario_json=_pretty(scenario), meta_json=_pretty(meta),
        history_name=RunFolder.HISTORY, verdict_name=RunFolder.VERDICT, scenario_name=RunFolder.SCENARIO,
        run_name=RunFolder.RUN, nodes=nodes,
        traces=[p.name for p in RunFolder(run_dir).browser_traces()])


def _multinode(scenario: dict[str, Any] | None) -> bool:
    # Only runs on several nodes name a node on their connects; others need no second pass.
    return bool(scenario) and int((scenario or {}).get("target", {}).get("nodes", 1) or 1) > 1


def _what_was_expected(verdict: Verdict) -> str:
    expected = ", ".join(verdict.expected) or "no guarantee"
    found = ", ".join(f"{k} >= {v}" for k, v in verdict.expected_violations.items())
    absent = ", ".join(verdict.expected_absent)
    recovery = verdict.expected_recovery
    reconnects = (f"; reconnects with recovered={str(recovery['recovered']).lower()} >= {recovery['min']} "
                  f"(seen: {verdict.reconnects})" if recovery else "")
    return (f"expected {expected}" + (f"; must find {found}" if found else "") + (f"; no {absent}" if absent else "")
            + reconnects)


def _offending(verdict: Verdict) -> list[dict[str, Any]]:
    """Each non-empty list of offending message ids: category, the page that saw it (server to client), ids."""
    out: list[dict[str, Any]] = [{"name": name, "proc": None, "ids": verdict.client_to_server[name]}
                                 for name in CLIENT_TO_SERVER if verdict.client_to_server.get(name)]
    out += [{"name": name, "proc": proc, "ids": per[name]}
            for name in SERVER_TO_CLIENT for proc, per in verdict.server_to_client.items() if per.get(name)]
    return out


def _pretty(data: dict[str, Any] | None) -> str:
    return orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() if data else ""


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None
