"""`sio-harness soak`: N consecutive runs of one step under the full fault mix; counts false alarms.

Every run uses the same mix (a disconnect, a partition, a lost ack, a latency spike, a database outage, a
server crash and a graceful restart, each placed by a send-count trigger drawn from the run's seed), so
consecutive runs put the faults at different points. Against `exactly-once`, the step that promises
everything, any violation is either a harness false alarm or a real bug: the target is 0 of 30.
Each run's outcome is `harness.outcome`'s. Exit 0 when every run passed, 1 when a run failed (violated
the step's promise), else 3 when a run was inconclusive (never quiet, a fault that never fired); each
such run's folder is printed.

`--suite [PATH]` runs the guarantee suite instead (`pytest scenarios/` by default) `--runs` times, with
`--load K` CPU-burning processes beside it, and prints the failures per cell (harness.flake); exit 0 when
no cell failed in any run.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from harness.scenario import resolve
from harness.steps import ACKING, PROMISES, STEPS


def mix(profile: str, storage: str, seed: int) -> dict[str, Any]:
    """The full fault mix as one scenario: 3 clients x 40 messages at 40/s, faults spread over the sends."""
    def after(low: int, high: int, client: str = "any") -> dict[str, Any]:
        return {"after_sends": {"client": client, "n": [low, high]}}

    acks = profile in ACKING
    faults: list[dict[str, Any]] = [
        {"kind": "disconnect", "target": "any", "trigger": after(6, 8), "duration": [0.1, 0.4]},
        {"kind": "partition", "target": "any", "trigger": after(9, 14), "duration": [0.2, 0.8]},
        {"kind": "latency", "target": "all", "trigger": after(15, 18), "duration": [0.2, 0.5],
         "params": {"latency": 100, "jitter": 50}},
        {"kind": "db_outage", "trigger": after(19, 23), "duration": [0.2, 0.6]},
        {"kind": "server_crash", "trigger": after(24, 28), "duration": [0.1, 0.4]},
        {"kind": "server_restart", "trigger": after(30, 34)},
    ]
    if acks:
        # First in the run: a frame toxic counts the frames of the connection it watches, and the faults
        # after it replace that connection.
        faults.insert(0, {"kind": "ack_drop", "target": "c1", "trigger": {"frame": {"sio_type": "ACK", "nth": [2, 4]}},
                       "params": {"count": 1}})
    return {"name": f"soak-{profile}", "seed": seed,
            "target": {"kind": "reference", "profile": profile, "storage": storage},
            "proxy": "embedded",
            "clients": {"count": 3, **({"ack_timeout": 0.5, "retries": 10} if acks else {})},
            "workload": {"messages": 40, "rate": 40}, "faults": faults,
            "expectations": {"guarantees": [*PROMISES[profile], "no-phantoms"]},
            "quiet": {"settle": 0.3, "timeout": 20.0}}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=int, default=30, help="consecutive runs (default 30)")
    parser.add_argument("--profile", choices=STEPS, default="exactly-once")
    parser.add_argument("--storage", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--seed", type=int, default=1, help="seed of the first run; run i uses seed + i")
    parser.add_argument("--reports", default="reports/soak", help="folder for the run folders")
    parser.add_argument("--suite", nargs="?", const="scenarios", metavar="PATH",
                        help="run the guarantee suite (default scenarios/) --runs times instead, and print "
                             "failures per cell")
    parser.add_argument("--load", type=int, default=0, metavar="K",
                        help="with --suite: K CPU-burning processes beside the runs (default 0)")
    parser.add_argument("-k", dest="select", metavar="EXPR", help="with --suite: pytest -k, to run some cells")


async def run(args: argparse.Namespace) -> int:
    from harness.errors import HarnessError
    from harness.runner import run_scenario

    if args.runs < 1:
        raise HarnessError("--runs must be at least 1")
    if args.suite is not None:
        return await _suite(args)
    if args.load or args.select:
        raise HarnessError("--load and -k go with --suite")
    violations: list[str] = []
    inconclusive: list[str] = []
    for i in range(args.runs):
        scenario = resolve(mix(args.profile, args.storage, args.seed + i), source="soak mix")
        result = await run_scenario(scenario, Path(args.reports))
        outcome = result.outcome
        status = {"pass": "ok", "fail": "VIOLATION", "inconclusive": "INCONCLUSIVE"}[outcome.status]
        if outcome.reasons:
            status += ": " + "; ".join(outcome.reasons)
        print(f"run {i + 1}/{args.runs} seed {scenario.seed} {result.seconds:.1f}s {status}", flush=True)
        line = f"{result.run_dir} (replay: {result.replay_command})"
        if outcome.status == "fail":
            violations.append(line)
        elif outcome.status == "inconclusive":
            inconclusive.append(line)
    print(f"{len(violations)} of {args.runs} runs of {args.profile} under the full fault mix reported a violation"
          + (f", {len(inconclusive)} were inconclusive" if inconclusive else ""))
    for line in violations:
        print(f"  violation: {line}")
    for line in inconclusive:
        print(f"  inconclusive: {line}")
    return 1 if violations else 3 if inconclusive else 0


async def _suite(args: argparse.Namespace) -> int:
    from harness import flake
    from harness.errors import HarnessError

    if args.load < 0:
        raise HarnessError("--load must be 0 or more")
    if not Path(args.suite).exists():
        raise HarnessError(f"--suite {args.suite}: no such file or folder")
    pytest_args = ["-k", args.select] if args.select else []
    runs = f"{args.runs} run{'s' if args.runs != 1 else ''}"
    burners = f"{args.load} CPU-burning process{'es' if args.load != 1 else ''}"
    print(f"{runs} of pytest {args.suite} with {burners} beside it", flush=True)
    folder = Path(args.reports) / time.strftime("suite-%Y%m%d-%H%M%S")
    result = await flake.campaign(args.suite, args.runs, args.load, folder, pytest_args,
                                  on_run=lambda run: print(flake.summary_line(run), flush=True))
    print(flake.failure_table(result))
    print(f"junit XML and run folders: {folder}")
    for run in result.broken_runs:
        print(f"run {run.index} ended with exit {run.exit_code} and no failing cell: see {run.log}")
    return 1 if result.failures() or result.broken_runs else 0
