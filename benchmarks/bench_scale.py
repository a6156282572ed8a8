"""Scale: whole runs of 100, 500 and 1,000 clients, their deliveries per second, and whether the verdict was
conclusive (the harness says "harness overloaded" when it could not keep up: docs/reliability.md).

Each run is `run_scenario` on the reference server (exactly-once step, SQLite, rate limit off, embedded proxy
in the harness process), no faults, with the python driver (every page on the harness's one event loop) or
`--driver node` (every page in one Node.js process, `node_process: shared`). Every
message is broadcast to every client, so N clients make N deliveries a message; a few clients send (the
`senders` of the workload) and the rest listen, which keeps the deliveries of a run within a minute.

- **flat out**: `--senders` clients send `--messages` each as fast as they can: the deliveries per second
  the harness and the server carry together at that count (the run is expected to be overloaded);
- **paced**: the same senders at the per-client rate that asks for `--demand` deliveries per second in all,
  their sends spread over the interval (`stagger`): is the verdict conclusive at that count?

Deliveries per second: the clients' `recv` events from the first send to the last delivery.

    python benchmarks/bench_scale.py [--driver python] [--counts 100,500,1000] [--senders 20] [--messages 5]
                                     [--demand 2000] [--seconds 8] [--modes flat,paced] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Figure, console, machine, print_table

from harness.runner import run_scenario
from harness.scenario import resolve


@dataclass
class ScaleRun:
    clients: int
    mode: str
    deliveries: int
    per_second: float
    status: str
    reasons: list[str]
    lag_p99_ms: float
    seconds: float
    phases: dict[str, float]


def scenario(clients: int, senders: int, messages: int, rate: float, driver: str = "python") -> dict[str, Any]:
    page: dict[str, Any] = {"driver": driver, "count": clients}
    if driver == "node":
        page["node_process"] = "shared"
    return {"name": f"bench-scale-{clients}", "seed": 1,
            "target": {"kind": "reference", "profile": "exactly-once", "storage": "sqlite",
                       "switches": ["--rate-limit", "0"]},
            "clients": page,
            "workload": {"messages": messages, "rate": rate, "senders": min(senders, clients), "stagger": True},
            "quiet": {"settle": 1.0, "timeout": 120}}


def paced(clients: int, senders: int, demand: float, seconds: float) -> tuple[float, int]:
    """(per-sender rate, messages per sender) asking for `demand` deliveries/s for about `seconds`."""
    rate = demand / (clients * min(senders, clients))
    return rate, max(2, math.ceil(rate * seconds))


def deliveries_per_second(history: Path) -> tuple[int, float]:
    """(deliveries, deliveries per second from the first send to the last delivery) of a run's history."""
    first_send = last_recv = None
    deliveries = 0
    with history.open("rb") as fh:
        for line in fh:
            if b'"f":"recv"' in line:
                deliveries += 1
                last_recv = orjson.loads(line)["t"]
            elif first_send is None and b'"f":"send"' in line:
                first_send = orjson.loads(line)["t"]
    if not deliveries or first_send is None or last_recv is None or last_recv <= first_send:
        return deliveries, 0.0
    return deliveries, deliveries / ((last_recv - first_send) / 1e9)


async def one(clients: int, mode: str, args: argparse.Namespace, folder: str) -> ScaleRun:
    if mode == "flat":
        rate, messages = 0.0, args.messages
    else:
        rate, messages = paced(clients, args.senders, args.demand, args.seconds)
    result = await run_scenario(resolve(scenario(clients, args.senders, messages, rate, args.driver)), folder)
    deliveries, per_second = deliveries_per_second(result.run_dir / "history.jsonl")
    return ScaleRun(clients, mode, deliveries, per_second, result.outcome.status, result.outcome.reasons,
                    result.harness_load.lag_p99_ms(), result.seconds,
                    orjson.loads((result.run_dir / "run.json").read_bytes())["phases"])


async def measure(args: argparse.Namespace) -> list[ScaleRun]:
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        folder = args.reports or tmp
        for clients in args.counts:
            for mode in args.modes:
                run = await one(clients, mode, args, folder)
                console.print(f"  {clients} clients, {mode}: {run.deliveries} deliveries, "
                              f"{run.per_second:,.0f}/s, {run.status}, loop lag p99 {run.lag_p99_ms:.0f} ms, "
                              f"{run.seconds:.1f} s (up {run.phases.get('up', 0):.1f}, workload "
                              f"{run.phases.get('workload', 0):.1f}, quiet {run.phases.get('quiet', 0):.1f})"
                              + (f" ({'; '.join(run.reasons)})" if run.reasons else ""))
                runs.append(run)
    return runs


def largest_conclusive(runs: Sequence[ScaleRun]) -> int | None:
    """The largest client count whose paced run was conclusive (pass or fail), None when none was."""
    return max((r.clients for r in runs if r.mode == "paced" and r.status != "inconclusive"), default=None)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", default="100,500,1000", help="client counts (default: 100,500,1000)")
    parser.add_argument("--senders", type=int, default=20, help="clients that send (default: 20)")
    parser.add_argument("--messages", type=int, default=5, help="messages per sender flat out (default: 5)")
    parser.add_argument("--demand", type=float, default=2000.0,
                        help="deliveries per second the paced runs ask for (default: 2000)")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of a paced workload (default: 8)")
    parser.add_argument("--modes", default="flat,paced", help="flat, paced or both (default: flat,paced)")
    parser.add_argument("--driver", choices=["python", "node"], default="python",
                        help="python (every page on the harness's loop) or node (every page in one shared "
                             "Node.js process); default python")
    parser.add_argument("--reports", default=None, metavar="DIR",
                        help="keep the run folders there (default: a temporary folder, removed)")
    parser.add_argument("--repeat", type=int, default=1, help="ignored: one run per count and mode")
    parser.add_argument("--quick", action="store_true", help="50 clients, 5 senders, paced only")
    args = parser.parse_args(argv)
    args.counts = [int(c) for c in args.counts.split(",")]
    args.modes = [m for m in args.modes.split(",") if m]
    if any(m not in ("flat", "paced") for m in args.modes):
        parser.error("--modes: flat, paced or flat,paced")
    if args.quick:
        args.counts, args.senders, args.modes, args.seconds = [50], 5, ["paced"], 2.0
    runs = asyncio.run(measure(args))
    figures = [Figure(f"deliveries/s, {r.clients} clients, {r.mode}" + ("" if r.mode == "flat" else
                      f" (asked {args.demand:,.0f}/s)"), [r.per_second], "/s",
                      note=r.status) for r in runs]
    print_table(f"scale: {args.driver} driver, exactly-once, SQLite, embedded proxy, no faults", figures,
                caption=machine())
    largest = largest_conclusive(runs)
    console.print(f"  largest client count with a conclusive verdict (paced at {args.demand:,.0f} deliveries/s): "
                  f"{largest if largest is not None else 'none of ' + ', '.join(map(str, args.counts))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
