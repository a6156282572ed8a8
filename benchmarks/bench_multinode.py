"""Several nodes: a full run (`run_scenario`: Redis, proxies, history, checker, report) on N nodes against
the same run on one node.

Each run is the baseline profile, SQLite, the embedded proxy, `--clients` python clients sending
`--messages` chat messages each flat out, no faults; every message is broadcast to every client, so a
run makes clients x clients x messages deliveries. With N nodes the clients are dealt round robin and
each broadcast crosses Redis to the other nodes. Figures: deliveries (client `recv` events) per second
over the workload and the wait for quiet, and the run's wall time from scenario to report; the ratios
pair each N-node run with the one-node run made just before it.

    python benchmarks/bench_multinode.py [--nodes 3] [--clients 60] [--messages 50] [--repeat 1] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Figure, machine, print_table, ratio

from harness.runner import run_scenario
from harness.scenario import resolve


def scenario(nodes: int, clients: int, messages: int) -> dict[str, Any]:
    target: dict[str, Any] = {"kind": "reference", "profile": "baseline", "switches": ["--rate-limit", "0"]}
    if nodes > 1:
        target["nodes"] = nodes
    return {"name": f"bench-multinode-{nodes}", "seed": 1, "target": target,
            "clients": {"count": clients}, "workload": {"messages": messages, "rate": 0},
            "quiet": {"settle": 0.5, "timeout": 60}}


async def one(nodes: int, clients: int, messages: int, folder: str) -> tuple[float, float, int]:
    """(deliveries per second, run seconds, deliveries) of one run."""
    result = await run_scenario(resolve(scenario(nodes, clients, messages)), folder)
    run = orjson.loads((result.run_dir / "run.json").read_bytes())
    phases = run["phases"]
    busy = phases.get("workload", 0) + phases.get("heal", 0) + phases.get("quiet", 0)
    with open(result.run_dir / "history.jsonl", "rb") as fh:
        deliveries = sum(1 for line in fh if b'"f":"recv"' in line)
    return deliveries / busy if busy else 0.0, result.seconds, deliveries


async def measure(nodes: int, clients: int, messages: int, repeat: int) -> list[Figure]:
    rates: dict[int, list[float]] = {1: [], nodes: []}
    walls: dict[int, list[float]] = {1: [], nodes: []}
    with tempfile.TemporaryDirectory(prefix="bench-multinode-") as tmp:
        for _ in range(repeat):
            for n in (1, nodes):
                rate, wall, _ = await one(n, clients, messages, tmp)
                rates[n].append(rate)
                walls[n].append(wall)
    one_rate = Figure("deliveries/s, 1 node", rates[1], "/s")
    n_rate = Figure(f"deliveries/s, {nodes} nodes", rates[nodes], "/s")
    one_wall = Figure("run wall time, 1 node", walls[1], "s")
    n_wall = Figure(f"run wall time, {nodes} nodes", walls[nodes], "s")
    return [one_rate, n_rate, ratio(f"throughput, {nodes} nodes / 1", n_rate, one_rate),
            one_wall, n_wall, ratio(f"run overhead, {nodes} nodes / 1", n_wall, one_wall)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_multinode", description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--clients", type=int, default=60)
    parser.add_argument("--messages", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="20 clients x 20 messages, one repetition")
    args = parser.parse_args(argv)
    if args.quick:
        args.clients, args.messages, args.repeat = 20, 20, 1
    figures = asyncio.run(measure(args.nodes, args.clients, args.messages, args.repeat))
    print_table(f"{args.nodes} nodes over Redis vs 1 node: {args.clients} clients x {args.messages} messages, "
                f"baseline, SQLite, embedded proxy, whole run", figures, caption=machine())
    return 0


if __name__ == "__main__":
    sys.exit(main())
