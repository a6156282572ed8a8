"""`sio-harness validate FILE...`: check scenario files against the schema without running anything."""

from __future__ import annotations

import argparse
import json

from harness.errors import HarnessError
from harness.scenario import load, schema


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="*", metavar="FILE|NAME", help="scenario files or bundled names")
    parser.add_argument("--schema", action="store_true", help="print the scenario JSON Schema")
    parser.add_argument("--resolved", action="store_true",
                        help="print each scenario resolved (defaults filled, schedule drawn from the seed)")


def run(args: argparse.Namespace) -> int:
    if args.schema:
        print(json.dumps(schema(), indent=2))
        return 0
    if not args.files:
        raise HarnessError("give at least one scenario file or bundled name (or --schema)")
    for ref in args.files:
        scenario = load(ref)
        if args.resolved:
            print(scenario.to_json(), end="")
        else:
            print(f"{ref}: ok ({scenario.clients.count} clients x {scenario.workload.messages} messages, "
                  f"{len(scenario.faults)} fault(s), seed {scenario.seed})")
    return 0
