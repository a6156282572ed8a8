"""`sio-harness bench [checker|proxy|run|load|memory|suite|multinode|browser|detect|scale|all]`: run the benchmark
programs, print their figures.

The programs live in the checkout's `benchmarks/` folder (each also runs alone: `python benchmarks/bench_X.py`);
this command imports them from there and calls their `main(argv)`. Every figure is the median of several
runs with the min and max beside it, next to its target (docs/performance.md). `all` ends with one table of
every figure that has a target.
"""

from __future__ import annotations

import argparse
import importlib
import shlex
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from harness.errors import HarnessError

BENCHMARKS = {
    "checker": "checker throughput against orjson parsing the same history",
    "proxy": "direct vs the real Toxiproxy vs the embedded proxy: round trips and a large transfer",
    "run": "the baseline scenario from `sio-harness run` to verdict, by stage; server spawn to ready",
    "load": "20 clients broadcasting through the embedded proxy with history on, vs without the proxy",
    "memory": "peak RSS of the harness during a run that records about 1,000,000 events",
    "suite": "wall time of `pytest scenarios/` per backend combination (--combos), serially and with -n 2",
    "multinode": "a run on 3 nodes over Redis (60 clients x 50 messages) against the same on one node",
    "browser": "the browser driver: pages started per second, messages per second per page, memory per page",
    "detect": "per mutant, `explore`'s seconds and runs to the first violation, shrunk size, reproduction",
    "scale": "runs of 100, 500 and 1,000 clients: deliveries/s, and the largest count with a conclusive verdict",
}
SEPARATE = ("detect", "scale")
"""Benchmarks `all` leaves out: detect runs 3 explorations of 90 s per mutant (about half an hour), scale six
runs of up to 1,000 clients (about 5 minutes)."""
QUICK_PROXY = ["--pings", "200", "--mbytes", "10"]


class BenchmarksNotFound(HarnessError):
    """The benchmark programs ship with the source checkout, not with an installed package."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = "benchmarks:\n" + "\n".join(f"  {k:<8} {v}" for k, v in BENCHMARKS.items()) + \
        "\n  all      each in turn but detect, then every figure that has a target" \
        "\n\nfigures and targets: docs/performance.md"
    parser.add_argument("which", nargs="?", default="all", choices=[*BENCHMARKS, "all"],
                        help="the benchmark to run (default: all)")
    parser.add_argument("--repeat", type=int, default=None, metavar="N",
                        help="runs of each figure (default: each benchmark's own, 3 or 5; 1 for memory and suite)")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes and one run: checks that the benchmarks work, not figures to quote")
    parser.add_argument("--options", default="", metavar="'ARGS'",
                        help="further options for the one benchmark named, e.g. --options='--events 20000' "
                             "(see python benchmarks/bench_NAME.py --help)")


def benchmarks_dir() -> Path:
    folder = Path(__file__).resolve().parents[2] / "benchmarks"
    if not (folder / "common.py").exists():
        raise BenchmarksNotFound(f"no benchmarks/ folder next to the harness package ({folder}): "
                                 f"`sio-harness bench` runs from a source checkout (git clone, then make setup)")
    return folder


def load_benchmark(name: str) -> ModuleType:
    """`benchmarks/bench_<name>.py`, or `benchmarks/common.py` for "common"."""
    folder = str(benchmarks_dir())
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module(name if name == "common" else f"bench_{name}")


def run(args: argparse.Namespace) -> int:
    if args.repeat is not None and args.repeat < 1:
        raise HarnessError("--repeat must be at least 1")
    names = [n for n in BENCHMARKS if n not in SEPARATE] if args.which == "all" else [args.which]
    if args.options and len(names) > 1:
        raise HarnessError("--options goes with one named benchmark, not `all`")
    try:
        options = shlex.split(args.options)
    except ValueError as exc:
        raise HarnessError(f"--options {args.options!r}: {exc}") from None
    common = load_benchmark("common")
    status = 0
    for name in names:
        common.console.rule(f"bench {name}")
        argv = (["--quick"] if args.quick else []) + options
        if name == "proxy":
            status |= proxy(argv, args.repeat or (1 if args.quick else 3), common)
            continue
        if args.repeat is not None:
            argv += ["--repeat", str(args.repeat)]
        status |= load_benchmark(name).main(argv) or 0
    if len(names) > 1:
        summary(common, args.quick)
    return status


def proxy(argv: list[str], repeat: int, common: Any) -> int:
    """Run bench_proxy `repeat` times, printing its table each run, then table its figures as medians."""
    if "--quick" in argv:
        argv = [a for a in argv if a != "--quick"] + QUICK_PROXY
    module = load_benchmark("proxy")
    args = module.parse_args(argv)
    runs = []
    for _ in range(repeat):
        rows = module.measure(args)
        print(module.table(rows, args))
        runs.append(rows)
    common.print_table(f"proxy: medians of {repeat} runs of bench_proxy", proxy_figures(runs, common),
                       caption=common.machine())
    return 0


def proxy_figures(runs: list[list[dict[str, Any]]], common: Any) -> list[Any]:
    """From bench_proxy's rows of each run: the RTT medians, the throughputs (a figure per path, a sample per
    run), then the embedded proxy's ratios to the real Toxiproxy taken run for run, when both were measured."""
    rtt: dict[str, Any] = {}
    rate: dict[str, Any] = {}
    for rows in runs:
        for row in rows:
            path = row["path"]
            rtt.setdefault(path, common.Figure(f"RTT median: {path}", [], "us")).samples.append(row["rtt_median_us"])
            rate.setdefault(path, common.Figure(f"throughput: {path}", [], "MB/s")).samples.append(row["mb_per_s"])
    figures = [*rtt.values(), *rate.values()]
    real = next((path for path in rtt if path.startswith("toxiproxy")), None)
    if real is not None and "embedded" in rtt:
        figures.append(common.ratio("embedded / toxiproxy RTT", rtt["embedded"], rtt[real], at_most=0.9))
        figures.append(common.ratio("embedded / toxiproxy throughput", rate["embedded"], rate[real], at_least=1.5))
    return figures


def summary(common: Any, quick: bool) -> None:
    targets = [f for _, f in common.printed if f.met is not None]
    common.console.rule("targets")
    title = "every figure with a target (medians)"
    if quick:
        title += "; --quick: sizes too small for the targets to mean anything"
    common.print_table(title, targets, caption=common.machine())
