"""`sio-harness explore`: a property-based chaos campaign against one tutorial step (and mutant).

Hypothesis draws schedules of sends, faults and heals (harness.strategies), runs each one as a scenario
and asserts the step's promise. It stops at the first violation that reproduces, shrinks it to a small
schedule and saves it as a scenario file; otherwise it keeps drawing until the time budget is spent.
Exit 0: nothing found within the budget; 1: a violation found (its file and replay command printed).
Only a run whose outcome (`harness.outcome`) is "fail" counts; inconclusive runs are counted and named.
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

from harness.commands.targeting import add_target_argument, target_option, with_target
from harness.errors import HarnessError
from harness.steps import STEPS

CHUNK = 10
"""Examples per Hypothesis search; searches are repeated with fresh randomness until the budget ends."""


def parse_budget(text: str) -> float:
    """`90s`, `10m`, `1h` or a number of seconds, as seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if not match:
        raise HarnessError(f"--budget {text!r}: use a duration like 90s, 10m or 1h")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--budget", default="10m", help="how long to search (90s, 10m, 1h; default 10m)")
    parser.add_argument("--profile", choices=STEPS, default="exactly-once")
    parser.add_argument("--mutant", default=None, help="a reference server mutant to hunt (see `sio-harness "
                                                         "serve --help`)")
    parser.add_argument("--kinds", default=None,
                        help="comma-separated fault kinds to draw from (default: all the search knows)")
    parser.add_argument("--storage", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--seed", type=int, default=1, help="seed of every explored run (default 1)")
    parser.add_argument("--steps", type=int, default=8, help="rules per example (default 8)")
    parser.add_argument("--reports", default="reports/explore", help="folder for runs and the found scenario")
    add_target_argument(parser)


def run(args: argparse.Namespace) -> int:
    # Imported here: the CLI imports every command module to build its parser, and Hypothesis is heavy.
    from hypothesis import HealthCheck, settings

    from harness.faults import kind as fault_kind
    from harness.strategies import KINDS, Campaign, run_search
    from reference_server.mutants import MUTANTS

    target = target_option(args)
    if target is not None:
        if args.mutant:
            raise HarnessError("--mutant is a reference server's; it cannot be combined with --target")
        args.profile = target.step
    if args.mutant and args.mutant not in MUTANTS:
        raise HarnessError(f"--mutant {args.mutant}: unknown; choose one of {', '.join(MUTANTS)}")
    kinds = tuple(k.strip() for k in args.kinds.split(",")) if args.kinds else KINDS
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise HarnessError(f"--kinds: unknown fault kind {', '.join(unknown)}; choose from {', '.join(KINDS)}")
    if target is not None:
        reasons = {k: target.not_applicable(fault_kind(k).acts_on, k) for k in kinds}
        for name, reason in reasons.items():
            if reason:
                print(f"{name}: {reason} (target {target.name}); not drawn")
        kinds = tuple(k for k in kinds if not reasons[k])
        if not kinds:
            raise HarnessError(f"no fault kind applies to target {target.name}; see the lines above")
    budget = parse_budget(args.budget)
    campaign = Campaign(profile=args.profile, mutant=args.mutant, storage=args.storage,
                        reports=Path(args.reports), kinds=kinds, seed=args.seed,
                        target=with_target({}, target)["target"] if target else None)
    deadline = time.monotonic() + budget
    campaign.deadline = deadline
    examples = 0

    def tick() -> None:
        nonlocal examples
        examples += 1
        left = max(deadline - time.monotonic(), 0)
        print(f"\rexamples {examples}, runs {campaign.runs}, {left:.0f}s left", end="", flush=True)

    found = None
    with campaign.interruptible():
        while time.monotonic() < deadline and found is None and not campaign.interrupted:
            if examples:
                campaign.seed += 1  # a fresh search also gets fresh client jitter
            found = run_search(campaign, settings(max_examples=CHUNK, deadline=None, database=None,
                                                  stateful_step_count=args.steps,
                                                  suppress_health_check=list(HealthCheck)), tick)
    print()
    if campaign.interrupted:
        print(f"interrupted after {examples} examples, {campaign.runs} runs; nothing left running")
        return 130
    target_text = args.profile + (f" with mutant {args.mutant}" if args.mutant else "") + \
        (f" (target {target.name})" if target else "")
    if campaign.unreproduced:
        print(f"{len(campaign.unreproduced)} failure(s) did not reproduce on a second run and were treated "
              f"as passes: {', '.join(campaign.unreproduced)}")
    if campaign.inconclusive:
        print(f"{len(campaign.inconclusive)} run(s) were inconclusive (not a violation): "
              f"{', '.join(campaign.inconclusive)}")
    if found is None:
        print(f"nothing found against {target_text}: {examples} examples, {campaign.runs} runs")
        return 0
    print(f"violation found against {target_text} after {campaign.runs} runs, shrunk to:\n  {found}")
    print(f"scenario file: {campaign.found}\nreplay: sio-harness run {campaign.found}   "
          f"or   sio-harness replay {campaign.found_run}")
    return 1
