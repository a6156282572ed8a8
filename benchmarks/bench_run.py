"""Run overhead: the baseline scenario from `sio-harness run` to its verdict, and where the time goes.

  end to end      `sio-harness run baseline-no-faults` as a subprocess, from spawn to exit (interpreter
                  start, imports, the run, the verdict printed)
  CLI start       `sio-harness list` as a subprocess: interpreter start, imports and the argument parser,
                  the part of the above that is not the run
  in process      `run_scenario` on the same scenario, split into the phases it records in run.json (up,
                  workload, heal, quiet, teardown, check, report), with the steps inside them timed by
                  wrapping the runner's own functions (proxy backend, server, links, clients; closing the
                  clients, stopping the server; writing the report files)
  server ready    the reference server (baseline, SQLite) from spawn to the first 200 of /health

Targets: end to end <= 3 s; server ready <= 0.5 s.

    python benchmarks/bench_run.py [--repeat 5] [--quick] [--scenario baseline-no-faults] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import inspect
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson
from bench_server_ready import one_run as server_ready
from common import Figure, console, machine, print_table

import harness.runner as runner
from harness.databases import sqlite_url
from harness.errors import HarnessError
from harness.scenario import load
from harness.target import ServerHandle

STEPS = (  # (object, attribute, label, phase): steps inside the runner's phases, timed by wrapping them
    (runner.Topology, "start_backend", "proxy backend up", "up"),
    (runner.Topology, "start_server", "server up (spawn to ready)", "up"),
    (runner.Topology, "start_links", "proxy links created", "up"),
    (runner.Topology, "start_clients", "clients connected", "up"),
    (runner.Topology, "close_clients", "clients closed", "teardown"),
    (ServerHandle, "stop", "server stopped (SIGTERM to exit)", "teardown"),
    (runner, "write_run_report", "report files written", "report"),
)


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("sio-harness")
    return [str(script)] if script.exists() else [sys.executable, "-m", "harness.cli"]


def end_to_end(scenario: str, reports: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run([*_cli(), "run", scenario, "--reports", str(reports)], capture_output=True, text=True,
                          check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
        raise HarnessError(f"sio-harness run {scenario} exited {done.returncode}: {last}")
    return elapsed


def cli_start() -> float:
    start = time.perf_counter()
    subprocess.run([*_cli(), "list"], check=True, capture_output=True)
    return time.perf_counter() - start


@contextlib.contextmanager
def _timing(times: dict[str, float]) -> Iterator[None]:
    """Wrap the runner's steps so each adds its duration to `times`; the originals come back after.

    Wrapping the module's own attributes measures the real code path without a copy of the runner.
    """
    saved = []
    for owner, name, label, _ in STEPS:
        original = getattr(owner, name)
        saved.append((owner, name, original))
        setattr(owner, name, _timed(original, label, times))
    try:
        yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


def _timed(fn: Callable[..., Any], label: str, times: dict[str, float]) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                times[label] = times.get(label, 0.0) + time.perf_counter() - start
        return async_wrapper

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            times[label] = times.get(label, 0.0) + time.perf_counter() - start
    return wrapper


async def in_process(scenario_name: str, reports: Path) -> tuple[dict[str, float], dict[str, float]]:
    """Seconds per phase of one `run_scenario` (as it records them in run.json, plus its total), and
    seconds per wrapped step."""
    scenario = load(scenario_name)
    steps: dict[str, float] = {}
    start = time.perf_counter()
    with _timing(steps):
        result = await runner.run_scenario(scenario, reports)
    total = time.perf_counter() - start
    if not result.passed:
        raise HarnessError(f"{scenario_name} failed: {result.outcome.reasons}")
    phases = orjson.loads((result.run_dir / "run.json").read_bytes()).get("phases", {})
    # The runner's last phase (the report) is still open when it writes run.json: it is the rest.
    phases.setdefault("report", total - sum(phases.values()))
    return {"total": total, **phases}, steps


async def measure(scenario: str, repeat: int) -> list[Figure]:
    e2e = Figure("end to end: sio-harness run (subprocess)", [], "s", at_most=3.0)
    imp = Figure("  of which CLI start (sio-harness list)", [], "s")
    phases: dict[str, Figure] = {}
    steps: dict[str, Figure] = {}
    ready = Figure("server spawn to ready (baseline, SQLite)", [], "ms", at_most=0.5, scale=1000)
    with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp:
        reports = Path(tmp)
        # One unmeasured run first, so the first sample does not pay for a cold disk cache.
        await asyncio.to_thread(end_to_end, scenario, reports)
        for i in range(repeat):
            e2e.samples.append(await asyncio.to_thread(end_to_end, scenario, reports))
            imp.samples.append(await asyncio.to_thread(cli_start))
            run_phases, run_steps = await in_process(scenario, reports)
            for label, seconds in run_phases.items():
                phases.setdefault(label, Figure(label, [], "s")).samples.append(seconds)
            for label, seconds in run_steps.items():
                steps.setdefault(label, Figure(f"    {label}", [], "s")).samples.append(seconds)
            ready.samples.append((await server_ready(sqlite_url(reports / f"ready-{i}.db"), "baseline", 0))[0])
    breakdown = []
    for label, figure in phases.items():
        figure.name = "in process: run_scenario" if label == "total" else f"  phase {label}"
        breakdown.append(figure)
        breakdown += [steps[step] for _, _, step, phase in STEPS if phase == label and step in steps]
    return [e2e, imp, *breakdown, ready]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default="baseline-no-faults", help="a bundled scenario name or a file")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="one repetition")
    parser.add_argument("--profile", action="store_true", help="one in-process run under pyinstrument")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeat = 1
    if args.profile:
        return _profile(args.scenario)
    figures = asyncio.run(measure(args.scenario, args.repeat))
    print_table(f"run overhead: {args.scenario} (3 clients x 100 messages, SQLite, embedded proxy); the "
                f"phases add up to the in-process total", figures, caption=machine())
    return 0


def _profile(scenario: str) -> int:
    from pyinstrument import Profiler

    async def go() -> None:
        with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp:
            profiler = Profiler(interval=0.001)
            profiler.start()
            await runner.run_scenario(load(scenario), tmp)
            profiler.stop()
        console.print(profiler.output_text(unicode=True, color=False, show_all=False))

    asyncio.run(go())
    return 0


if __name__ == "__main__":
    sys.exit(main())
