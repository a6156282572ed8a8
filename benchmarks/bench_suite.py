"""Suite: the wall time of `pytest scenarios/`, serially and with `-n 2` (pytest-xdist), whatever it holds now.

Runs the scenario suite as a user would, in a subprocess from the project root, and reports its wall time,
the pytest summary line and when it ran (the suite grows; a time means little without its date and its
test count). A failing suite is still timed: the summary says so.

Target: each at most 5 minutes on the 2-core machine.

    python benchmarks/bench_suite.py [--repeat 1] [--quick] [--path scenarios]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Figure, console, machine, print_table

ROOT = Path(__file__).resolve().parent.parent
SUMMARY = re.compile(r"^=* ?(.*\b(passed|failed|error|errors|skipped|no tests ran)\b.*?) ?=*$")


def one_run(path: str, workers: int) -> tuple[float, str]:
    """Wall seconds of one pytest run and its summary line, with the failed tests' ids after it."""
    argv = [sys.executable, "-m", "pytest", path, "-q", "-p", "no:cacheprovider"]
    if workers:
        argv += ["-n", str(workers)]
    # The suite is the user's view: no CI=true, so missing optional backends skip rather than fail.
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False, env=env)
    elapsed = time.perf_counter() - start
    lines = [m.group(1) for m in map(SUMMARY.match, done.stdout.splitlines()) if m]
    failed = [line.split(" - ")[0] for line in done.stdout.splitlines() if line.startswith(("FAILED ", "ERROR "))]
    summary = lines[-1] if lines else f"exit {done.returncode}, no summary line"
    return elapsed, "; ".join([summary, *failed])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_suite", description=__doc__.split("\n\n")[0])
    parser.add_argument("--path", default="scenarios", help="the suite to time (default: scenarios)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each (the suite takes minutes)")
    parser.add_argument("--quick", action="store_true", help="the serial run only")
    args = parser.parse_args(argv)
    if not (ROOT / args.path).exists():
        console.print(f"suite: {ROOT / args.path} does not exist; nothing to time")
        return 0
    variants = [("pytest " + args.path, 0)] + ([] if args.quick else [(f"pytest {args.path} -n 2", 2)])
    figures, summaries = [], []
    for name, workers in variants:
        figure = Figure(name, [], "s", at_most=300.0)
        for _ in range(args.repeat):
            seconds, summary = one_run(args.path, workers)
            figure.samples.append(seconds)
            summaries.append(f"{name}: {summary}")
        figures.append(figure)
    print_table("suite: wall time", figures, caption=machine())
    for line in summaries:
        console.print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
