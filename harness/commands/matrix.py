"""`sio-harness matrix`: the tutorial's profiles (rows) against the fault families (columns).

Each cell is one run of a small generated scenario: the profile's own client (the tutorial's page code
at that step), two clients sending at a steady rate, and one fault of the column's family placed in the
middle of the workload. The cell shows the strongest guarantee observed and the violations counted,
next to what the tutorial promises for that step. The table goes to the terminal; an HTML page with a
link to every cell's report goes to `<reports>/matrix-<stamp>/index.html`.
"""

from __future__ import annotations

import argparse
import html
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from harness.runner import RunResult, run_scenario, verdict_counts, verdict_holds
from harness.scenario import PROFILES, PROMISES, Scenario, resolve

FAMILIES: dict[str, list[dict[str, Any]]] = {
    "none": [],
    "disconnect": [{"kind": "disconnect", "target": "c2", "trigger": {"after_sends": {"client": "c1", "n": 20}},
                    "duration": 0.3}],
    "page_refresh": [{"kind": "page_refresh", "target": "c1", "trigger": {"after_sends": {"client": "c1", "n": 20}}}],
    "server_crash": [{"kind": "server_crash", "trigger": {"after_sends": {"client": "c1", "n": 20}},
                      "duration": 0.3}],
    "db_outage": [{"kind": "db_outage", "trigger": {"after_sends": {"client": "c1", "n": 15}}, "duration": 0.5}],
    "ack_drop": [{"kind": "ack_drop", "target": "c1", "trigger": {"frame": {"sio_type": "ACK", "nth": 5}},
                  "params": {"count": 1}}],
}
"""One representative fault per family, placed by send count so every profile sees it at the same point."""

NEEDS_ACKS = {"ack_drop"}
LADDER = ("exactly-once", "at-least-once", "at-most-once")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profiles", default=",".join(PROFILES),
                        help="comma-separated profiles (rows); default: all five")
    parser.add_argument("--faults", default=",".join(FAMILIES),
                        help=f"comma-separated fault families (columns); default: {','.join(FAMILIES)}")
    parser.add_argument("--seed", type=int, default=1, help="seed of every cell (default 1)")
    parser.add_argument("--messages", type=int, default=40, help="messages per client per cell (default 40)")
    parser.add_argument("--storage", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--proxy", choices=["embedded", "toxiproxy", "auto"], default="embedded")
    parser.add_argument("--reports", default="reports", help="parent folder of the matrix folder")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when a cell breaks the tutorial's promise (default: report only)")


def cell_scenario(profile: str, family: str, *, seed: int = 1, messages: int = 40, storage: str = "sqlite",
                  proxy: str = "embedded") -> Scenario:
    """The generated scenario of one matrix cell."""
    return resolve({
        "name": f"matrix-{profile}-{family}",
        "seed": seed,
        "target": {"kind": "reference", "profile": profile, "storage": storage},
        "proxy": proxy,
        "clients": {"count": 2, **({"ack_timeout": 0.5, "retries": 10} if profile in ("at-least-once",
                                                                                     "exactly-once") else {})},
        "workload": {"messages": messages, "rate": 100},
        "faults": FAMILIES[family],
        "expectations": {"guarantees": PROMISES[profile]},
    }, source=f"matrix cell {profile} x {family}")


@dataclass
class Cell:
    profile: str
    family: str
    result: RunResult | None = None
    skipped: str = ""

    @property
    def observed(self) -> str:
        if self.result is None:
            return "n/a"
        for guarantee in LADDER:
            if verdict_holds(self.result.verdict, guarantee):
                return guarantee
        return "none"

    @property
    def keeps_promise(self) -> bool:
        return self.result is None or all(verdict_holds(self.result.verdict, g) for g in PROMISES[self.profile])

    @property
    def counts(self) -> str:
        if self.result is None:
            return self.skipped
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
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    folder = Path(args.reports) / f"matrix-{stamp}"
    cells = [Cell(p, f) for p in profiles for f in families]
    console = Console()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("matrix", total=len(cells))
        for cell in cells:
            bar.update(task, description=f"{cell.profile} x {cell.family}")
            if cell.family in NEEDS_ACKS and cell.profile not in ("at-least-once", "exactly-once"):
                cell.skipped = "no acks at this step"
            else:
                scenario = cell_scenario(cell.profile, cell.family, seed=args.seed, messages=args.messages,
                                         storage=args.storage, proxy=args.proxy)
                cell.result = await run_scenario(scenario, folder)
            bar.advance(task)
    console.print(_table(cells, profiles, families))
    page = write_html(folder, cells, profiles, families)
    console.print(f"matrix page: {page}")
    broken = [c for c in cells if not c.keeps_promise]
    return 1 if args.strict and broken else 0


def _table(cells: list[Cell], profiles: list[str], families: list[str]) -> Table:
    table = Table(title="observed guarantee per tutorial step and fault (promise in brackets)")
    table.add_column("profile [promise]")
    for family in families:
        table.add_column(family, overflow="fold")
    by_key = {(c.profile, c.family): c for c in cells}
    for profile in profiles:
        row = [f"{profile} [{', '.join(PROMISES[profile])}]"]
        for family in families:
            cell = by_key[(profile, family)]
            colour = "dim" if cell.result is None else "green" if cell.keeps_promise else "red"
            row.append(f"[{colour}]{cell.observed}[/]\n[{colour}]{cell.counts}[/]")
        table.add_row(*row)
    return table


def write_html(folder: Path, cells: list[Cell], profiles: list[str], families: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    by_key = {(c.profile, c.family): c for c in cells}
    head = "".join(f"<th>{html.escape(f)}</th>" for f in families)
    rows = []
    for profile in profiles:
        tds = []
        for family in families:
            cell = by_key[(profile, family)]
            css = "na" if cell.result is None else "ok" if cell.keeps_promise else "broken"
            body = f"<b>{html.escape(cell.observed)}</b><br>{html.escape(cell.counts)}"
            if cell.result is not None:
                link = cell.result.run_dir.relative_to(folder) / "report.html"
                body = f'<a href="{html.escape(str(link))}">{body}</a>'
            tds.append(f'<td class="{css}">{body}</td>')
        promise = html.escape(", ".join(PROMISES[profile]))
        rows.append(f"<tr><th>{html.escape(profile)}<br><small>promise: {promise}</small></th>{''.join(tds)}</tr>")
    page = folder / "index.html"
    page.write_text(f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sio-harness matrix</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2em}} table{{border-collapse:collapse}}
th,td{{border:1px solid #ccc;padding:.5em;text-align:left;vertical-align:top}}
td.ok{{background:#e6f4ea}} td.broken{{background:#fce8e6}} td.na{{color:#888}} a{{color:inherit}}
</style></head><body>
<h1>Tutorial steps against faults</h1>
<p>Each cell: the strongest guarantee observed in one run, and the violations counted. Green keeps the
tutorial's promise for that step, red breaks it. Click a cell for its run report.</p>
<table><tr><th>profile</th>{head}</tr>
{chr(10).join(rows)}
</table></body></html>
""")
    return page
