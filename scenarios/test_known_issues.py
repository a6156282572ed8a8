"""Real, reported Socket.IO delivery bugs, rediscovered: every report the catalogue marks reproduced
gives its reported violation against the installed npm packages, and every report marked not
reproduced really does not (docs/known-issues.md).

Each run of a Node.js report starts the report's minimal server (harness/scenarios_data/known/servers/)
as an external target, with the official socket.io-client through the node driver; the python-socketio
reports run the reference server on two nodes with python-socketio's AsyncRedisManager. The packages
come from `make known-setup` (part of `make test`); without them the tests skip, and fail under CI=true.
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
REDIS_SCENARIOS = ("redis-adapter-recovery", "recovery-twice-without-events", "node-death-recovery",
                   "reconnect-before-session-saved", "recovery-after-ten-seconds", "redis-outage-loses-broadcasts",
                   "listener-after-pubsub-kill")
"""The scenarios whose server starts a redis-server of its own, or whose nodes share the harness's."""
BEFORE_THE_CLOSE = {"zero-event-recovery": "nothing", "quiet-connection-recovery": "nothing",
                    "offline-before-first-event": "nothing", "redis-adapter-recovery": "events without offset",
                    "long-lived-recovery": "an offset", "volatile-status-offset": "an offset",
                    "node-death-recovery": "an offset", "reconnect-before-session-saved": "an offset"}
"""What the page that was not recovered had received when its transport closed: the zero-event reports
are about a page that got nothing yet; with the classic Redis adapter the page got events, but the
adapter appends no CSR offset to them (so its failure is the adapter's, not the zero-event one); the
long-lived and volatile reports, the node that dies and the reconnect that beats the session's write are
about a page that held a real offset and still was not recovered."""
PYTHON_SOCKETIO_PACKAGE = "python-socketio"
"""Its reports run the reference server (python-socketio's AsyncRedisManager), no npm package."""


def _needs_packages(report_scenario: str) -> None:
    missing = []
    if json.loads((KNOWN / f"{report_scenario}.json").read_text())["target"]["kind"] == "external":
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
    if report.scenario == "reconnect-before-session-saved":
        late = _reconnects_during_fault(result, "node_pause")
        assert late and all(node == "n2" and not recovered for node, recovered in late), (
            f"n1's clients were to reconnect on n2 while n1 was still frozen, not recovered: {late}")
    if report.scenario == "redis-outage-loses-broadcasts":
        assert "Cannot publish to redis... giving up" in _server_log(result, "n1"), (
            "n1's publishes were to fail during its Redis outage")


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
    if report.scenario == "recovery-after-ten-seconds":
        assert {got for _, got in _received_before_reconnects(result)} == {"an offset"}
        assert _seconds_connected_before_close(result, "c2") > 10, "the close was to come more than 10 s in"
    if report.scenario == "listener-after-pubsub-kill":
        for node in ("n1", "n2"):
            assert "Cannot receive from redis" in _server_log(result, node), (
                f"{node}'s subscription was to be closed by the Redis restart")
        unheard = _last_messages_not_received(result)
        assert not unheard, f"a listener did not come back: last messages never received {unheard}"


def _server_log(result: RunResult, node: str) -> str:
    return (result.run_dir / f"server-{node}.log").read_text(errors="replace")


def _reconnects_during_fault(result: RunResult, kind: str) -> list[tuple[str, bool]]:
    """The (node, recovered) of every connect made between a `kind` fault's start and its heal."""
    out, during = [], False
    for e in read_history(RunFolder(result.run_dir).history):
        value = e.get("value") or {}
        if e["f"] in ("fault", "heal") and value.get("fault") == kind:
            during = e["f"] == "fault"
        elif during and e["f"] == "connect" and e["type"] == "ok":
            out.append((str(value.get("node")), bool(value.get("recovered"))))
    return out


def _seconds_connected_before_close(result: RunResult, page: str) -> float:
    """From the page's first connect to its first disconnect."""
    connected = None
    for e in read_history(RunFolder(result.run_dir).history):
        if e["proc"] != page:
            continue
        if e["f"] == "connect" and e["type"] == "ok" and connected is None:
            connected = e["t"]
        elif e["f"] == "disconnect" and connected is not None:
            return float(e["t"] - connected) / 1e9
    return 0.0


def _last_messages_not_received(result: RunResult) -> list[tuple[str, str]]:
    """(client, message) for each sender's last message that some client never received: with every
    node's listener subscribed again, each reaches the clients of both nodes."""
    last: dict[str, str] = {}
    got: dict[str, set[str]] = {}
    for e in read_history(RunFolder(result.run_dir).history):
        value = e.get("value") or {}
        if e["f"] == "send" and e["type"] == "invoke":
            last[e["proc"]] = str(value.get("id"))
        elif e["f"] == "recv":
            got.setdefault(e["proc"], set()).add(str(value.get("id")))
    return [(client, message) for client in sorted(last) for message in last.values()
            if message not in got.get(client, set())]


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
    packages = {r.scenario: r.package for r in reports if r.scenario}
    for name in files:
        data = json.loads((KNOWN / f"{name}.json").read_text())
        load(KNOWN / f"{name}.json")  # valid against the schema
        # The Node.js reports run their own minimal server; python-socketio's run the reference server,
        # which is a python-socketio app with its AsyncRedisManager.
        kind = "reference" if packages.get(name) == PYTHON_SOCKETIO_PACKAGE else "external"
        assert data["target"]["kind"] == kind, name
