"""`sio-harness replay RUN_DIR`: run a saved scenario again, or (`--check-only`) re-check its history."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness import console
from harness.checkers.verdict import Verdict
from harness.errors import ScenarioError
from harness.runner import check_run, run_scenario, verdict_counts
from harness.scenario import resolve


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run folder, e.g. reports/<run-id>")
    parser.add_argument("--check-only", action="store_true",
                        help="re-check the saved history and rows; start nothing")
    parser.add_argument("--reports", default=None,
                        help="folder for the new run folder (default: the one holding RUN_DIR)")


def _saved_counts(run_dir: Path) -> dict[str, int] | None:
    path = run_dir / "verdict.json"
    if not path.exists():
        return None
    return Verdict.from_json(path.read_bytes()).counts


async def run(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    scenario_path = run_dir / "scenario.json"
    if not scenario_path.exists():
        raise ScenarioError(f"{run_dir}: not a run folder (no scenario.json in it)")
    scenario = resolve(json.loads(scenario_path.read_text()), source=str(scenario_path))
    saved = _saved_counts(run_dir)
    if args.check_only:
        for needed in ("history.jsonl", "rows.jsonl"):
            if not (run_dir / needed).exists():
                raise ScenarioError(f"{run_dir}: no {needed}; --check-only needs a completed run folder")
        verdict, unmet = check_run(run_dir, scenario)
        console.print_check(run_dir, scenario, verdict, unmet)
        console.compare_counts(saved, verdict_counts(verdict))
        return 0 if not unmet else 1
    reports = args.reports or str(run_dir.parent)
    with console.stages(f"replay of {run_dir.name} (seed {scenario.seed})") as progress:
        result = await run_scenario(scenario, reports, progress=progress)
    console.print_result(result)
    console.compare_counts(saved, verdict_counts(result.verdict))
    return result.exit_code
