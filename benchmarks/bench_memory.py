"""Memory: the peak RSS of the harness process during a run that records about 1,000,000 events.

The run is a real one (`run_scenario`): 20 python clients on the baseline profile, SQLite, the embedded
proxy, no faults, enough messages that the history reaches `--events` lines (each message makes one
`invoke`, one `info` no-ack and one `recv` per client), then the check and the report. It runs in a child
process (this file with `--child`), which reports its own peak RSS (the kernel's high-water mark `VmHWM`,
exact, read after the report is written), its RSS after its imports, before the run, and the peak RSS
seen in each stage of the run (sampled every 50 ms, stages as the runner announces them), which says where
the peak is reached. The reference server is a separate process; its peak RSS, sampled every 0.2 s with
psutil, is shown for context (the embedded proxy runs inside the harness process, as in any run).

Target: the harness's peak <= 300 MB, i.e. the history is streamed to disk and read back as a stream.

    python benchmarks/bench_memory.py [--events 1000000] [--clients 20] [--repeat 1] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Figure, console, machine, print_table

from harness.errors import HarnessError

MB = 1024 * 1024


def scenario(clients: int, messages: int) -> dict[str, Any]:
    return {
        "name": "bench-memory", "seed": 1,
        # The flood fires each client's messages at once, past the server's per-connection rate limit
        # (bursts of 1000, then 500/s): on an idle machine the server read them fast enough to refuse
        # about 18,000 of 45,460, silently (no acks at this step), and the run ended short of its events
        # (docs/reliability.md). The benchmark measures the harness, so the limit is off.
        "target": {"kind": "reference", "profile": "baseline", "storage": "sqlite",
                   "switches": ["--rate-limit", "0"]},
        "proxy": "embedded",
        "clients": {"driver": "python", "count": clients},
        "workload": {"messages": messages},
        "faults": [],
        "expectations": {"guarantees": []},
        # A million events take minutes to deliver. With no acks the harness cannot know what is still in
        # flight, so quiet means "nothing received for `settle` s": long enough to outlast a stalled server
        # on a busy machine (1 s did not: once a run ended with 45,000 sends unstored).
        "quiet": {"settle": 5.0, "timeout": 600},
    }


def peak_rss() -> int:
    """This process's peak RSS in bytes.

    Not `getrusage().ru_maxrss`: Linux carries that across fork and exec, so a child started by a big
    parent (`sio-harness bench all` after the checker held a million events) would report the parent's peak.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise HarnessError("no VmHWM in /proc/self/status: the memory benchmark needs Linux")


def child(scenario_file: str, reports: str) -> int:
    """Run the scenario in this process and print one JSON line: peak RSS, RSS before, events, seconds."""
    from harness.runner import run_scenario
    from harness.scenario import resolve

    me = psutil.Process()
    before = me.memory_info().rss
    stages: dict[str, int] = {}
    stage = ["start"]
    tasks = [0]
    loops: list[asyncio.AbstractEventLoop] = []
    done = threading.Event()

    def sample() -> None:
        # A thread, not a task: it keeps sampling while the event loop is busy or blocked in the check.
        while not done.wait(0.05):
            rss = me.memory_info().rss
            stages[stage[0]] = max(stages.get(stage[0], 0), rss)
            # Tasks waiting to run hold received packets: a backlog there is memory growing with the run.
            with contextlib.suppress(RuntimeError):  # the task set changed while it was counted
                tasks[0] = max(tasks[0], len(asyncio.all_tasks(loops[0]))) if loops else 0

    async def measured() -> Any:
        loops.append(asyncio.get_running_loop())
        return await run_scenario(resolve(data), reports, progress=lambda text: stage.__setitem__(0, text))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    data = json.loads(Path(scenario_file).read_text())
    start = time.perf_counter()
    result = asyncio.run(measured())
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    with open(result.run_dir / "history.jsonl", "rb") as fh:
        events = sum(1 for _ in fh)
    counts = {k: v for k, v in result.verdict.counts.items() if v}
    print(json.dumps({"peak": peak_rss(), "before": before, "events": events, "seconds": seconds,
                      "quiet": result.quiet.reached, "stages": stages, "verdict": counts, "tasks": tasks[0],
                      "unstored": counts.get("abandoned", 0) + counts.get("indeterminate", 0)}))
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
        raise HarnessError(f"the measured run exited {proc.returncode}")
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
    stages: dict[str, Figure] = {}
    others: dict[str, Figure] = {}
    notes = []
    for _ in range(args.repeat):
        report = one_run(args.clients, messages)
        peak.samples.append(report["peak"])
        before.samples.append(report["before"])
        growth.samples.append(report["peak"] - report["before"])
        events.samples.append(report["events"])
        seconds.samples.append(report["seconds"])
        for name, rss in report["stages"].items():
            figure = stages.setdefault(name, Figure(f"  peak while {name} (sampled)", [], "MB", scale=1 / MB))
            figure.samples.append(rss)
        expected = messages * args.clients * (args.clients + 2)
        if report["events"] < 0.99 * expected:
            console.print(f"[yellow]short run:[/] {report['events']:,} of {expected:,} events recorded; "
                          f"this run's peak is not the figure for {args.events:,} events")
        if report["unstored"]:
            console.print(f"[yellow]{report['unstored']:,} messages never stored[/] (the server refused or "
                          f"dropped them; see its log in the run folder)")
        notes.append(f"run {len(notes) + 1}: quiet {'reached' if report['quiet'] else 'NOT reached'}; "
                     f"at most {report['tasks']:,} asyncio tasks at once; verdict {report['verdict'] or 'none'}")
        for name, rss in report["others"].items():
            others.setdefault(name, Figure(f"{name} peak RSS (sampled)", [], "MB", scale=1 / MB)).samples.append(rss)
    print_table(f"memory: a run of {args.clients} clients x {messages:,} messages (baseline, SQLite, embedded "
                f"proxy)", [peak, *stages.values(), before, growth, events, seconds, *others.values()],
                caption=machine())
    for line in notes:
        console.print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
