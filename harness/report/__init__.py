"""Reports of runs: `verdict.json`, `junit.xml` and `report.html` per run; `index.html` and `summary.md`
per suite. Reports read saved files and a verdict; they never re-run anything.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from harness.checkers.files import load_scenario
from harness.checkers.verdict import Verdict
from harness.outcome import Outcome, saved_outcome
from harness.report.junit import junit_xml
from harness.report.page import render
from harness.report.suite import write_suite_index
from harness.runfolder import RunFolder
from harness.scenario import Scenario

__all__ = ["write_run_report", "write_suite_index"]


def write_run_report(run_dir: str | os.PathLike[str], verdict: Verdict,
                     scenario: Scenario | dict[str, Any] | None = None, outcome: Outcome | None = None) -> None:
    """Write `verdict.json`, `junit.xml` and `report.html` into `run_dir`.

    `scenario` is the run's `Scenario` (from the runner), a saved run's `scenario.json` as read (which
    an older harness may have written), or None: then the run folder's `scenario.json`, when present.
    `outcome` is the run's (`harness.outcome`); None takes the one recorded in the folder's `run.json`,
    else decides it from the verdict.
    """
    folder = RunFolder(run_dir)
    folder.path.mkdir(parents=True, exist_ok=True)
    data = _scenario_dict(folder.path, scenario)
    outcome = outcome or saved_outcome(verdict, folder.read_run())
    folder.verdict.write_text(verdict.to_json() + "\n", encoding="utf-8")
    folder.junit.write_bytes(junit_xml(folder.name, verdict, data, outcome))
    folder.report.write_text(render(folder.path, verdict, data, outcome), encoding="utf-8")


def _scenario_dict(run_dir: Path, scenario: Scenario | dict[str, Any] | None) -> dict[str, Any] | None:
    if scenario is None:
        return load_scenario(run_dir)
    if isinstance(scenario, Scenario):
        return scenario.to_dict()
    return dict(scenario)
