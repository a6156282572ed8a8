"""Checker throughput: a synthetic history of ~1,000,000 events (20 clients, losses and duplicates).

Measures, on the same file:
  parse       orjson merely parsing every line (the floor for anything that reads the file)
  check file  `check_files` in process: the code path of `sio-harness check HISTORY ROWS`
  check CLI   `python -m harness.cli check HISTORY ROWS` as a subprocess (interpreter start included)
  in memory   `check` over events already parsed into a list
  peak RSS    of a fresh process checking the same run with its row ids as written (small integers),
              moved near 2**63 (snowflake ids) and turned into strings (ULID-like): the checker maps
              ids to dense positions, so memory follows the rows, never the size of an id

Targets: check file <= 2 x parse; in memory >= 1,000,000 events/s; peak RSS with ids near 2**63 and
with string ids <= 2 x the integer case.

    python benchmarks/bench_checker.py [--events N] [--clients N] [--repeat N] [--quick] [--profile]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Figure, console, machine, print_table, ratio, timed

from harness.checkers import check, check_files
from harness.checkers.synthetic import write_synthetic
from harness.history import read_rows


def _parse(path: Path) -> int:
    n = 0
    loads = orjson.loads
    with open(path, "rb") as fh:
        for line in fh:
            loads(line)
            n += 1
    return n


_SNOWFLAKE_BASE = 2**63 - 1 - 10**12  # ids near 2**63, room below it for every row
# VmHWM, not ru_maxrss: a forked child inherits its parent's ru_maxrss, which here holds a million events.
_RSS_SCRIPT = """
import sys
from harness.checkers import check_files
check_files(sys.argv[1], sys.argv[2])
with open("/proc/self/status") as fh:
    print(next(line.split()[1] for line in fh if line.startswith("VmHWM:")))
"""


def _row_id(kind: str, rid: int) -> int | str:
    return _SNOWFLAKE_BASE + rid if kind == "snowflake" else f"01J{rid:013X}"


def _rekey(src: Path, dst: Path, kind: str) -> None:
    """Copy a synthetic run with its row ids (and every offset naming one) in another id space.

    Offset 0 ("before every row") stays 0; an offset past the last row (a planted phantom) moves too,
    so it still names no row."""
    with open(dst / "rows.jsonl", "wb") as out, open(src / "rows.jsonl", "rb") as fh:
        for line in fh:
            row = orjson.loads(line)
            row["id"] = _row_id(kind, row["id"])
            out.write(orjson.dumps(row) + b"\n")
    with open(dst / "history.jsonl", "wb") as out, open(src / "history.jsonl", "rb") as fh:
        for line in fh:
            event = orjson.loads(line)
            value = event.get("value")
            if isinstance(value, dict) and type(value.get("server_offset")) is int and value["server_offset"]:
                value["server_offset"] = _row_id(kind, value["server_offset"])
            out.write(orjson.dumps(event) + b"\n")


def _peak_rss_mb(run_dir: Path) -> float:
    """Peak resident memory of a fresh interpreter checking the run (interpreter included)."""
    done = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, str(run_dir / "history.jsonl"),
                           str(run_dir / "rows.jsonl")], capture_output=True, check=True, text=True)
    return int(done.stdout.split()[-1]) / 1024  # VmHWM is in KiB


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="about how many events")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (median shown)")
    parser.add_argument("--quick", action="store_true", help="50,000 events, one run of each")
    parser.add_argument("--profile", action="store_true",
                        help="print a pyinstrument profile of the in-memory check")
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.repeat = min(args.events, 50_000), 1
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

        parse = Figure("parse (orjson per line)", [], "s")
        in_file = Figure("check file (in process)", [], "s")
        cli = Figure("check CLI (subprocess)", [], "s")
        # Interleaved, so each repetition's ratios compare runs made under the same machine load.
        for _ in range(args.repeat):
            parse.samples += timed(1, lambda: _parse(history))
            in_file.samples += timed(1, lambda: check_files(history, rows))
            cli.samples += timed(1, lambda: subprocess.run(
                [sys.executable, "-m", "harness.cli", "check", str(history), str(rows)],
                capture_output=True, check=False))
        with open(history, "rb") as fh:
            events = [orjson.loads(line) for line in fh]
        row_list = list(read_rows(rows))
        in_memory = Figure("check in memory", [n / s for s in timed(args.repeat, lambda: check(events, row_list))],
                           "events/s", at_least=1_000_000)
        verdict = check(events, row_list)
        if args.profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005)
            profiler.start()
            check(events, row_list)
            profiler.stop()
            console.print(profiler.output_text(unicode=True, color=False, show_all=False))
        rss: dict[str, Figure] = {}
        for kind in ("integer", "snowflake", "string"):
            folder = run_dir
            if kind != "integer":
                folder = run_dir / kind
                folder.mkdir()
                _rekey(run_dir, folder, kind)
            rss[kind] = Figure(f"peak RSS, {kind} row ids", [_peak_rss_mb(folder)], "MB")

    print_table(f"checker: {n:,} events, {size_mb:.0f} MB, {args.clients} clients",
                [parse, in_file, cli,
                 ratio("check CLI / parse (the whole `sio-harness check`)", cli, parse, at_most=2.0),
                 ratio("check file / parse", in_file, parse, at_most=2.0), in_memory,
                 *rss.values(),
                 ratio("peak RSS, ids near 2**63 / integer ids", rss["snowflake"], rss["integer"], at_most=2.0),
                 ratio("peak RSS, string ids / integer ids", rss["string"], rss["integer"], at_most=2.0)],
                caption=machine())
    counts = {k: v for k, v in verdict.counts.items() if v}
    console.print(f"verdict: {counts}; planted: {synthetic.truth}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
