"""`sio-harness explore`: search a tutorial step (or mutant, or any target) for a delivery violation.

Within one time budget (docs/explore.md): Hypothesis draws schedules of sends, faults and heals and runs
each as a scenario (harness.strategies); the first that fails is shrunk to its cause (harness.explore.
shrink); the shrunk case's scenario file is replayed N times (harness.explore.proof); what the faults
covered is counted per protocol window (harness.checkers.coverage). All of it lands in
`<reports>/explore.json`. Exit 0: nothing found; 1: a violation found that replays; 3: a violation
found that did not replay (not reproducible), or whose replays the budget left no time for (unproven).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.steps import STEPS
from harness.targetfile import TargetSpec, load_target

DATABASE = Path(".sio-harness/found")
"""The cases explore found and proved, per target: a second search of the same target runs them first."""
LOG_EVERY = 30.0
"""Seconds between progress lines when the output is not a terminal."""


def parse_budget(text: str) -> float:
    """`90s`, `10m`, `1h` or a number of seconds, as seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if not match:
        raise HarnessError(f"--budget {text!r}: use a duration like 90s, 10m or 1h")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def parse_shard(text: str) -> tuple[int, int]:
    """`2/4` -> (2, 4): the second of four CI jobs sharing one campaign."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise HarnessError(f"--shard {text!r}: use i/n with 1 <= i <= n, e.g. 1/4")
    return int(match.group(1)), int(match.group(2))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--budget", default="10m",
                        help="time for search, shrinking and proof together (90s, 10m, 1h; default 10m)")
    parser.add_argument("--step", "--profile", dest="profile", choices=STEPS, default=None,
                        help="the tutorial step whose promise is searched (default: the target file's, "
                             "else exactly-once)")
    parser.add_argument("--mutant", default=None, help="a reference server mutant to hunt (see `sio-harness "
                                                         "serve --help`)")
    parser.add_argument("--target", default=None, metavar="FILE",
                        help="a target file describing any Socket.IO server (docs/explore.md)")
    parser.add_argument("--kinds", default=None,
                        help="comma-separated fault kinds to draw from (default: all the search knows)")
    parser.add_argument("--storage", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--seed", type=int, default=1, help="seed of every explored run (default 1)")
    parser.add_argument("--steps", type=int, default=8, help="rules per example (default 8)")
    parser.add_argument("--replays", type=int, default=3, help="replays of a found case (default 3)")
    parser.add_argument("--workers", type=int, default=1, help="searches side by side, each its own seed")
    parser.add_argument("--shard", default=None, metavar="I/N",
                        help="this job's share of a campaign split over N jobs (seeds apart); "
                             "`sio-harness report DIR` merges their explore.json")
    parser.add_argument("--hunt", action="store_true",
                        help="spend the whole budget: after each proven case search on for another cause "
                             "(failures a cause found explains are counted, not followed)")
    parser.add_argument("--no-database", action="store_true",
                        help=f"start from nothing instead of the cases found before ({DATABASE})")
    parser.add_argument("--reports", default="reports/explore", help="folder for runs, the found scenario and "
                                                                     "explore.json")
    parser.add_argument("--worker-of", default=None, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    from harness.explore.session import Session, target_block
    from reference_server.mutants import MUTANTS

    if args.mutant and args.mutant not in MUTANTS:
        raise HarnessError(f"--mutant {args.mutant}: unknown; choose one of {', '.join(MUTANTS)}")
    if args.mutant and args.target:
        raise HarnessError("--mutant is a reference server mutant: it does not go with --target")
    from harness.explore.session import target_nodes
    from harness.strategies import searched_kinds

    target, profile = target_block(args.target, args.profile)
    nodes = target_nodes(target)
    known = searched_kinds(nodes)
    kinds = tuple(k.strip() for k in args.kinds.split(",")) if args.kinds else known
    unknown = [k for k in kinds if k not in known]
    if unknown:
        on = f"{nodes} nodes" if nodes > 1 else "one server"
        raise HarnessError(f"--kinds: unknown fault kind {', '.join(unknown)} for a search on {on}; choose from "
                           f"{', '.join(known)}")
    for name in ("replays", "workers", "steps"):
        if getattr(args, name) < 1:
            raise HarnessError(f"--{name} must be at least 1")
    budget = parse_budget(args.budget)
    shard = parse_shard(args.shard) if args.shard else (1, 1)
    if target is not None and "file" in target:
        kinds = _applicable(load_target(target["file"]), kinds)
    kinds = _acked(profile, kinds)
    reports = Path(args.reports)
    if args.workers > 1:
        return _parallel(args, budget, shard, reports)
    seed = args.seed + (shard[0] - 1) * args.workers
    session = Session(profile=profile, mutant=args.mutant, storage=args.storage, reports=reports, kinds=kinds,
                      seed=seed, target=target, nodes=nodes, budget=budget, replays=args.replays, steps=args.steps,
                      database=None if args.no_database else DATABASE, shard=args.shard,
                      hunt=args.hunt)
    if args.worker_of is None:
        with _live(session) as on_change:
            result = session.run(on_change)
        print_result(result)
    else:
        result = session.run(lambda s: print(_status(s), flush=True))
    return int(result["exit_code"])


def _applicable(spec: TargetSpec, kinds: tuple[str, ...]) -> tuple[str, ...]:
    """The kinds that can happen to `spec` (a server reached only by URL cannot be crashed); each left out
    is named, so a search never silently explores less than it says."""
    from harness.faults import kind as fault_kind

    reasons = {k: spec.not_applicable(fault_kind(k).acts_on, k) for k in kinds}
    for name, reason in reasons.items():
        if reason:
            print(f"{name}: {reason} (target {spec.name}); not drawn")
    kept = tuple(k for k in kinds if not reasons[k])
    if not kept:
        raise HarnessError(f"no fault kind applies to target {spec.name}; see the lines above")
    return kept


def _acked(profile: str, kinds: tuple[str, ...]) -> tuple[str, ...]:
    """The kinds left once those that act on acks are taken out for a step whose sends get none: such a
    fault never meets its frame (measured on replay-bug, server-delivery: 3 of 21 runs inconclusive,
    "fault trigger never fired: ack_drop@c1")."""
    from harness.faults import kind as fault_kind
    from harness.steps import ACKING

    if profile in ACKING:
        return kinds
    dropped = [k for k in kinds if getattr(fault_kind(k), "sio_type", None) == "ACK"]
    for name in dropped:
        print(f"{name}: step {profile} does not acknowledge sends; not drawn")
    kept = tuple(k for k in kinds if k not in dropped)
    if not kept:
        raise HarnessError(f"no fault kind applies to step {profile}; see the lines above")
    return kept


def _status(session: Any) -> str:
    """One short line: elapsed / budget, runs, the case in hand, windows hit so far."""
    campaign = session.campaign
    line = f"{campaign.elapsed():.0f}s / {session.budget:.0f}s  runs {campaign.runs}  {session.phase}"
    if session.best is not None:
        from harness.explore.shrink import size

        faults, messages, clients = size(session.best["data"])
        line += f"  case: {faults} fault(s), {messages} messages, {clients} client(s)"
    hit = sum(1 for v in campaign.coverage.windows.values() if v)
    return line + f"  windows hit {hit}/{len(campaign.coverage.windows)}"


@contextlib.contextmanager
def _live(session: Any) -> Iterator[Callable[[Any], None]]:
    """A status line on a terminal (stderr, redrawn in place, never longer than the terminal); elsewhere a
    line per phase change and every LOG_EVERY seconds, so a CI log gets a few lines, not one per run."""
    from harness.console import err

    if err.is_terminal:
        with err.status(_status(session)) as status:
            yield lambda s: status.update(_status(s))
        return
    last: list[tuple[str, float]] = []

    def changed(s: Any) -> None:
        if not last or last[-1][0] != s.phase or time.monotonic() - last[-1][1] >= LOG_EVERY:
            last.append((s.phase, time.monotonic()))
            print(_status(s), flush=True)

    yield changed


def print_result(result: dict[str, Any]) -> None:
    """The outcome, the case and its proof, and the coverage table."""
    from rich.table import Table

    from harness.console import out
    from harness.explore.session import window_rows

    where = f"{result['target']}: {result['runs']} runs in {result['seconds']:.0f}s"
    status = result["status"]
    case = result.get("case")
    if result.get("findings"):
        out.print(f"[red]HUNT FOUND {len(result['findings'])} CAUSE(S)[/] {where}; "
                  f"{result['explained']} further failing run(s) explained by them, not followed")
        for number, finding in enumerate(result["findings"], 1):
            _print_case(f"[red]{number}.[/]", finding)
    elif status in ("found", "unproven") and case:
        mark = "[red]FOUND[/]" if status == "found" else "[yellow]FOUND, NOT PROVEN[/] (no time left to replay it)"
        _print_case(f"{mark} {where};", case)
    elif status == "interrupted":
        out.print(f"interrupted: {where}; nothing left running")
    else:
        out.print(f"nothing found against {where}")
    for lost in result.get("unreproducible", []):
        runs = ", ".join(r["run_dir"] for r in lost["proof"]["replays"])
        out.print(f"[yellow]not reproducible[/]: {'; '.join(lost['reasons'])} failed once, then "
                  f"{lost['proof']['sentence']}; runs: {lost['first_run']}, {runs}")
    for weak in result.get("partial", []):
        out.print(f"[yellow]replayed only sometimes[/] (set aside for a better case): {'; '.join(weak['reasons'])}, "
                  f"{weak['proof']['sentence']}; scenario of its last proof: {weak['scenario']}")
    if result.get("unconfirmed"):
        out.print(f"{len(result['unconfirmed'])} failure(s) did not fail again on a second run and were not shrunk: "
                  f"{', '.join(result['unconfirmed'][:5])}")
    if result.get("inconclusive"):
        out.print(f"{len(result['inconclusive'])} run(s) were inconclusive (not a violation): "
                  f"{', '.join(result['inconclusive'][:5])}{' ...' if len(result['inconclusive']) > 5 else ''}")
    coverage = result["coverage"]
    table = Table(title=f"fault-window coverage: {coverage['faults']} faults started", title_justify="left")
    table.add_column("window")
    table.add_column("faults that hit it", justify="right")
    for _, what, hits in window_rows(coverage):
        table.add_row(what, str(hits))
    out.print(table)
    for sentence in coverage["missed"]:
        out.print(f"  {sentence}")


def _print_case(mark: str, case: dict[str, Any]) -> None:
    from harness.console import out

    out.print(f"{mark} first violation after {case['runs_to_find']} runs ({case['seconds_to_find']:.0f}s): "
              f"{', '.join(case['categories'])}")
    size = case["size"]
    cut = " (shrinking cut short by the budget: the smallest case so far)" if case["shrink_cut_short"] else ""
    out.print(f"  shrunk in {case['shrink_runs']} runs to {size['faults']} fault(s) "
              f"({', '.join(case['faults']) or 'none'}), {size['messages']} messages, "
              f"{size['clients']} client(s){cut}")
    out.print(f"  proof: {case['proof']['sentence']}")
    out.print(f"  scenario file: {case['scenario']}\n  replay: sio-harness run {case['scenario']}")


def _parallel(args: argparse.Namespace, budget: float, shard: tuple[int, int], reports: Path) -> int:
    """`--workers N`: N searches with seeds apart, as child processes; the first proven case stops the rest."""
    from harness.explore.session import merge, write_result

    started = time.monotonic()
    base = args.seed + (shard[0] - 1) * args.workers
    procs: list[tuple[subprocess.Popen[bytes], Path]] = []
    for w in range(args.workers):
        folder = reports / f"worker-{w + 1}"
        folder.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "harness.cli", "explore", "--budget", f"{budget}", "--seed", str(base + w),
                "--reports", str(folder), "--worker-of", str(reports), "--replays", str(args.replays),
                "--steps", str(args.steps), "--storage", args.storage]
        for flag in ("profile", "mutant", "target", "kinds"):
            value = getattr(args, flag)
            if value:
                argv += [f"--{'step' if flag == 'profile' else flag}", value]
        argv += [f"--{flag.replace('_', '-')}" for flag in ("no_database", "hunt") if getattr(args, flag)]
        with (folder / "explore.log").open("wb") as log:
            procs.append((subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT), folder))
    print(f"{args.workers} searches side by side (seeds {base}..{base + args.workers - 1}); logs: "
          f"{reports}/worker-*/explore.log", flush=True)
    try:
        while any(p.poll() is None for p, _ in procs):
            done = [json.loads((f / "explore.json").read_text()) for p, f in procs
                    if p.poll() is not None and (f / "explore.json").is_file()]
            if not args.hunt and any(d.get("status") == "found" for d in done):
                for p, _ in procs:
                    if p.poll() is None:
                        p.terminate()
            time.sleep(0.5)
    finally:
        for p, _ in procs:
            if p.poll() is None:
                p.terminate()
            p.wait()
    results = [json.loads((f / "explore.json").read_text()) for _, f in procs if (f / "explore.json").is_file()]
    if not results:
        raise HarnessError(f"no worker wrote a result; see {reports}/worker-*/explore.log")
    merged: dict[str, Any] = merge(results)
    merged["seconds"] = round(time.monotonic() - started, 1)
    merged["shard"] = args.shard
    write_result(reports, merged)
    print_result(merged)
    return int(merged["exit_code"])
