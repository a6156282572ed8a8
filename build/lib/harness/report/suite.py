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
from harness.report.page import CSS

SHOWN = ("lost", "abandoned", "duplicated", "missed", "redelivered", "reordered", "out_of_order",
         "phantom", "unexpected", "recovered")


@dataclass
class RunSummary:
    run_id: str
    name: str
    verdict: Verdict
    has_page: bool


def collect(reports_dir: Path) -> tuple[list[RunSummary], list[str]]:
    """Every run folder with a readable verdict.json, and a line for each folder that has none."""
    runs, skipped = [], []
    for folder in sorted(p for p in reports_dir.iterdir() if p.is_dir()):
        path = folder / "verdict.json"
        if not path.is_file():
            continue
        try:
            verdict = Verdict.from_json(path.read_bytes())
        except (VerdictFormatError, orjson.JSONDecodeError) as exc:
            skipped.append(f"{folder.name}: unreadable verdict.json ({exc})")
            continue
        scenario = _scenario(folder)
        runs.append(RunSummary(folder.name, str(scenario.get("name") or folder.name), verdict,
                               (folder / "report.html").is_file()))
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
    passed = sum(1 for r in runs if r.verdict.passed)
    rows = []
    for r in runs:
        v = r.verdict
        status = "PASS" if v.passed else "FAIL"
        link = (f'<a href="{escape(quote(r.run_id))}/report.html">{escape(r.run_id)}</a>'
                if r.has_page else escape(r.run_id))
        found = _found(v)
        chips = ", ".join(f'<span class="{"hot" if c != "recovered" else "muted"}">{n:,} {c}</span>'
                          for c, n in found) or '<span class="muted">none</span>'
        why = "".join(f'<div class="muted">{escape(f)}</div>' for f in v.failures)
        rows.append(f'<tr><td><span class="badge {"held" if v.passed else "broken"}">{status}</span></td>'
                    f'<td>{escape(r.name)}<div class="muted id nowrap">{link}</div></td>'
                    f"<td>{escape(', '.join(v.expected) or '-')}</td><td>{chips}{why}</td>"
                    f'<td class="n">{v.events:,}</td><td class="n">{v.duration_ms / 1000:.1f}</td></tr>')
    notes = "".join(f'<p class="notice">{escape(s)}</p>' for s in skipped)
    verdict_line = (f'<div class="banner {"pass" if passed == len(runs) else "fail"}">'
                    f'<span class="big">{passed}/{len(runs)}</span>runs met their expectations</div>')
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "style-src 'unsafe-inline'\"><title>sio-harness runs</title>"
            f"<style>{CSS} .hot {{ color: var(--bad); font-weight: 600; }} .nowrap {{ white-space: nowrap; }}"
            "</style></head><body><h1>sio-harness: delivery guarantees</h1>"
            f"{verdict_line}{notes}<table><tr><th>result</th><th>scenario / run</th><th>expected</th>"
            f"<th>anomalies found</th><th>events</th><th>seconds</th></tr>{''.join(rows)}</table>"
            "</body></html>")


def summary_md(runs: list[RunSummary]) -> str:
    passed = sum(1 for r in runs if r.verdict.passed)
    lines = [f"## sio-harness: {passed}/{len(runs)} runs met their expectations", "",
             "| result | scenario | run | expected | anomalies found | why |",
             "|---|---|---|---|---|---|"]
    for r in runs:
        v = r.verdict
        mark = "PASS" if v.passed else "**FAIL**"
        found = ", ".join(f"{n} {c}" for c, n in _found(v)) or "none"
        lines.append(f"| {mark} | {_md(r.name)} | `{_md(r.run_id)}` | {_md(', '.join(v.expected) or '-')} "
                     f"| {found} | {_md('; '.join(v.failures))} |")
    return "\n".join(lines) + "\n"


def _found(verdict: Verdict) -> list[tuple[str, int]]:
    counts = verdict.counts
    return [(c, counts[c]) for c in SHOWN if counts[c]]


def _md(text: str) -> str:
    """Table-cell safe Markdown: no HTML, no cell breaks, no code-span breaks."""
    text = escape(" ".join(text.split()), quote=False)
    return text.replace("|", "\\|").replace("`", "'")


def _scenario(folder: Path) -> dict[str, Any]:
    try:
        data = orjson.loads((folder / "scenario.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}
