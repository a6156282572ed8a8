"""Reports of runs: `verdict.json`, `junit.xml` and `report.html` per run; `index.html` and `summary.md`
per suite. Reports read saved files and a verdict; they never re-run anything.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from harness.checkers.files import load_scenario
from harness.checkers.verdict import Verdict
from harness.report.junit import junit_xml
from harness.report.page import render
from harness.report.suite import write_suite_index

__all__ = ["write_run_report", "write_suite_index"]


def write_run_report(run_dir: str | os.PathLike[str], verdict: Verdict, scenario: Any = None) -> None:
    """Write `verdict.json`, `junit.xml` and `report.html` into `run_dir`.

    `scenario` is the resolved scenario as a dict, an object with `to_dict()`, or None (then the run
    folder's `scenario.json` is used when present).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    data = _scenario_dict(run_dir, scenario)
    (run_dir / "verdict.json").write_text(verdict.to_json() + "\n", encoding="utf-8")
    (run_dir / "junit.xml").write_bytes(junit_xml(run_dir.name, verdict, data))
    (run_dir / "report.html").write_text(render(run_dir, verdict, data), encoding="utf-8")


def _scenario_dict(run_dir: Path, scenario: Any) -> dict[str, Any] | None:
    if scenario is None:
        return load_scenario(run_dir)
    if hasattr(scenario, "to_dict"):
        return scenario.to_dict()
    return dict(scenario)
