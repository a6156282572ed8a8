"""Run overhead: the baseline scenario from `sio-harness run` to its verdict, and where the time goes.

  end to end      `sio-harness run baseline-no-faults` as a subprocess, from spawn to exit (interpreter
                  start, imports, the run, the verdict printed)
  imports         `python -c "import harness.cli, harness.commands.run"`: the part of the above that is
                  not the run
  in process      `run_scenario` on the same scenario, split at its stages: proxy up, server up, links,
                  clients connected, workload, heal, quiet + teardown (includes the settle window, closing
                  the clients, stopping the server, reading the rows), check, report
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

from bench_server_ready import one_run as server_ready  # noqa: E402
from common import Figure, console, machine, print_table  # noqa: E402

import harness.runner as runner  # noqa: E402
from harness.databases import sqlite_url  # noqa: E402
from harness.scenario import load  # noqa: E402

STEPS = (  # (object, attribute, label): the runner's steps timed by wrapping them
    (runner.Topology, "start_backend", "proxy backend up"),
    (runner.Topology, "start_server", "server up (spawn to ready)"),
    (runner.Topology, "start_links", "proxy links created"),
    (runner.Topology, "start_clients", "clients connected"),
    (runner, "check_run", "check"),
    (runner, "write_run_report", "report"),
)
STAGES = {  # the runner's progress messages, by their first word -> the stage that begins there
    "workload:": "workload", "healing": "heal", "waiting": "quiet + teardown", "checking": "check + report",
}


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("sio-harness")
    return [str(script)] if script.exists() else [sys.executable, "-m", "harness.cli"]


def end_to_end(scenario: str, reports: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run([*_cli(), "run", scenario, "--reports", str(reports)], capture_output=True, text=True,
                          check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"sio-harness run {scenario} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return elapsed


def imports() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import harness.cli, harness.commands.run"], check=True)
    return time.perf_counter() - start


@contextlib.contextmanager
def _timing(times: dict[str, float]) -> Iterator[None]:
    """Wrap the runner's steps so each adds its duration to `times`; the originals come back after.

    Wrapping the module's own attributes measures the real code path without a copy of the runner.
    """
    saved = []
    for owner, name, label in STEPS:
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


async def in_process(scenario_name: str, reports: Path) -> dict[str, float]:
    """Seconds per stage of one `run_scenario`, and its total."""
    scenario = load(scenario_name)
    times: dict[str, float] = {}
    marks: list[tuple[str, float]] = []

    def progress(message: str) -> None:
        marks.append((STAGES.get(message.split(" ", 1)[0], "topology up"), time.perf_counter()))

    start = time.perf_counter()
    with _timing(times):
        result = await runner.run_scenario(scenario, reports, progress=progress)
    end = time.perf_counter()
    if not result.passed:
        raise RuntimeError(f"{scenario_name} failed: {result.unmet}")
    for (stage, at), (_, until) in zip(marks, [*marks[1:], ("end", end)]):
        times[stage] = until - at
    times["total"] = end - start
    return times


async def measure(scenario: str, repeat: int) -> list[Figure]:
    e2e = Figure("end to end: sio-harness run (subprocess)", [], "s", at_most=3.0)
    imp = Figure("  of which interpreter start + imports", [], "s")
    stages: dict[str, Figure] = {}
    ready = Figure("server spawn to ready (baseline, SQLite)", [], "ms", at_most=0.5, scale=1000)
    with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp:
        reports = Path(tmp)
        # One unmeasured run first, so the first sample does not pay for a cold disk cache.
        await asyncio.to_thread(end_to_end, scenario, reports)
        for i in range(repeat):
            e2e.samples.append(await asyncio.to_thread(end_to_end, scenario, reports))
            imp.samples.append(await asyncio.to_thread(imports))
            for label, seconds in (await in_process(scenario, reports)).items():
                stages.setdefault(label, Figure(label, [], "s")).samples.append(seconds)
            ready.samples.append((await server_ready(sqlite_url(reports / f"ready-{i}.db"), "baseline", 0))[0])
    order = {"total": "in process: run_scenario", "topology up": "  topology up",
             "proxy backend up": "    proxy backend up", "server up (spawn to ready)": "    server up",
             "proxy links created": "    proxy links created", "clients connected": "    clients connected",
             "workload": "  workload", "heal": "  heal", "quiet + teardown": "  quiet + teardown",
             "check": "  check", "report": "  report"}
    breakdown = []
    for label, name in order.items():
        if label in stages:
            stages[label].name = name
            breakdown.append(stages[label])
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
                f"in-process stages add up to its total", figures, caption=machine())
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
