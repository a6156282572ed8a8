"""`sio-harness run FILE|NAME`: one scenario, end to end, with its verdict and run folder.

Exit 0 pass, 1 fail, 3 inconclusive (`harness.outcome`), 2 a bad scenario or configuration.
"""

from __future__ import annotations

import argparse
import dataclasses

from harness import console
from harness.commands.targeting import add_target_argument, target_option, with_target
from harness.runner import run_scenario
from harness.scenario import Scenario, load_raw, resolve


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", metavar="FILE|NAME", help="a scenario file, or a bundled scenario's name "
                                                                  "(see `sio-harness list`)")
    add_override_arguments(parser)
    add_target_argument(parser)


def add_override_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    parser.add_argument("--proxy", choices=["embedded", "toxiproxy", "auto"], default=None,
                        help="override the proxy backend")
    parser.add_argument("--storage", choices=["sqlite", "postgres"], default=None,
                        help="override the reference server's storage")
    parser.add_argument("--reports", default="reports", help="folder for run folders (default: reports)")


def apply_overrides(scenario: Scenario, args: argparse.Namespace) -> Scenario:
    if args.proxy:
        scenario = dataclasses.replace(scenario, proxy=args.proxy)
    if args.storage and scenario.target.kind == "reference":
        scenario = dataclasses.replace(scenario, target=dataclasses.replace(scenario.target, storage=args.storage))
    return scenario


async def run(args: argparse.Namespace) -> int:
    data, source = load_raw(args.scenario)
    scenario = apply_overrides(resolve(with_target(data, target_option(args)), seed=args.seed, source=source), args)
    with console.stages(f"{scenario.name} (seed {scenario.seed})") as progress:
        result = await run_scenario(scenario, args.reports, progress=progress)
    console.print_result(result)
    return result.exit_code
