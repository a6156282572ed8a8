"""What the browser driver costs: pages started per second, messages per second per page, memory per page,
and a whole `sio-harness run` of 4 pages x 40 messages (target: under 15 s).

Each repetition starts one Chromium, opens `--pages` pages of the tutorial's page on the reference server
(exactly-once step, through no proxy), has every page type `--messages` messages as fast as it can, and
reads the memory (PSS) of Chromium's whole process tree before and after the pages opened. The run
figure is the scenario runner end to end (server, proxy links, pages, workload, quiet, check, report).

    python benchmarks/bench_browser.py [--repeat 3] [--pages 4] [--messages 40] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Figure, machine, print_table

from harness.clients import make_driver
from harness.clients.browser_driver import BrowserDriver, SharedBrowser
from harness.databases import sqlite_url
from harness.history import HistoryWriter
from harness.processes import free_port, start_reference_server
from harness.runner import run_scenario
from harness.scenario import ClientSettings, resolve

EXACTLY_ONCE = ClientSettings(ack=True, ack_timeout=1.0, retries=3, retry_mode="queue", client_offset="socket-id")


def tree_pss(pid: int) -> int:
    """Proportional set size of a process and all its descendants (Chromium's renderers, GPU, network):
    each shared page counted once across them, which summing RSS would count in every process."""
    root = psutil.Process(pid)
    total = 0
    for proc in [root, *root.children(recursive=True)]:
        try:
            total += proc.memory_full_info().pss
        except psutil.NoSuchProcess:
            pass
    return total


async def one_run(pages: int, messages: int, tmp: Path) -> dict[str, float]:
    port = free_port()
    server = await start_reference_server(port, sqlite_url(tmp / f"chat-{port}.db"), "exactly-once")
    history = HistoryWriter(tmp / f"history-{port}.jsonl")
    shared = await SharedBrowser.acquire()  # held so the drivers share this one and its launch is timed apart
    drivers: list[BrowserDriver] = []
    try:
        assert shared._process is not None
        bare = tree_pss(shared._process.pid)
        started = time.monotonic()
        for i in range(1, pages + 1):
            driver = make_driver("browser", f"c{i}", EXACTLY_ONCE, history, url=f"http://127.0.0.1:{port}")
            assert isinstance(driver, BrowserDriver)
            drivers.append(driver)
        await asyncio.gather(*(d.start() for d in drivers))
        start_s = time.monotonic() - started
        loaded = tree_pss(shared._process.pid)

        async def type_all(driver: BrowserDriver) -> float:
            t0 = time.monotonic()
            for _ in range(messages):
                await driver.send("x")
            return time.monotonic() - t0

        typed = await asyncio.gather(*(type_all(d) for d in drivers))
        return {"pages_per_s": pages / start_s, "msgs_per_s": messages / max(typed),
                "mb_per_page": (loaded - bare) / pages / 2**20}
    finally:
        for driver in drivers:
            await driver.close()
        await shared.release()
        history.close()
        await server.terminate()


async def one_scenario(pages: int, messages: int, reports: Path) -> float:
    scenario = resolve({"name": "bench-browser", "seed": 1, "target": {"profile": "exactly-once"},
                        "clients": {"driver": "browser", "count": pages}, "workload": {"messages": messages}})
    started = time.monotonic()
    result = await run_scenario(scenario, reports)
    if not result.passed:
        raise SystemExit(f"the benchmark run failed: {result.unmet} ({result.run_dir})")
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pages", type=int, default=4)
    parser.add_argument("--messages", type=int, default=40)
    parser.add_argument("--quick", action="store_true", help="2 pages x 5 messages, one run")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeat, args.pages, args.messages = 1, 2, 5
    figures = {"pages_per_s": Figure(f"pages started per second ({args.pages} at once)", [], "pages/s"),
               "msgs_per_s": Figure(f"messages typed per second per page ({args.pages} pages)", [], "msg/s"),
               "mb_per_page": Figure("memory per page (PSS of Chromium's process tree)", [], "MB")}
    run_figure = Figure(f"`sio-harness run`: {args.pages} pages x {args.messages} messages", [], "s",
                        at_most=None if args.quick else 15.0)
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            for key, value in asyncio.run(one_run(args.pages, args.messages, Path(tmp))).items():
                figures[key].samples.append(value)
            run_figure.samples.append(asyncio.run(one_scenario(args.pages, args.messages, Path(tmp) / "reports")))
    print_table(f"browser driver: medians of {args.repeat} runs", [*figures.values(), run_figure],
                caption=machine())
    return 0 if run_figure.met is not False else 1


if __name__ == "__main__":
    sys.exit(main())
