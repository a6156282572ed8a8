"""`sio-harness known`: the catalogue of real, reported Socket.IO delivery bugs and what became of each here.

The catalogue (`scenarios_data/known/catalogue.json`) names each upstream report (repository, issue,
title, the versions it was reported against), the scenario that reproduces it (`sio-harness run
known/<name>`) and its status: `reproduced`, `duplicate` (the same cause as a reproduced report),
`not-reproduced` (with why) or `pending` (with why). Statuses were recorded by running the scenarios
against the installed packages; `scenarios/test_known_issues.py` keeps the reproduced ones honest.
The installed version shown is read from the packages themselves, so the table says what it was checked
against on this machine. docs/known-issues.md has the details.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from harness.clients.node_driver import node_modules_dir
from harness.errors import MissingBinaryError, ScenarioError
from harness.scenario import bundled_dir

STATUSES = ("reproduced", "duplicate", "not-reproduced", "pending")
NODE_FOLDERS = ("known/node_modules",)
"""Where the catalogue's npm packages are installed (`make known-setup`), under scenarios_data."""


@dataclass(frozen=True)
class Report:
    """One upstream report and what the harness makes of it."""

    repository: str
    issue: int
    title: str
    affected: str
    package: str
    status: str
    scenario: str | None = None
    shows: str = ""
    why: str = ""

    @property
    def reference(self) -> str:
        return f"{self.repository}#{self.issue}"

    @property
    def run_command(self) -> str | None:
        return f"sio-harness run known/{self.scenario}" if self.scenario else None


def catalogue_path() -> Path:
    return bundled_dir() / "known" / "catalogue.json"


def catalogue() -> list[Report]:
    """The reports of the catalogue, in its order; ScenarioError names a malformed entry."""
    path = catalogue_path()
    try:
        entries = json.loads(path.read_text())["reports"]
    except (OSError, ValueError, KeyError) as exc:
        raise ScenarioError(f"{path}: not a known-issues catalogue ({exc})") from None
    reports = []
    for i, entry in enumerate(entries):
        try:
            report = Report(**entry)
        except TypeError as exc:
            raise ScenarioError(f"{path}: report {i}: {exc}") from None
        if report.status not in STATUSES:
            raise ScenarioError(f"{path}: report {report.reference}: status {report.status!r} is not one of "
                                f"{', '.join(STATUSES)}")
        if report.scenario and not (bundled_dir() / "known" / f"{report.scenario}.json").exists():
            raise ScenarioError(f"{path}: report {report.reference} names scenario {report.scenario!r}, "
                                f"which is not in {bundled_dir() / 'known'}")
        reports.append(report)
    return reports


def installed_version(package: str) -> str | None:
    """The installed version of an npm package or a Python distribution: socket.io-client is the node
    driver's own copy (the one every scenario runs), the servers' packages are the catalogue's."""
    folders = [bundled_dir() / folder for folder in NODE_FOLDERS]
    if package == "socket.io-client":
        try:
            folders = [node_modules_dir()]
        except MissingBinaryError:
            folders = []
    for folder in folders:
        manifest = folder / package / "package.json"
        if manifest.is_file():
            data: dict[str, Any] = json.loads(manifest.read_text())
            return str(data.get("version"))
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def status_text(report: Report) -> str:
    """`reproduced with socket.io 4.8.4`, `not reproduced with ...`, `duplicate`, `pending`."""
    version = installed_version(report.package)
    where = f"{report.package} {version}" if version else f"{report.package} (not installed: make known-setup)"
    if report.status == "reproduced":
        return f"reproduced with {where}"
    if report.status == "not-reproduced":
        return f"not reproduced with {where}"
    return report.status


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--names", action="store_true",
                        help="print only the scenarios of the reproduced reports, one per line")
    parser.add_argument("--why", action="store_true",
                        help="add what each report shows, or why it is not reproduced")


def run(args: argparse.Namespace) -> int:
    reports = catalogue()
    if args.names:
        print("\n".join(f"known/{r.scenario}" for r in reports if r.status == "reproduced" and r.scenario))
        return 0
    table = Table(title="reported Socket.IO delivery bugs (run one with `sio-harness run known/NAME`; "
                        "details: docs/known-issues.md)")
    columns = ["reference", "title", "reported on", "status", "scenario"] + (["shows / why"] if args.why else [])
    for column in columns:
        table.add_column(column, overflow="fold")
    for r in reports:
        row = [r.reference, r.title, r.affected, status_text(r), f"known/{r.scenario}" if r.scenario else ""]
        table.add_row(*row, *([r.shows or r.why] if args.why else []))
    Console().print(table)
    return 0
