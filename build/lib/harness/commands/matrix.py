"""`sio-harness matrix`: the tutorial's profiles (rows) against the fault families (columns).

Each cell is one run of the guarantee suite's own cell (`harness.guarantees`): the profile's own client
(the tutorial's page code at that step), two clients sending at a steady rate, and the column's faults
placed by event triggers. The cell shows the strongest guarantee observed and the violations counted,
next to what the tutorial promises for that step, and flags any cell that differs from what the suite
asserts. The table goes to the terminal (`harness.commands.matrix_table`, fitted to its width); an HTML
page with a link to every cell's report goes to `<reports>/matrix-<stamp>/index.html`.
"""

from __future__ import annotations

import argparse
import html
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from harness.commands.matrix_table import matrix_table
from harness.guarantees import EXPECTED, FAMILIES, cell_data
from harness.runner import RunResult, run_scenario, verdict_counts, verdict_holds
from harness.scenario import PROFILES, PROMISES, Scenario, resolve

LADDER = ("exactly-once", "at-least-once", "at-most-once")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profiles", default=",".join(PROFILES),
                        help="comma-separated profiles (rows); default: all five")
    parser.add_argument("--faults", default=",".join(FAMILIES),
                        help=f"comma-separated fault families (columns); default: {','.join(FAMILIES)}")
    parser.add_argument("--seed", type=int, default=1, help="seed of every cell (default 1)")
    parser.add_argument("--storage", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--proxy", choices=["embedded", "toxiproxy", "auto"], default="embedded",
                        help="proxy of the client links; frame-aware cells always use the embedded one")
    parser.add_argument("--reports", default="reports", help="parent folder of the matrix folder")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when a cell does not show what the guarantee suite expects of it")


def cell_scenario(profile: str, family: str, *, seed: int = 1, storage: str = "sqlite",
                  proxy: str = "embedded") -> Scenario:
    """The scenario of one matrix cell: the guarantee suite's own cell (`harness.guarantees`)."""
    data = cell_data(family, profile, storage=storage)
    data["name"] = f"matrix-{profile}-{family}"
    data["seed"] = seed
    if not FAMILIES[family].needs_frames(profile):
        data["proxy"] = proxy
    return resolve(data, source=f"matrix cell {profile} x {family}")


@dataclass
class Cell:
    profile: str
    family: str
    result: RunResult | None = None

    @property
    def observed(self) -> str:
        for guarantee in LADDER:
            if verdict_holds(self.result.verdict, guarantee):
                return guarantee
        return "none"

    @property
    def keeps_promise(self) -> bool:
        return all(verdict_holds(self.result.verdict, g) for g in PROMISES[self.profile])

    @property
    def as_expected(self) -> bool:
        """The cell shows what the guarantee suite asserts (the tutorial's claim, or a recorded finding)."""
        return self.result.passed

    @property
    def finding(self) -> bool:
        return bool(EXPECTED[(self.family, self.profile)].finding)

    @property
    def counts(self) -> str:
        found = [f"{k} {v}" for k, v in verdict_counts(self.result.verdict).items() if v and k != "recovered"]
        return ", ".join(found) or "clean"


def _split(value: str, allowed: Any, what: str) -> list[str]:
    from harness.errors import HarnessError

    items = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [v for v in items if v not in allowed]
    if unknown:
        raise HarnessError(f"unknown {what} {', '.join(unknown)}; choose from {', '.join(allowed)}")
    return items


async def run(args: argparse.Namespace) -> int:
    profiles = _split(args.profiles, PROFILES, "profile")
    families = _split(args.faults, FAMILIES, "fault family")
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    folder = Path(args.reports) / f"matrix-{stamp}"
    cells = [Cell(p, f) for p in profiles for f in families]
    console = Console()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("matrix", total=len(cells))
        for cell in cells:
            bar.update(task, description=f"{cell.profile} x {cell.family}")
            scenario = cell_scenario(cell.profile, cell.family, seed=args.seed, storage=args.storage,
                                     proxy=args.proxy)
            cell.result = await run_scenario(scenario, folder)
            bar.advance(task)
    console.print(matrix_table(cells, profiles, families, console.width))
    broken = sum(not c.keeps_promise for c in cells)
    unexpected = [c for c in cells if not c.as_expected]
    console.print(f"{len(cells)} cells: {broken} break the tutorial's promise for their step; "
                  f"{len(unexpected)} differ from what the guarantee suite expects"
                  + "".join(f"\n  unexpected: {c.profile} x {c.family}: {c.result.replay_command}"
                            for c in unexpected))
    page = write_html(folder, cells, profiles, families)
    console.print(f"matrix page: {page}")
    return 1 if args.strict and unexpected else 0


def write_html(folder: Path, cells: list[Cell], profiles: list[str], families: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    by_key = {(c.profile, c.family): c for c in cells}
    head = "".join(f"<th>{html.escape(FAMILIES[f].title)}</th>" for f in families)
    rows = []
    for profile in profiles:
        tds = []
        for family in families:
            cell = by_key[(profile, family)]
            css = "ok" if cell.keeps_promise else "broken"
            notes = []
            if cell.finding:
                notes.append(EXPECTED[(family, profile)].finding)
            if not cell.as_expected:
                notes.append("NOT what the guarantee suite expects: " + "; ".join(cell.result.unmet))
            link = cell.result.run_dir.relative_to(folder) / "report.html"
            body = (f'<a href="{html.escape(str(link))}"><b>{html.escape(cell.observed)}</b><br>'
                    f'{html.escape(cell.counts)}</a>'
                    + "".join(f"<p class=note>{html.escape(n)}</p>" for n in notes))
            tds.append(f'<td class="{css}">{body}</td>')
        promise = html.escape(", ".join(PROMISES[profile]))
        rows.append(f"<tr><th>{html.escape(profile)}<br><small>promise: {promise}</small></th>{''.join(tds)}</tr>")
    page = folder / "index.html"
    page.write_text(f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sio-harness matrix</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2em}} table{{border-collapse:collapse}}
th,td{{border:1px solid #ccc;padding:.5em;text-align:left;vertical-align:top}}
td.ok{{background:#e6f4ea}} td.broken{{background:#fce8e6}} a{{color:inherit}}
p.note{{font-size:.8em;color:#555;margin:.4em 0 0;max-width:22em}}
</style></head><body>
<h1>Tutorial steps against faults</h1>
<p>Each cell: the strongest guarantee observed in one run, and the violations counted. Green keeps the
tutorial's promise for that step, red breaks it; a note under a cell is a documented finding where a run
contradicts the tutorial (see docs/guarantees.md). Click a cell for its run report.</p>
<table><tr><th>profile</th>{head}</tr>
{chr(10).join(rows)}
</table></body></html>
""")
    return page
