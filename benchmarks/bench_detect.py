"""Detection: how fast `sio-harness explore` finds each reference-server mutant, how small it shrinks the
case, and how often the case replays.

For each mutant, `--repeat` searches (default 3, seeds 1, 2, 3; no example database, so none starts from
another's findings), each a full exploration within `--budget` (default 90 s): search, shrink, proof.
Figures per mutant, medians over the searches: seconds and runs to the first violation (target <= 60 s),
the shrunk case's faults (target <= 2) and messages, the replays that violated (target 3 of 3), and the
whole exploration's seconds (target <= budget + 10 s).

    python benchmarks/bench_detect.py [--budget 90] [--repeat 3] [--mutants no-dedupe,drop-replay]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import Figure, console, machine, print_table
from rich.table import Table

from harness.explore.session import Session
from reference_server.mutants import MUTANTS

FIRST_TARGET = 60.0
FAULTS_TARGET = 2


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--budget", type=float, default=90.0, help="seconds per exploration (default 90)")
    parser.add_argument("--repeat", type=int, default=3, help="explorations per mutant (default 3)")
    parser.add_argument("--replays", type=int, default=3, help="replays of each found case (default 3)")
    parser.add_argument("--mutants", default=",".join(MUTANTS), help="comma-separated (default: every mutant)")
    parser.add_argument("--quick", action="store_true", help="one exploration of 60 s per mutant")
    parser.add_argument("--reports", type=Path, default=None, help="where runs go (default: a temp folder)")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeat, args.budget = 1, 60.0
    unknown = [m for m in args.mutants.split(",") if m not in MUTANTS]
    if unknown:
        parser.error(f"unknown mutant {', '.join(unknown)}; choose from {', '.join(MUTANTS)}")
    return args


def explore(mutant: str, seed: int, args: argparse.Namespace, reports: Path) -> dict[str, Any]:
    began = time.monotonic()
    result = Session(profile="exactly-once", mutant=mutant, seed=seed, budget=args.budget, replays=args.replays,
                     reports=reports / f"{mutant}-{seed}").run()
    result["wall"] = time.monotonic() - began
    case = result.get("case")
    if case:
        console.print(f"{mutant} seed {seed}: found after {case['seconds_to_find']:.0f}s / {case['runs_to_find']} "
                      f"runs; {case['size']['faults']} fault(s) {case['faults']}, {case['size']['messages']} "
                      f"messages; {case['proof']['sentence']}; {result['wall']:.0f}s in all")
    else:
        console.print(f"{mutant} seed {seed}: {result['status']} in {result['wall']:.0f}s ({result['runs']} runs)")
    return result


def figures(mutant: str, results: list[dict[str, Any]], args: argparse.Namespace) -> list[Figure]:
    cases = [r["case"] for r in results if r.get("case")]
    found = f"found in {len(cases)} of {len(results)}"
    return [
        Figure(f"{mutant}: seconds to first violation", [c["seconds_to_find"] for c in cases], "s",
               at_most=FIRST_TARGET, note=found),
        Figure(f"{mutant}: runs to first violation", [c["runs_to_find"] for c in cases], "runs"),
        Figure(f"{mutant}: shrunk faults", [c["size"]["faults"] for c in cases], "faults", at_most=FAULTS_TARGET),
        Figure(f"{mutant}: shrunk messages (all clients)", [c["size"]["messages"] for c in cases], "msgs"),
        Figure(f"{mutant}: replays violating", [c["proof"]["reproduced"] for c in cases], f"of {args.replays}",
               at_least=args.replays),
        Figure(f"{mutant}: exploration wall time", [r["wall"] for r in results], "s", at_most=args.budget + 10),
    ]


def summary(rows: dict[str, list[dict[str, Any]]], args: argparse.Namespace) -> Table:
    """One row per mutant, the table the README shows."""
    table = Table(title=f"bench detect: medians of {args.repeat} explorations of {args.budget:.0f}s per mutant",
                  title_justify="left")
    for col in ("mutant", "found", "s to first", "runs to first", "faults", "messages", "reproduced", "wall s"):
        table.add_column(col, justify="left" if col == "mutant" else "right")
    for mutant, results in rows.items():
        cases = [r["case"] for r in results if r.get("case")]

        def med(values: list[float]) -> str:
            values = sorted(values)
            return f"{values[len(values) // 2]:.0f}" if values else "-"

        table.add_row(mutant, f"{len(cases)}/{len(results)}", med([c["seconds_to_find"] for c in cases]),
                      med([c["runs_to_find"] for c in cases]), med([c["size"]["faults"] for c in cases]),
                      med([c["size"]["messages"] for c in cases]),
                      ", ".join(f"{c['proof']['reproduced']}/{len(c['proof']['replays'])}" for c in cases) or "-",
                      med([r["wall"] for r in results]))
    return table


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rows: dict[str, list[dict[str, Any]]] = {}
    all_figures: list[Figure] = []
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="detect-") as tmp:
        reports = args.reports or Path(tmp)
        for mutant in args.mutants.split(","):
            rows[mutant] = []
            for seed in range(1, args.repeat + 1):
                rows[mutant].append(explore(mutant, seed, args, reports))
                if rows[mutant][-1]["status"] == "interrupted":
                    console.print("interrupted: no figures")
                    return 130
            all_figures += figures(mutant, rows[mutant], args)
    print_table("detect: per mutant", all_figures, caption=machine())
    console.print(summary(rows, args))
    console.print(f"total {time.monotonic() - began:.0f}s; {machine()}")
    return 0 if all(f.met is not False for f in all_figures) and all(f.samples for f in all_figures) else 1


if __name__ == "__main__":
    sys.exit(main())
