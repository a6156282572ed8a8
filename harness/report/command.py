"""`sio-harness report DIR`: rebuild every run's reports and the suite index from saved run folders.

A run folder is `DIR/<run-id>/` with `history.jsonl`, `rows.jsonl`, `scenario.json` and `verdict.json`.
Its saved verdict is used as it is; `--recheck` (or a folder without `verdict.json`) checks the saved
history and rows again first. Exit 0 when every run met its expectations, 1 otherwise, 2 when DIR is
not a folder.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.text import Text

from harness.checkers.files import check_run_dir, load_scenario
from harness.checkers.verdict import Verdict
from harness.errors import HarnessError
from harness.outcome import decide_saved, expectations_of, saved_outcome
from harness.report import write_run_report, write_suite_index
from harness.runfolder import RunFolder


class ReportError(HarnessError):
    """The reports folder does not exist or holds no run folder."""


_MARKS = {"pass": Text(" PASS ", "bold white on green"), "fail": Text(" FAIL ", "bold white on red"),
          "inconclusive": Text(" INCONCLUSIVE ", "bold black on yellow")}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", metavar="DIR", help="the folder holding run folders (e.g. reports)")
    parser.add_argument("--recheck", action="store_true",
                        help="check every saved history again instead of using verdict.json")


def run(args: argparse.Namespace) -> int:
    root = Path(args.dir)
    if not root.is_dir():
        raise ReportError(f"{root}: no such folder")
    console = Console()
    failed = built = 0
    for folder in (RunFolder(p) for p in sorted(root.iterdir()) if p.is_dir()):
        has_data = folder.history.is_file() and folder.rows.is_file()
        if has_data and (args.recheck or not folder.verdict.is_file()):
            verdict = check_run_dir(folder.path)
            outcome = decide_saved(verdict, expectations_of(verdict), folder.read_run())
        elif folder.verdict.is_file():
            verdict = Verdict.from_json(folder.verdict.read_bytes())
            outcome = saved_outcome(verdict, folder.read_run())
        else:
            continue
        write_run_report(folder.path, verdict, load_scenario(folder.path), outcome)
        built += 1
        failed += not outcome.passed
        mark = _MARKS[outcome.status]
        console.print(mark, Text(folder.name), Text("; ".join(outcome.reasons), style="dim"))
    if not built:
        raise ReportError(f"{root}: no run folder (DIR/<run-id>/ with verdict.json or history.jsonl "
                          "and rows.jsonl)")
    index = write_suite_index(root)
    console.print(Text(f"{built} run report(s), index: {index}, summary: {root / 'summary.md'}"))
    return 1 if failed else 0
