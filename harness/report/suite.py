"""The suite's `index.html` (every run, its verdict, a link) and `summary.md` (a CI job summary)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson

from harness.checkers.verdict import Verdict, VerdictFormatError
from harness.outcome import Outcome, saved_outcome
from harness.report.templating import render
from harness.runfolder import RunFolder

SHOWN = ("lost", "abandoned", "indeterminate", "duplicated", "missed", "redelivered", "reordered",
         "out_of_order", "phantom", "unexpected", "recovered")


_STATUS = {"pass": "PASS", "fail": "FAIL", "inconclusive": "INCONCLUSIVE"}
_BADGE = {"pass": "held", "fail": "broken", "inconclusive": "unknown"}


@dataclass
class RunSummary:
    run_id: str
    name: str
    verdict: Verdict
    outcome: Outcome
    """The run's own outcome (run.json), which also knows whether it became quiet: not the verdict alone."""
    has_page: bool


def collect(reports_dir: Path) -> tuple[list[RunSummary], list[str]]:
    """Every run folder with a readable verdict.json, and a line for each folder that has none."""
    runs, skipped = [], []
    for folder in (RunFolder(p) for p in sorted(reports_dir.iterdir()) if p.is_dir()):
        if not folder.verdict.is_file():
            continue
        try:
            verdict = Verdict.from_json(folder.verdict.read_bytes())
        except (VerdictFormatError, orjson.JSONDecodeError) as exc:
            skipped.append(f"{folder.name}: unreadable {RunFolder.VERDICT} ({exc})")
            continue
        scenario = _scenario(folder)
        runs.append(RunSummary(folder.name, str(scenario.get("name") or folder.name), verdict,
                               saved_outcome(verdict, folder.read_run()), folder.report.is_file()))
    return runs, skipped


def write_suite_index(reports_dir: str | os.PathLike[str]) -> Path:
    """Write `index.html` and `summary.md` for every run under `reports_dir`; return the index path."""
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    runs, skipped = collect(reports_dir)
    index = reports_dir / "index.html"
    index.write_text(index_html(runs, skipped), encoding="utf-8")
    (reports_dir / "summary.md").write_text(summary_md(runs), encoding="utf-8")
    return index


def index_html(runs: list[RunSummary], skipped: list[str]) -> str:
    rows = [{"status": r.outcome.status, "word": _STATUS[r.outcome.status], "badge": _BADGE[r.outcome.status],
             "name": r.name, "run_id": r.run_id,
             "link": f"{quote(r.run_id)}/{RunFolder.REPORT}" if r.has_page else None,
             "expected": ", ".join(r.verdict.expected) or "-", "found": _found(r.verdict),
             "failures": r.outcome.reasons, "events": r.verdict.events,
             "seconds": r.verdict.duration_ms / 1000} for r in runs]
    return render("index.html", rows=rows, runs=runs, skipped=skipped,
                  passed=sum(1 for r in runs if r.outcome.passed))


def summary_md(runs: list[RunSummary]) -> str:
    passed = sum(1 for r in runs if r.outcome.passed)
    lines = [f"## sio-harness: {passed}/{len(runs)} runs met their expectations", "",
             "| result | scenario | run | expected | anomalies found | why |",
             "|---|---|---|---|---|---|"]
    for r in runs:
        v = r.verdict
        mark = "PASS" if r.outcome.passed else f"**{_STATUS[r.outcome.status]}**"
        found = ", ".join(f"{n} {c}" for c, n in _found(v)) or "none"
        lines.append(f"| {mark} | {_md(r.name)} | `{_md(r.run_id)}` | {_md(', '.join(v.expected) or '-')} "
                     f"| {found} | {_md('; '.join(r.outcome.reasons))} |")
    return "\n".join(lines) + "\n"


def _found(verdict: Verdict) -> list[tuple[str, int]]:
    counts = verdict.counts
    return [(c, counts[c]) for c in SHOWN if counts[c]]


def _md(text: str) -> str:
    """Table-cell safe Markdown: no HTML, no cell breaks, no code-span breaks."""
    text = escape(" ".join(text.split()), quote=False)
    return text.replace("|", "\\|").replace("`", "'")


def _scenario(folder: RunFolder) -> dict[str, Any]:
    try:
        data = orjson.loads(folder.scenario.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}
