"""Suite: the wall time of `pytest scenarios/` per backend combination, serially and with `-n 2` (pytest-xdist).

Runs the scenario suite as a user would, in a subprocess from the project root, once per (proxy, storage)
combination asked for, each serially and with two xdist workers, and reports its wall time, the pytest
summary line and when it ran (the suite grows; a time means little without its date and its test count).
A failing suite is still timed: the summary says so. Each run writes its run folders to a reports folder of
its own, and the bench checks that the suite's `summary.md` there lists every run the session made (under
xdist the controller merges what its workers left on disk).

Target: each at most 5 minutes on the 2-core machine.

    python benchmarks/bench_suite.py [--combos embedded/sqlite,toxiproxy/postgres] [--workers 0,2]
                                     [--repeat 1] [--quick] [--path scenarios]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Figure, console, machine, print_table

ROOT = Path(__file__).resolve().parent.parent
SUMMARY = re.compile(r"^=* ?(.*\b(passed|failed|error|errors|skipped|no tests ran)\b.*?) ?=*$")
MERGED = re.compile(r"^## sio-harness: (\d+)/(\d+) runs met their expectations", re.MULTILINE)
PROXIES = ("embedded", "toxiproxy", "auto")
STORAGES = ("sqlite", "postgres", "both")


@dataclass
class SuiteRun:
    seconds: float
    summary: str
    failed: list[str]
    run_folders: int
    merged: int | None
    """Runs `summary.md` lists (None: no summary written)."""
    unpassed: list[str]
    """The first reason of every run folder whose outcome was not a pass."""

    @property
    def merge_ok(self) -> bool:
        return self.merged == self.run_folders


def one_run(path: str, workers: int, proxy: str, storage: str) -> SuiteRun:
    """One pytest session of `path` on `proxy` and `storage`, with `workers` xdist workers (0: serial)."""
    with tempfile.TemporaryDirectory(prefix="bench-suite-") as reports:
        argv = [sys.executable, "-m", "pytest", path, "-q", "-p", "no:cacheprovider", "--chaos-proxy", proxy,
                "--chaos-db", storage, "--chaos-reports", reports]
        if workers:
            argv += ["-n", str(workers)]
        # The suite is the user's view: no CI=true, so missing optional backends skip rather than fail.
        env = {k: v for k, v in os.environ.items() if k != "CI"}
        start = time.perf_counter()
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False, env=env)
        elapsed = time.perf_counter() - start
        folders = sum(1 for p in Path(reports).iterdir() if (p / "verdict.json").is_file())
        unpassed = [_first_reason(p) for p in sorted(Path(reports).glob("*/run.json"))]
        summary_md = Path(reports) / "summary.md"
        found = MERGED.search(summary_md.read_text()) if summary_md.is_file() else None
    lines = [m.group(1) for m in map(SUMMARY.match, done.stdout.splitlines()) if m]
    failed = [line.split(" - ")[0] for line in done.stdout.splitlines() if line.startswith(("FAILED ", "ERROR "))]
    summary = lines[-1] if lines else f"exit {done.returncode}, no summary line"
    return SuiteRun(elapsed, summary, failed, folders, int(found.group(2)) if found else None,
                    [r for r in unpassed if r is not None])


def _first_reason(run_json: Path) -> str | None:
    """`<scenario>: <status>: <first reason>` of a run that did not pass, None for a pass."""
    outcome = json.loads(run_json.read_text()).get("outcome") or {}
    if outcome.get("status", "pass") == "pass":
        return None
    reasons = outcome.get("reasons") or ["no reason recorded"]
    return f"{run_json.parent.name.split('-', 2)[-1]}: {outcome.get('status')}: {reasons[0]}"


def combos(text: str) -> list[tuple[str, str]]:
    """`embedded/sqlite,toxiproxy/postgres` -> [("embedded", "sqlite"), ("toxiproxy", "postgres")]."""
    out = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        proxy, _, storage = item.partition("/")
        if proxy not in PROXIES or storage not in STORAGES:
            raise SystemExit(f"--combos {item!r}: write PROXY/STORAGE, PROXY one of {', '.join(PROXIES)}, "
                             f"STORAGE one of {', '.join(STORAGES)}")
        out.append((proxy, storage))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_suite", description=__doc__.split("\n\n")[0])
    parser.add_argument("--path", default="scenarios", help="the suite to time (default: scenarios)")
    parser.add_argument("--combos", default="embedded/sqlite", metavar="PROXY/STORAGE,...",
                        help="backend combinations (default: embedded/sqlite; postgres needs "
                             "SIO_HARNESS_POSTGRES_DSN, toxiproxy TOXIPROXY_BIN or toxiproxy-server on PATH)")
    parser.add_argument("--workers", default="0,2", help="xdist workers per run, 0 = serial (default: 0,2)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each (the suite takes minutes)")
    parser.add_argument("--quick", action="store_true", help="the serial run only")
    args = parser.parse_args(argv)
    if not (ROOT / args.path).exists():
        console.print(f"suite: {ROOT / args.path} does not exist; nothing to time")
        return 0
    workers = [0] if args.quick else [int(w) for w in args.workers.split(",")]
    figures, lines = [], []
    merge_broken = False
    for proxy, storage in combos(args.combos):
        for n in workers:
            name = f"pytest {args.path} ({proxy}, {storage})" + (f" -n {n}" if n else "")
            figure = Figure(name, [], "s", at_most=300.0)
            for _ in range(args.repeat):
                run = one_run(args.path, n, proxy, storage)
                figure.samples.append(run.seconds)
                merge = (f"summary.md lists {run.merged} of {run.run_folders} run folders"
                         if run.merged is not None else f"no summary.md over {run.run_folders} run folders")
                merge_broken |= run.run_folders > 0 and not run.merge_ok
                lines.append(f"{name}: {'; '.join([run.summary, *run.failed])}; {merge}")
                lines += [f"    {reason}" for reason in run.unpassed]
            figures.append(figure)
    print_table("suite: wall time", figures, caption=machine())
    for line in lines:
        console.print(f"  {line}")
    return 1 if merge_broken else 0


if __name__ == "__main__":
    sys.exit(main())
