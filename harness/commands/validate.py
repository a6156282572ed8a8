"""`sio-harness validate FILE...`: check scenario and target files against their schemas, running nothing.

A target file says so by its `"target_version"` field (docs/targets.md); `--target FILE` checks a file as a
target file whatever it holds.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness import scenario as scenarios
from harness import targetfile
from harness.errors import HarnessError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="*", metavar="FILE|NAME", help="scenario files, bundled names or target files")
    parser.add_argument("--target", metavar="FILE", action="append", default=[],
                        help="check FILE as a target file (may be repeated)")
    parser.add_argument("--schema", action="store_true", help="print the scenario JSON Schema")
    parser.add_argument("--target-schema", action="store_true", help="print the target file JSON Schema")
    parser.add_argument("--resolved", action="store_true",
                        help="print each scenario resolved (defaults filled, schedule drawn from the seed)")


def _target_line(ref: str) -> str:
    spec = targetfile.load_target(ref)
    how = "started by the harness" if spec.started_by_harness else f"at {spec.url}"
    return f"{ref}: ok (target {spec.name}: step {spec.step}, {how}, state {spec.state.kind})"


def run(args: argparse.Namespace) -> int:
    if args.schema or args.target_schema:
        print(json.dumps(scenarios.schema() if args.schema else targetfile.schema(), indent=2))
        return 0
    if not args.files and not args.target:
        raise HarnessError("give at least one scenario or target file (or --schema / --target-schema)")
    for ref in args.target:
        print(_target_line(ref))
    for ref in args.files:
        if Path(ref).is_file() and targetfile.is_target_file(targetfile.read_json(Path(ref))):
            print(_target_line(ref))
            continue
        scenario = scenarios.load(ref)
        if args.resolved:
            print(scenario.to_json(), end="")
        else:
            print(f"{ref}: ok ({scenario.clients.count} clients x {scenario.workload.messages} messages, "
                  f"{len(scenario.faults)} fault(s), seed {scenario.seed})")
    return 0
