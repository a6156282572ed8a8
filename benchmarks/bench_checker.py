"""Checker throughput: a synthetic history of ~1,000,000 events (20 clients, losses and duplicates).

Measures, on the same file:
  parse       orjson merely parsing every line (the floor for anything that reads the file)
  check file  `check_files` in process: the code path of `sio-harness check HISTORY ROWS`
  check CLI   `python -m harness.cli check HISTORY ROWS` as a subprocess (interpreter start included)
  in memory   `check` over events already parsed into a list

Targets: check file <= 2 x parse; in memory >= 1,000,000 events/s.

    python benchmarks/bench_checker.py [--events N] [--clients N] [--repeat N] [--profile]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import orjson
from rich.console import Console
from rich.table import Table

from harness.checkers import check, check_files
from harness.checkers.synthetic import write_synthetic
from harness.history import read_rows


def _best(repeat: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _parse(path: Path) -> int:
    n = 0
    loads = orjson.loads
    with open(path, "rb") as fh:
        for line in fh:
            loads(line)
            n += 1
    return n


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="about how many events")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3, help="best of N for each measurement")
    parser.add_argument("--profile", action="store_true",
                        help="print a pyinstrument profile of the in-memory check")
    args = parser.parse_args(argv)
    console = Console()
    # Each message makes an invoke, an ack and one receipt per client.
    messages = max(1, args.events // (args.clients + 2))
    with tempfile.TemporaryDirectory(prefix="bench-checker-") as tmp:
        run_dir = Path(tmp)
        console.print(f"writing a synthetic history: {args.clients} clients, {messages:,} messages ...")
        synthetic = write_synthetic(run_dir, clients=args.clients, messages=messages, seed=1,
                                    loss=0.001, duplicate=0.001, indeterminate=0.001, miss=0.0005)
        history, rows = run_dir / "history.jsonl", run_dir / "rows.jsonl"
        n = synthetic.events
        size_mb = history.stat().st_size / 1e6

        parse_s = _best(args.repeat, lambda: _parse(history))
        file_s = _best(args.repeat, lambda: check_files(history, rows))
        cli_s = _best(1, lambda: subprocess.run(
            [sys.executable, "-m", "harness.cli", "check", str(history), str(rows)],
            capture_output=True, check=False))
        with open(history, "rb") as fh:
            events = [orjson.loads(line) for line in fh]
        row_list = list(read_rows(rows))
        memory_s = _best(args.repeat, lambda: check(events, row_list))
        verdict = check(events, row_list)
        if args.profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005)
            profiler.start()
            check(events, row_list)
            profiler.stop()
            console.print(profiler.output_text(unicode=True, color=False, show_all=False))

    table = Table(title=f"checker: {n:,} events, {size_mb:.0f} MB, {args.clients} clients "
                        f"(best of {args.repeat}; shared machine, expect noise)")
    for col in ("measure", "seconds", "events/s", "vs parse", "target"):
        table.add_column(col, justify="left" if col in ("measure", "target") else "right")
    table.add_row("parse (orjson per line)", f"{parse_s:.3f}", f"{n / parse_s:,.0f}", "1.00x", "")
    table.add_row("check file (in process)", f"{file_s:.3f}", f"{n / file_s:,.0f}",
                  f"{file_s / parse_s:.2f}x", "<= 2.00x " + ("met" if file_s <= 2 * parse_s else "MISSED"))
    table.add_row("check CLI (subprocess)", f"{cli_s:.3f}", f"{n / cli_s:,.0f}", f"{cli_s / parse_s:.2f}x",
                  "")
    table.add_row("check in memory", f"{memory_s:.3f}", f"{n / memory_s:,.0f}", f"{memory_s / parse_s:.2f}x",
                  ">= 1,000,000/s " + ("met" if n / memory_s >= 1_000_000 else "MISSED"))
    console.print(table)
    counts = {k: v for k, v in verdict.counts.items() if v}
    console.print(f"verdict: {counts}; planted: {synthetic.truth}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
