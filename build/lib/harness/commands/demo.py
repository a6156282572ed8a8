"""`sio-harness demo` (what `make demo` runs): every bundled scenario on the embedded defaults.

Nothing to install beyond `make setup`: SQLite storage, the embedded proxy, the python client. Each
scenario prints its verdict; the suite index goes to `<reports>/index.html`.
"""

from __future__ import annotations

import argparse

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from harness import console
from harness.runner import RunResult, run_scenario
from harness.scenario import bundled_names, load


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reports", default="reports", help="folder for run folders (default: reports)")


async def run(args: argparse.Namespace) -> int:
    names = bundled_names()
    results: list[RunResult] = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console.err, transient=True) as bar:
        task = bar.add_task("demo", total=len(names))
        for name in names:
            bar.update(task, description=name)
            results.append(await run_scenario(load(name), args.reports))
            bar.advance(task)
    for result in results:
        console.print_result(result)
    _write_index(args.reports)
    passed = sum(r.passed for r in results)
    console.out.print(f"{passed}/{len(results)} scenarios met their expectations")
    return 0 if passed == len(results) else 1


def _write_index(reports: str) -> None:
    from harness.report import write_suite_index

    path = write_suite_index(reports)
    if path:
        console.out.print(f"suite index: {path}")
