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

from harness.checkers.files import HISTORY, ROWS, VERDICT, check_run_dir, load_scenario
from harness.checkers.verdict import Verdict
from harness.errors import HarnessError
from harness.report import write_run_report, write_suite_index


class ReportError(HarnessError):
    """The reports folder does not exist or holds no run folder."""


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
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        has_data = (folder / HISTORY).is_file() and (folder / ROWS).is_file()
        if has_data and (args.recheck or not (folder / VERDICT).is_file()):
            verdict = check_run_dir(folder)
        elif (folder / VERDICT).is_file():
            verdict = Verdict.from_json((folder / VERDICT).read_bytes())
        else:
            continue
        write_run_report(folder, verdict, load_scenario(folder))
        built += 1
        failed += not verdict.passed
        mark = Text(" PASS ", "bold white on green") if verdict.passed else Text(" FAIL ", "bold white on red")
        console.print(mark, Text(folder.name), Text("; ".join(verdict.failures), style="dim"))
    if not built:
        raise ReportError(f"{root}: no run folder (DIR/<run-id>/ with verdict.json or history.jsonl "
                          "and rows.jsonl)")
    index = write_suite_index(root)
    console.print(Text(f"{built} run report(s), index: {index}, summary: {root / 'summary.md'}"))
    return 1 if failed else 0
