"""`sio-harness list`: the scenarios shipped with the package."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from harness.scenario import bundled_names, load


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--names", action="store_true", help="print only the names, one per line")


def run(args: argparse.Namespace) -> int:
    names = bundled_names()
    if args.names:
        print("\n".join(names))
        return 0
    table = Table(title="bundled scenarios (run one with `sio-harness run NAME`)")
    for column in ("name", "profile", "clients", "faults", "expects", "what it shows"):
        table.add_column(column, overflow="fold")
    for name in names:
        s = load(name)
        faults = ", ".join(f.label for f in s.faults) or "none"
        exp = s.expectations
        expects = ", ".join([*exp.guarantees, *(f"{k}>={v}" for k, v in exp.violations.items()),
                             *(f"no {c}" for c in exp.absent)])
        profile = s.target.profile if s.target.kind == "reference" else "external"
        table.add_row(name, profile, f"{s.clients.count} x {s.workload.messages}", faults, expects, s.description)
    Console().print(table)
    return 0
