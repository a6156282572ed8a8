"""Load: 20 clients broadcasting through the embedded proxy with history on, against the same without the proxy.

Each of `--clients` harness python drivers (the runner's default client) sends `--messages` chat messages
flat out, as the runner's workload does; the reference server (baseline profile, SQLite, no rate limit)
stores each and broadcasts it to every client, so a run makes clients x clients x messages deliveries.
Three paths: through the embedded proxy in the harness's own process and event loop (as `sio-harness run`
starts it), through the embedded proxy as a process of its own, and straight to the server.
"History on" means exactly what a run does: every observation of every client (sends, receipts,
connects) is appended to a history file by the harness's `HistoryWriter`, one unbuffered write per event.
The figure is deliveries (client `recv` events) per second, from the first send to the last delivery;
the two paths alternate within each repetition so they see the same machine load.

    python benchmarks/bench_load.py [--clients 20] [--messages 200] [--repeat 3] [--quick] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Figure, console, machine, print_table, ratio

from harness.clients import make_driver
from harness.databases import sqlite_url
from harness.history import HistoryWriter, OpType
from harness.processes import free_port, start_reference_server
from harness.proxy.backends import start_proxy_backend
from harness.scenario import ClientSettings

BROWSER_DELAYS = ClientSettings(reconnection_delay=1.0, reconnection_delay_max=5.0)
"""socket.io-client's own reconnection delays: a page that drops under load comes back as a browser's would."""

DELIVERY_TIMEOUT = 120.0


class CountingHistory(HistoryWriter):
    """The run's history writer, which also announces when the expected number of deliveries is in."""

    def __init__(self, path: Path, expected: int) -> None:
        super().__init__(path)
        self.expected = expected
        self.deliveries = 0
        self.all_in = asyncio.Event()

    def append(self, proc: str, type_: OpType, f: str, value: dict[str, Any] | None = None,
               t: int | None = None) -> dict[str, Any]:
        event = super().append(proc, type_, f, value, t)
        if f == "recv":
            self.deliveries += 1
            if self.deliveries >= self.expected:
                self.all_in.set()
        return event


async def _client(driver: Any, messages: int) -> None:
    for _ in range(messages):
        await driver.send("")
        # As the runner's workload does: let the other clients and the loop run between sends.
        await asyncio.sleep(0)


PATHS = {  # figure name -> where the proxy runs (None: no proxy)
    "through embedded proxy, in process (as a run)": "in-process",
    "through embedded proxy, own process": "process",
    "direct (no proxy)": None,
}


@dataclass
class Result:
    rate: float
    """deliveries per second"""
    deliveries: int
    harness_cpu: float
    """CPU seconds of this process (all threads, the in-process proxy included) while it ran"""
    server_cpu: float


async def one_run(tmp: Path, clients: int, messages: int, proxy: str | None) -> Result:
    """One run of the workload. CPU times are the steadier figures on a shared machine: other processes
    stretch the wall clock, much less the work done."""
    run_dir = Path(tempfile.mkdtemp(dir=tmp))
    port = free_port()
    server = await start_reference_server(port, sqlite_url(run_dir / "chat.db"), "baseline",
                                          extra=["--rate-limit", "0"], log_path=run_dir / "server.log")
    backend = None
    drivers = []
    history = CountingHistory(run_dir / "history.jsonl", clients * clients * messages)
    try:
        urls = [f"http://127.0.0.1:{port}"] * clients
        if proxy:
            backend = await start_proxy_backend("embedded", seed=1, in_process=proxy == "in-process")
            urls = []
            for i in range(clients):
                info = await backend.control.create_proxy(f"load-c{i}", listen="127.0.0.1:0",
                                                          upstream=f"127.0.0.1:{port}")
                urls.append(f"http://{info['listen']}")
        for i, url in enumerate(urls, start=1):
            drivers.append(make_driver("python", f"c{i}", BROWSER_DELAYS, history, url=url, seed=i))
        await asyncio.gather(*(d.start() for d in drivers))
        server_times = psutil.Process(server.pid).cpu_times()
        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(_client(d, messages) for d in drivers))
        try:
            await asyncio.wait_for(history.all_in.wait(), DELIVERY_TIMEOUT)
        except TimeoutError:
            pass
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        after = psutil.Process(server.pid).cpu_times()
        server_cpu = after.user + after.system - server_times.user - server_times.system
        return Result(history.deliveries / elapsed, history.deliveries, cpu, server_cpu)
    finally:
        for d in drivers:
            await d.close()
        history.close()
        if backend:
            await backend.stop()
        await server.terminate()


async def measure(clients: int, messages: int, repeat: int) -> tuple[list[Figure], list[str]]:
    figures = {name: Figure(name, [], "deliveries/s", at_least=10_000 if proxy else None)
               for name, proxy in PATHS.items()}
    short_names = {name: name.split(" (")[0].replace("through ", "") for name in PATHS}
    cpu = {name: Figure(f"harness CPU per delivery: {short_names[name]}", [], "us", scale=1e6) for name in PATHS}
    server_cpu = Figure("server CPU per delivery (all paths)", [], "us", scale=1e6)
    short = []
    expected = clients * clients * messages
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        for _ in range(repeat):
            for name, proxy in PATHS.items():
                result = await one_run(Path(tmp), clients, messages, proxy)
                figures[name].samples.append(result.rate)
                cpu[name].samples.append(result.harness_cpu / max(result.deliveries, 1))
                server_cpu.samples.append(result.server_cpu / max(result.deliveries, 1))
                if result.deliveries < expected:
                    short.append(f"{name}: {result.deliveries:,} of {expected:,} deliveries within "
                                 f"{DELIVERY_TIMEOUT:g} s")
    direct = figures["direct (no proxy)"]
    ratios = [ratio(f"{name.replace('through embedded proxy', 'proxied')} / direct", figures[name], direct,
                    at_least=0.8) for name, proxy in PATHS.items() if proxy]
    return [*figures.values(), *ratios, *cpu.values(), server_cpu], short


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--messages", type=int, default=200, help="messages each client sends")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="5 clients x 20 messages, one repetition")
    parser.add_argument("--profile", action="store_true",
                        help="one run through the in-process proxy under pyinstrument: where the harness "
                             "process spends its time")
    args = parser.parse_args(argv)
    if args.quick:
        args.clients, args.messages, args.repeat = 5, 20, 1
    if args.profile:
        return _profile(args)
    figures, short = asyncio.run(measure(args.clients, args.messages, args.repeat))
    print_table(f"load: {args.clients} clients x {args.messages} messages = "
                f"{args.clients * args.clients * args.messages:,} deliveries per run, history on",
                figures, caption=machine())
    for line in short:
        console.print(f"[yellow]short:[/] {line}")
    return 0


def _profile(args: argparse.Namespace) -> int:
    from pyinstrument import Profiler

    async def go() -> None:
        with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
            profiler = Profiler(interval=0.001, async_mode="disabled")
            profiler.start()
            result = await one_run(Path(tmp), args.clients, args.messages, "in-process")
            profiler.stop()
        console.print(profiler.output_text(unicode=True, color=False, show_all=False))
        console.print(f"{result.rate:,.0f} deliveries/s ({result.deliveries:,} deliveries)")

    asyncio.run(go())
    return 0


if __name__ == "__main__":
    sys.exit(main())
