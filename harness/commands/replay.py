"""`sio-harness replay RUN_DIR`: run a saved scenario again, or (`--check-only`) re-check its history.

Exit codes as for `run`: 0 pass, 1 fail, 3 inconclusive (`harness.outcome`); `--check-only` takes the
saved run's quiet and untriggered faults from its `run.json`.

A run against a user's server keeps its target file (`target.json`), and with it the commands that start
and control that server. A run folder may come from anyone (a CI artifact, a colleague's report), so
replaying it shows those commands and runs them only with `--allow-command`, or when the same target file
is given with `--target FILE`. `--check-only` never runs anything.
"""

from __future__ import annotations

import argparse
import dataclasses

from harness import console
from harness.checkers.verdict import Verdict
from harness.errors import ScenarioError
from harness.outcome import decide_saved
from harness.runfolder import RunFolder
from harness.runner import check_run, run_scenario
from harness.scenario import Scenario, load
from harness.targetfile import load_target


def _trusted(scenario: Scenario, args: argparse.Namespace) -> Scenario:
    """The scenario to run again, once its target's commands may run; ScenarioError (exit 2) otherwise."""
    spec = scenario.target.spec
    if spec is None:
        return scenario
    commands = "; ".join(" ".join(argv) for argv in spec.commands()) or "none"
    if args.target:
        given = load_target(args.target)
        if given.to_dict() != spec.to_dict():
            raise ScenarioError(f"{args.target} is not the target file this run was made with (see "
                                f"{args.run_dir}/target.json); its commands were: {commands}")
        return dataclasses.replace(scenario, target=dataclasses.replace(scenario.target, spec=given))
    if args.allow_command:
        return scenario
    raise ScenarioError(f"this run's target {spec.name} runs commands on this machine: {commands}; replay "
                        f"with --allow-command to run them, or --target FILE with the same target file "
                        f"(--check-only runs nothing)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run folder, e.g. reports/<run-id>")
    parser.add_argument("--check-only", action="store_true",
                        help="re-check the saved history and rows; start nothing")
    parser.add_argument("--reports", default=None,
                        help="folder for the new run folder (default: the one holding RUN_DIR)")
    parser.add_argument("--target", metavar="FILE", default=None,
                        help="the target file the run was made with: its commands may run (it must be the "
                             "same file)")
    parser.add_argument("--allow-command", action="store_true",
                        help="run the commands of the run's own target file (see them first without this)")


def _saved_counts(folder: RunFolder) -> dict[str, int] | None:
    if not folder.verdict.exists():
        return None
    return Verdict.from_json(folder.verdict.read_bytes()).counts


async def run(args: argparse.Namespace) -> int:
    folder = RunFolder(args.run_dir)
    if not folder.scenario.exists():
        raise ScenarioError(f"{folder.path}: not a run folder (no {RunFolder.SCENARIO} in it)")
    scenario = load(folder.scenario)
    saved = _saved_counts(folder)
    if args.check_only:
        for needed in (folder.history, folder.rows):
            if not needed.exists():
                raise ScenarioError(f"{folder.path}: no {needed.name}; --check-only needs a completed run folder")
        verdict = check_run(folder.path, scenario)
        outcome = decide_saved(verdict, scenario.expectations, folder.read_run())
        console.print_check(folder.path, scenario, verdict, outcome)
        console.compare_counts(saved, verdict.counts)
        return outcome.exit_code
    scenario = _trusted(scenario, args)
    reports = args.reports or str(folder.path.parent)
    with console.stages(f"replay of {folder.name} (seed {scenario.seed})") as progress:
        result = await run_scenario(scenario, reports, progress=progress)
    console.print_result(result)
    console.compare_counts(saved, result.verdict.counts)
    return result.exit_code
