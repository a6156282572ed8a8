"""`sio-harness matrix`: the tutorial's profiles (rows) against the fault families (columns).

Each cell is one run of the guarantee suite's own cell (`harness.guarantees`): the profile's own client
(the tutorial's page code at that step), two clients sending at a steady rate, and the column's faults
placed by event triggers. The cell shows the strongest guarantee observed and the violations counted,
next to what the tutorial promises for that step, and flags any cell that differs from what the suite
asserts. The table goes to the terminal (`harness.commands.matrix_table`, fitted to its width); an HTML
page with a link to every cell's report goes to `<reports>/matrix-<stamp>/index.html` (laid out by
`harness/report/matrix.py`).
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from harness.commands.matrix_table import matrix_table
from harness.commands.targeting import add_target_argument, not_applicable, steps_for, target_option, with_target
from harness.guarantees import DURABLE, EXPECTED, FAMILIES, MULTINODE, ROWS, cell_data, row_step
from harness.report.matrix import MatrixCell, MatrixRow, write_matrix_page
from harness.runfolder import RunFolder
from harness.runner import RunResult, run_scenario
from harness.scenario import Scenario, resolve
from harness.steps import PROMISES
from harness.targetfile import TargetSpec

LADDER = ("exactly-once", "at-least-once", "at-most-once")
JOBS = 4
"""Cells at once by default: a cell mostly waits (for triggers, heals, quiet), so four overlap well on two
CPUs; each run's own load monitor makes an overloaded cell inconclusive rather than wrong."""


def _jobs(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return n


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profiles", default=None,
                        help=f"comma-separated profiles; default: the five steps and {DURABLE} (the durable "
                             f"page in Chromium; left out with a note when Chromium is missing)")
    parser.add_argument("--faults", default=None,
                        help=f"comma-separated fault families (columns); default: every family, the multi-node "
                             f"ones ({','.join(MULTINODE)}) only when Redis is found; all: "
                             f"{','.join(FAMILIES)}")
    parser.add_argument("--seed", type=int, default=1, help="seed of every cell (default 1)")
    parser.add_argument("--storage", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--proxy", choices=["embedded", "toxiproxy", "auto"], default="embedded",
                        help="proxy of the client links; frame-aware cells always use the embedded one")
    parser.add_argument("--reports", default="reports", help="parent folder of the matrix folder")
    parser.add_argument("--jobs", "-j", type=_jobs, default=JOBS, metavar="N",
                        help=f"cells run at once on the event loop (default {JOBS}; 1: one after another). Cells "
                             "share nothing (each its own server, proxy, database and ports)")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when a cell does not show what the guarantee suite expects of it")
    add_target_argument(parser, all_steps=True)


def cell_scenario(profile: str, family: str, *, seed: int = 1, storage: str = "sqlite",
                  proxy: str = "embedded", target: TargetSpec | None = None) -> Scenario:
    """The scenario of one matrix cell: the guarantee suite's own cell (`harness.guarantees`), against
    `target` claiming `profile` when one is given."""
    data = cell_data(family, profile, storage=storage)
    data["name"] = f"matrix-{profile}-{family}"
    data["seed"] = seed
    if not FAMILIES[family].needs_frames(profile):
        data["proxy"] = proxy
    if target is not None:
        target = target.at_step(profile)
    return resolve(with_target(data, target), source=f"matrix cell {profile} x {family}")


@dataclass
class Cell:
    profile: str
    family: str
    result: RunResult | None = None
    not_applicable: str | None = None
    """Why the target cannot undergo this column's faults: the cell is reported, not run."""

    @property
    def run(self) -> RunResult:
        if self.result is None:
            raise RuntimeError(f"cell {self.profile} x {self.family} has not run")
        return self.result

    @property
    def observed(self) -> str:
        if self.not_applicable:
            return "n/a"
        for guarantee in LADDER:
            if self.run.verdict.guarantees.get(guarantee) is True:
                return guarantee
        return "none"

    @property
    def keeps_promise(self) -> bool:
        if self.not_applicable:
            return True
        return all(self.run.verdict.guarantees.get(g) is True for g in PROMISES[row_step(self.profile)])

    @property
    def as_expected(self) -> bool:
        """The cell shows what the guarantee suite asserts (the tutorial's claim, or a recorded finding):
        its outcome passed, by the very rule and expectations the suite applies (harness.outcome)."""
        return bool(self.not_applicable) or self.run.outcome.passed

    @property
    def inconclusive(self) -> bool:
        return not self.not_applicable and self.run.outcome.status == "inconclusive"

    @property
    def finding(self) -> bool:
        return not self.not_applicable and bool(EXPECTED[(self.family, self.profile)].finding)

    @property
    def counts(self) -> str:
        if self.not_applicable:
            return "not applicable"
        found = [f"{k} {v}" for k, v in self.run.verdict.counts.items() if v and k != "recovered"]
        return ", ".join(found) or "clean"


def _default_families() -> list[str]:
    from harness.redis import redis_available

    # Several nodes need a redis-server; a fresh clone without one still gets the single-node matrix.
    return [f for f in FAMILIES if f not in MULTINODE or redis_available()]


def _split(value: str, allowed: Any, what: str) -> list[str]:
    from harness.errors import HarnessError

    items = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [v for v in items if v not in allowed]
    if unknown:
        raise HarnessError(f"unknown {what} {', '.join(unknown)}; choose from {', '.join(allowed)}")
    return items


def _default_rows(console: Console) -> list[str]:
    """The five steps, and the durable page's row when the browser driver can run here (Chromium and
    Playwright): `make demo` installs neither, and must not fail for want of them."""
    from harness.clients.browser_driver import chromium_path, playwright_api
    from harness.errors import MissingBinaryError

    try:
        chromium_path()
        playwright_api()
    except MissingBinaryError as exc:
        console.print(f"row {DURABLE} left out: {exc}")
        return [r for r in ROWS if r != DURABLE]
    return list(ROWS)


async def run(args: argparse.Namespace) -> int:
    console = Console()
    target = target_option(args)
    requested = _split(args.profiles, ROWS, "profile") if args.profiles else _default_rows(console)
    profiles = steps_for(target, requested, args.all_steps)
    families = _split(args.faults or ",".join(_default_families()), FAMILIES, "fault family")
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    folder = Path(args.reports) / f"matrix-{stamp}"
    cells = [Cell(p, f) for p in profiles for f in families]
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    slots = asyncio.Semaphore(args.jobs)
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("matrix", total=len(cells))

        async def one(cell: Cell) -> None:
            cell.not_applicable = not_applicable(target, cell.profile, cell_data(cell.family, cell.profile))
            if not cell.not_applicable:
                scenario = cell_scenario(cell.profile, cell.family, seed=args.seed, storage=args.storage,
                                         proxy=args.proxy, target=target)
                async with slots:
                    bar.update(task, description=f"{cell.profile} x {cell.family}")
                    cell.result = await run_scenario(scenario, folder)
            bar.advance(task)

        try:
            # A cell that cannot run (a missing binary, a port in use) stops the others, which clean up.
            async with asyncio.TaskGroup() as group:
                for cell in cells:
                    group.create_task(one(cell))
        except ExceptionGroup as failed:
            raise failed.exceptions[0] from None
    console.print(matrix_table(cells, profiles, families, console.width))
    broken = sum(not c.keeps_promise for c in cells)
    unexpected = [c for c in cells if not c.as_expected]
    skipped = [c for c in cells if c.not_applicable]
    against = f" against target {target.name} (claims {target.step})" if target else ""
    console.print(f"{len(cells)} cells{against}: {broken} break the tutorial's promise for their step; "
                  f"{len(unexpected)} differ from what the guarantee suite expects"
                  + (f"; {len(skipped)} not applicable to this target" if skipped else "")
                  + "".join(f"\n  n/a: {c.profile} x {c.family}: {c.not_applicable}" for c in skipped)
                  + "".join(f"\n  unexpected: {c.profile} x {c.family}: {c.run.replay_command}"
                            + f" ({c.run.outcome.status})" for c in unexpected))
    page = write_html(folder, cells, profiles, families)
    console.print(f"matrix page: {page}")
    return 1 if args.strict and unexpected else 0


def write_html(folder: Path, cells: list[Cell], profiles: list[str], families: list[str]) -> Path:
    by_key = {(c.profile, c.family): c for c in cells}
    rows = [MatrixRow(profile, tuple(PROMISES[row_step(profile)]), tuple(_page_cell(by_key[(profile, f)], folder)
                                                                 for f in families))
            for profile in profiles]
    return write_matrix_page(folder, [FAMILIES[f].title for f in families], rows)


def _page_cell(cell: Cell, folder: Path) -> MatrixCell:
    if cell.not_applicable:
        return MatrixCell("not applicable", "", True, "", (cell.not_applicable,))
    notes = []
    if cell.finding:
        notes.append(EXPECTED[(cell.family, cell.profile)].finding)
    if not cell.as_expected:
        notes.append("NOT what the guarantee suite expects: " + "; ".join(cell.run.outcome.reasons))
    link = RunFolder(cell.run.run_dir.relative_to(folder)).report
    return MatrixCell(cell.observed, cell.counts, cell.keeps_promise, str(link), tuple(notes))
