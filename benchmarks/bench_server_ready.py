"""How fast the reference server is ready after spawn, and how fast SIGTERM stops it with clients attached.

Spawn-to-ready is measured from just before the process is created to the first 200 from /health (the
harness's own readiness probe, polled every 10 ms). Stop time is SIGTERM to process exit with `--clients`
websocket clients connected. Prints one line per figure; asserts nothing.

    python benchmarks/bench_server_ready.py [--runs 10] [--clients 10] [--profile exactly-once]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import socketio

from harness.databases import sqlite_url
from harness.processes import free_port, start_reference_server


async def one_run(db: str, profile: str, clients: int) -> tuple[float, float]:
    port = free_port()
    started = time.monotonic()
    proc = await start_reference_server(port, db, profile)
    ready = time.monotonic() - started
    sockets = [socketio.AsyncClient(reconnection=False) for _ in range(clients)]
    try:
        for sio in sockets:
            await sio.connect(f"http://127.0.0.1:{port}", transports=["websocket"])
        stop_started = time.monotonic()
        await proc.terminate(grace=5.0)
        stopped = time.monotonic() - stop_started
    finally:
        await proc.kill()
        for sio in sockets:
            await sio.disconnect()
    return ready, stopped


def summary(name: str, values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    return (f"{name}: median {statistics.median(ms):.0f} ms, min {ms[0]:.0f} ms, max {ms[-1]:.0f} ms "
            f"({len(ms)} runs)")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--profile", default="exactly-once")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = sqlite_url(Path(tmp) / "chat.db")
        results = [await one_run(db, args.profile, args.clients) for _ in range(args.runs)]
    print(summary(f"spawn to ready ({args.profile}, sqlite)", [r for r, _ in results]))
    print(summary(f"SIGTERM to exit with {args.clients} websocket clients", [s for _, s in results]))


if __name__ == "__main__":
    asyncio.run(main())
