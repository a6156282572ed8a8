"""Acknowledged messages a second through the reference server, and the send-to-ack latency.

`--clients` python-socketio clients each send `--messages` messages one at a time and wait for each
ack (the tutorial's retries queue keeps one message in flight), against one server process. The
storage is SQLite, plus PostgreSQL when SIO_HARNESS_POSTGRES_DSN is set. Prints one line per storage.

    python benchmarks/bench_server_throughput.py [--clients 10] [--messages 100] [--profile exactly-once]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import socketio

from harness.databases import fresh_postgres_database, sqlite_url
from harness.processes import free_port, start_reference_server


async def one_client(url: str, name: str, messages: int, latencies: list[float]) -> None:
    sio = socketio.AsyncClient(reconnection=False)
    await sio.connect(url, transports=["websocket"], auth={"serverOffset": 0})
    try:
        for seq in range(messages):
            started = time.monotonic()
            await sio.call("chat message", (f"{name}:{seq}", f"{name}-{seq}"), timeout=10)
            latencies.append(time.monotonic() - started)
    finally:
        await sio.disconnect()


@contextlib.asynccontextmanager
async def database(kind: str, tmp: Path) -> AsyncIterator[str]:
    if kind == "sqlite":
        yield sqlite_url(tmp / "chat.db")
    else:
        async with fresh_postgres_database(os.environ["SIO_HARNESS_POSTGRES_DSN"]) as dsn:
            yield dsn


async def measure(kind: str, profile: str, clients: int, messages: int) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        async with database(kind, Path(tmp)) as db:
            port = free_port()
            proc = await start_reference_server(port, db, profile)
            latencies: list[float] = []
            try:
                started = time.monotonic()
                await asyncio.gather(*(one_client(f"http://127.0.0.1:{port}", f"c{i}", messages, latencies)
                                       for i in range(clients)))
                elapsed = time.monotonic() - started
            finally:
                await proc.terminate()
    ms = sorted(v * 1000 for v in latencies)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return (f"{kind:8} {profile}: {len(ms) / elapsed:.0f} acked messages/s with {clients} clients; "
            f"send->ack p50 {statistics.median(ms):.1f} ms, p99 {p99:.1f} ms, max {ms[-1]:.1f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--profile", default="exactly-once")
    args = parser.parse_args()
    kinds = ["sqlite"] + (["postgres"] if os.environ.get("SIO_HARNESS_POSTGRES_DSN") else [])
    for kind in kinds:
        print(await measure(kind, args.profile, args.clients, args.messages), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
