"""Real, reported Socket.IO delivery bugs, rediscovered: every report the catalogue marks reproduced
gives its reported violation against the installed npm packages, and every report marked not
reproduced really does not (docs/known-issues.md).

Each run starts the report's minimal server (harness/scenarios_data/known/servers/) as an external
target, with the official socket.io-client through the node driver. The packages come from
`make known-setup` (part of `make test`); without them the tests skip, and fail under CI=true.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from harness.commands.known import Report, catalogue, installed_version
from harness.expectations import RECOVERABLE_REASONS
from harness.history import read_history
from harness.runfolder import RunFolder
from harness.runner import RunResult, run_scenario
from harness.scenario import bundled_dir, load

KNOWN = bundled_dir() / "known"
CONTROLS = ("control-recovery-with-offset",)
"""Scenarios that are no report: they show the harness sees a recovery when one happens."""
PACKAGES = ("socket.io", "better-sqlite3", "@socket.io/redis-adapter", "@socket.io/redis-streams-adapter", "redis")
"""The servers' packages (`make known-setup`); the client is the node driver's socket.io-client."""
RUN_TIMEOUT = 120
REDIS_SCENARIOS = ("redis-adapter-recovery", "recovery-twice-without-events")
"""The scenarios whose server starts a redis-server of its own."""
BEFORE_THE_CLOSE = {"zero-event-recovery": "nothing", "quiet-connection-recovery": "nothing",
                    "offline-before-first-event": "nothing", "redis-adapter-recovery": "events without offset",
                    "long-lived-recovery": "an offset", "volatile-status-offset": "an offset"}
"""What the page that was not recovered had received when its transport closed: the zero-event reports
are about a page that got nothing yet; with the classic Redis adapter the page got events, but the
adapter appends no CSR offset to them (so its failure is the adapter's, not the zero-event one); the
long-lived and volatile reports are about a page that held a real offset and still was not recovered."""


def _needs_packages(report_scenario: str) -> None:
    missing = [p for p in PACKAGES if not (KNOWN / "node_modules" / p / "package.json").is_file()]
    if installed_version("socket.io-client") is None:
        missing.append("socket.io-client (make setup)")
    if not shutil.which("node"):
        missing.append("node")
    if report_scenario in REDIS_SCENARIOS and not shutil.which("redis-server"):
        missing.append("redis-server")
    if missing:
        what = f"the known-issues catalogue's packages ({', '.join(missing)}; run `make known-setup`)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{what} are required under CI=true", pytrace=False)
        pytest.skip(f"{what} not available")


async def _run(name: str, tmp_path: Path) -> RunResult:
    _needs_packages(name)
    return await run_scenario(load(KNOWN / f"{name}.json"), tmp_path)


def _why(result: RunResult) -> str:
    counts = {k: v for k, v in result.verdict.counts.items() if v}
    return (f"{result.outcome.status}: {result.outcome.reasons}; counts {counts or 'none'}; "
            f"reconnects {result.verdict.reconnects}; report {RunFolder(result.run_dir).report}")


def _received_before_reconnects(result: RunResult) -> list[tuple[bool, str]]:
    """For each reconnect after a recoverable disconnect, its `recovered` flag and what its page had
    received before the disconnect: "nothing", "events without offset" or "an offset"."""
    got: dict[str, str] = {}
    recoverable: dict[str, bool] = {}
    out = []
    for e in read_history(RunFolder(result.run_dir).history):
        proc, f, value = e["proc"], e["f"], e.get("value") or {}
        if f == "recv":
            if isinstance(value.get("csr_offset"), str):
                got[proc] = "an offset"
            else:
                got.setdefault(proc, "events without offset")
        elif f == "disconnect":
            recoverable[proc] = value.get("reason") in RECOVERABLE_REASONS
        elif f == "connect" and e["type"] == "ok" and recoverable.pop(proc, False):
            out.append((bool(value["recovered"]), got.get(proc, "nothing")))
    return out


def _reports(status: str) -> list[Report]:
    return [r for r in catalogue() if r.status == status and r.scenario]


@pytest.mark.timeout(RUN_TIMEOUT)
@pytest.mark.parametrize("report", _reports("reproduced"), ids=lambda r: r.reference)
async def test_reported_violation_reproduces(report: Report, tmp_path: Path) -> None:
    result = await _run(report.scenario or "", tmp_path)
    assert result.outcome.status == "pass", (
        f"{report.reference} no longer reproduces with {report.package} {installed_version(report.package)}: "
        f"{_why(result)}")
    if report.scenario in BEFORE_THE_CLOSE:
        seen = [got for recovered, got in _received_before_reconnects(result) if not recovered]
        assert seen and set(seen) == {BEFORE_THE_CLOSE[report.scenario]}, (
            f"the report's precondition (received {BEFORE_THE_CLOSE[report.scenario]}) did not hold: {seen}")


@pytest.mark.timeout(RUN_TIMEOUT)
@pytest.mark.parametrize("report", _reports("not-reproduced"), ids=lambda r: r.reference)
async def test_report_recorded_as_not_reproduced_does_not_reproduce(report: Report, tmp_path: Path) -> None:
    # These scenarios expect the behaviour the report says is broken to work (say, two recoveries in a
    # row): a pass means the report does not reproduce, a fail that it does and the catalogue is stale.
    result = await _run(report.scenario or "", tmp_path)
    assert result.outcome.status == "pass", f"{report.reference} reproduces after all: {_why(result)}"
    if report.scenario == "recovery-twice-without-events":
        assert _quiet_between_recoveries(result, "c1"), "the report's schedule did not hold: an event came between " \
            "the page's first recovery and its second disconnect, which would hide the bug"


def _quiet_between_recoveries(result: RunResult, page: str) -> bool:
    """Whether the page received nothing between its first recovered connect and its next disconnect (the
    events it is replayed arrive before that connect is reported)."""
    recovered = False
    for e in read_history(RunFolder(result.run_dir).history):
        if e["proc"] != page:
            continue
        if e["f"] == "connect" and e["type"] == "ok" and (e.get("value") or {}).get("recovered"):
            recovered = True
        elif recovered and e["f"] == "recv":
            return False
        elif recovered and e["f"] == "disconnect":
            return True
    return False


@pytest.mark.timeout(RUN_TIMEOUT)
@pytest.mark.parametrize("name", CONTROLS)
async def test_control_recovers_when_the_client_holds_an_offset(name: str, tmp_path: Path) -> None:
    result = await _run(name, tmp_path)
    assert result.outcome.status == "pass", _why(result)
    assert result.verdict.reconnects["recovered"] >= 1 and result.verdict.reconnects["not_recovered"] == 0
    # The control's point is the page that holds an offset when its connection closes: its schedule cuts
    # the connection right after a broadcast reached the page, never at a time the load can move.
    assert {got for _, got in _received_before_reconnects(result)} == {"an offset"}


def test_catalogue_and_scenario_files_agree() -> None:
    reports = catalogue()
    named = {r.scenario for r in reports if r.scenario}
    files = {p.stem for p in KNOWN.glob("*.json") if p.name not in ("catalogue.json", "package.json",
                                                                     "package-lock.json")}
    assert files == named | set(CONTROLS), "every scenario file is a report's or a control"
    for r in reports:
        assert r.status in ("duplicate", "not-reproduced", "pending") or r.scenario, r.reference
        assert r.status == "reproduced" or r.why, f"{r.reference}: say why it is {r.status}"
    for name in files:
        data = json.loads((KNOWN / f"{name}.json").read_text())
        load(KNOWN / f"{name}.json")  # valid against the schema
        assert data["target"]["kind"] == "external", name
