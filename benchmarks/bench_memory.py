"""Memory: the peak RSS of the harness process during a run that records about 1,000,000 events.

The run is a real one (`run_scenario`): 20 python clients on the baseline profile, SQLite, the embedded
proxy, no faults, enough messages that the history reaches `--events` lines (each message makes one
`invoke`, one `info` no-ack and one `recv` per client), then the check and the report. It runs in a child
process (this file with `--child`), which reports its own peak RSS (`getrusage(RUSAGE_SELF).ru_maxrss`,
exact, taken after the report is written) and its RSS after its imports, before the run. The server and
the proxy are separate processes; their peak RSS, sampled every 0.2 s with psutil, is shown for context.

Target: the harness's peak <= 300 MB, i.e. the history is streamed to disk and read back as a stream.

    python benchmarks/bench_memory.py [--events 1000000] [--clients 20] [--repeat 1] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Figure, machine, print_table  # noqa: E402

MB = 1024 * 1024


def scenario(clients: int, messages: int) -> dict[str, Any]:
    return {
        "name": "bench-memory", "seed": 1,
        "target": {"kind": "reference", "profile": "baseline", "storage": "sqlite"},
        "proxy": "embedded",
        "clients": {"driver": "python", "count": clients},
        "workload": {"messages": messages},
        "faults": [],
        "expectations": {"guarantees": []},
        # A million events take minutes to deliver; quiet only ends the run once they are all in.
        "quiet": {"settle": 1.0, "timeout": 600},
    }


def _maxrss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


def child(scenario_file: str, reports: str) -> int:
    """Run the scenario in this process and print one JSON line: peak RSS, RSS before, events, seconds."""
    from harness.runner import run_scenario
    from harness.scenario import resolve

    before = psutil.Process().memory_info().rss
    data = json.loads(Path(scenario_file).read_text())
    start = time.perf_counter()
    result = asyncio.run(run_scenario(resolve(data), reports))
    seconds = time.perf_counter() - start
    with open(result.run_dir / "history.jsonl", "rb") as fh:
        events = sum(1 for _ in fh)
    print(json.dumps({"peak": _maxrss(), "before": before, "events": events, "seconds": seconds,
                      "quiet": result.quiet.reached}))
    return 0


def one_run(clients: int, messages: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        scenario_file = Path(tmp) / "scenario.json"
        scenario_file.write_text(json.dumps(scenario(clients, messages)))
        proc = subprocess.Popen([sys.executable, __file__, "--child", str(scenario_file), tmp],
                                stdout=subprocess.PIPE, text=True)
        others = _sample_children(proc)
        out, _ = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"the measured run exited {proc.returncode}")
    report = json.loads(out.strip().splitlines()[-1])
    report["others"] = others
    return report


def _sample_children(proc: subprocess.Popen[str]) -> dict[str, int]:
    """Peak RSS of the child's own children (server, proxy), sampled until the child exits."""
    peaks: dict[str, int] = {}
    parent = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            for c in parent.children(recursive=True):
                with_name = " ".join(c.cmdline()[1:4])
                name = "reference server" if "reference_server" in with_name else \
                    "embedded proxy" if "harness.proxy" in with_name else with_name
                peaks[name] = max(peaks.get(name, 0), c.memory_info().rss)
        except psutil.Error:
            pass  # a process ended between listing and reading it
        time.sleep(0.2)
    return peaks


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="about how many history events")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=1, help="runs (each takes minutes at full size)")
    parser.add_argument("--quick", action="store_true", help="about 50,000 events")
    parser.add_argument("--child", nargs=2, metavar=("SCENARIO", "REPORTS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(*args.child)
    if args.quick:
        args.events = 50_000
    messages = max(1, math.ceil(args.events / (args.clients * (args.clients + 2))))
    peak = Figure("harness peak RSS (whole run)", [], "MB", at_most=300 * MB, scale=1 / MB)
    before = Figure("harness RSS after imports, before the run", [], "MB", scale=1 / MB)
    growth = Figure("growth during the run", [], "MB", scale=1 / MB)
    events = Figure("history events recorded", [], "events")
    seconds = Figure("run time", [], "s")
    others: dict[str, Figure] = {}
    for _ in range(args.repeat):
        report = one_run(args.clients, messages)
        peak.samples.append(report["peak"])
        before.samples.append(report["before"])
        growth.samples.append(report["peak"] - report["before"])
        events.samples.append(report["events"])
        seconds.samples.append(report["seconds"])
        for name, rss in report["others"].items():
            others.setdefault(name, Figure(f"{name} peak RSS (sampled)", [], "MB", scale=1 / MB)).samples.append(rss)
    print_table(f"memory: a run of {args.clients} clients x {messages:,} messages (baseline, SQLite, embedded "
                f"proxy)", [peak, before, growth, events, seconds, *others.values()], caption=machine())
    return 0


if __name__ == "__main__":
    sys.exit(main())
