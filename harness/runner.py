"""One run, end to end: topology up, workload and nemesis together, heal, wait for quiet, check, report.

    scenario -> Topology (database, server, proxies, clients) -> workload + Nemesis -> history + rows
             -> checkers -> verdict -> reports/<run-id>/

Everything the run starts is registered on one `AsyncExitStack` the moment it exists, so an exception,
a cancelled task or Ctrl-C unwinds it in reverse order, and every process is stopped by its PID
(`harness.processes` also kills leftovers at interpreter exit). Run ids and ports are unique per run, so
two runs on one machine (pytest-xdist workers, two terminals) never share a file or a port.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.checkers.files import check_files
from harness.checkers.verdict import Verdict
from harness.clients.base import ClientDriver
from harness.harnessload import HarnessLoad, LoadMonitor, overload_reasons
from harness.history import HistoryWriter, OpType, write_rows
from harness.librarylog import RunLog
from harness.nemesis import Nemesis
from harness.outcome import Outcome, decide
from harness.report import write_run_report
from harness.runfolder import RunFolder
from harness.scenario import Scenario
from harness.topology import Topology

Progress = Callable[[str], None]

QUIET_STEP_NS = 20_000_000
"""How often the wait for quiet looks (20 ms)."""


class RunHistory(HistoryWriter):
    """The run's history writer, which also remembers when a client last observed anything.

    The runner's quiet detection needs "no delivery for a settle window"; every client observation goes
    through `append`, so this is the one place that sees them all.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(path)
        self.last_client_event = 0

    def append(self, proc: str, type_: OpType, f: str, value: dict[str, Any] | None = None,
               t: int | None = None) -> dict[str, Any]:
        event = super().append(proc, type_, f, value, t)
        if proc.startswith("c"):
            self.last_client_event = event["t"]
        return event


@dataclass
class QuietReport:
    """How the wait for quiet ended: reached, or cut by its timeout (then the verdict may be partial)."""

    reached: bool
    waited: float
    timeout: float
    not_connected: list[str] = field(default_factory=list)
    pending: dict[str, int] = field(default_factory=dict)
    storing: bool = False
    """The server's stored messages were still changing when the timeout came."""


@dataclass
class RunResult:
    run_id: str
    run_dir: Path
    scenario: Scenario
    verdict: Verdict
    outcome: Outcome
    quiet: QuietReport
    seconds: float
    untriggered: list[str] = field(default_factory=list)
    harness_load: HarnessLoad = field(default_factory=HarnessLoad)

    @property
    def passed(self) -> bool:
        return self.outcome.passed

    @property
    def exit_code(self) -> int:
        return self.outcome.exit_code

    @property
    def replay_command(self) -> str:
        return f"sio-harness replay {self.run_dir}"


def new_run_id(name: str) -> str:
    """`20260126-021500-baseline-no-faults-3f9a1c`: sortable, readable, and unique across processes."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{name}-{secrets.token_hex(3)}"


async def _workload(scenario: Scenario, index: int, slot: str, driver: ClientDriver, nemesis: Nemesis) -> None:
    """The sends of the `index`-th client (0 for c1): none when it is not one of the workload's senders."""
    w = scenario.workload
    senders = scenario.clients.count if w.senders is None else min(w.senders, scenario.clients.count)
    if index >= senders:
        return
    filler = "x" * w.content_size
    rate = w.rate_of(slot)
    interval = 1.0 / rate if rate else 0.0
    start = time.monotonic()
    if w.stagger:
        # N clients sending at once make N x N deliveries at once: spread them so the rate is the rate.
        start += interval * index / senders
    for n in range(1, w.messages_of(slot) + 1):
        if interval:
            delay = start + (n - 1) * interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        await driver.send(filler)
        await nemesis.on_send(slot, n)
        if not interval:
            # Let the other clients, the proxy and the nemesis run between sends of a flat-out client.
            await asyncio.sleep(0)


async def _workloads(scenario: Scenario, drivers: dict[str, ClientDriver], nemesis: Nemesis) -> None:
    """Every client's workload at once; one failing cancels the others instead of leaving them running,
    and its own error (one line for a user) is what is raised, not a group."""
    try:
        async with asyncio.TaskGroup() as group:
            for index, (slot, driver) in enumerate(drivers.items()):
                group.create_task(_workload(scenario, index, slot, driver, nemesis))
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None


async def wait_quiet(drivers: dict[str, ClientDriver], history: RunHistory, settle: float,
                     timeout: float, stored: Callable[[], Awaitable[int | None]] | None = None) -> QuietReport:
    """Wait until every client is connected, nothing is pending, no client saw anything for `settle` s
    and, when `stored` can count the server's stored messages, that count has not changed for `settle` s.

    The second condition is for a server still working through a backlog (a burst of buffered sends
    flushed at a reconnect, on a loaded machine): silent clients alone would end the run while it still
    stores and broadcasts, and the rows it stored after that point would read as missed by everyone.
    The count is read when an idle window begins and when it would end, so a run that is quiet pays
    nothing more. Polled with a short step: "quiet" is the absence of events over a window, which no
    single event announces.
    """
    start = time.monotonic()
    settle_ns = int(settle * 1e9)
    window_of = -1
    rows: int | None = None
    rows_since = start
    storing = False
    while True:
        not_connected = [slot for slot, d in drivers.items() if not d.connected]
        pending = {slot: d.pending for slot, d in drivers.items() if d.pending}
        last = history.last_client_event
        idle_ns = time.monotonic_ns() - last
        if stored is not None and last != window_of and idle_ns >= QUIET_STEP_NS:
            window_of = last
            rows, rows_since = await stored(), time.monotonic()
        waited = time.monotonic() - start
        if not not_connected and not pending and idle_ns >= settle_ns:
            now_rows = await stored() if stored is not None else None
            storing = now_rows != rows
            if storing:
                rows, rows_since = now_rows, time.monotonic()
            elif now_rows is None or time.monotonic() - rows_since >= settle - 2 * QUIET_STEP_NS / 1e9:
                return QuietReport(True, round(waited, 3), timeout)
        if waited >= timeout:
            return QuietReport(False, round(waited, 3), timeout, not_connected, pending, storing)
        await asyncio.sleep(QUIET_STEP_NS / 1e9)


async def run_scenario(scenario: Scenario, reports_dir: str | os.PathLike[str] = "reports", *,
                       run_id: str | None = None, progress: Progress | None = None) -> RunResult:
    """Execute `scenario` once and write its run folder; `harness.outcome.decide` gives its outcome."""
    started = phase_start = time.monotonic()
    phases: dict[str, float] = {}
    phase = ""

    def say(next_phase: str, text: str) -> None:
        # Each phase's duration goes to run.json, so a slow run shows where its time went.
        nonlocal phase, phase_start
        now = time.monotonic()
        if phase:
            phases[phase] = round(now - phase_start, 3)
        phase, phase_start = next_phase, now
        if progress:
            progress(text)

    run_id = run_id or new_run_id(scenario.name)
    run_dir = Path(reports_dir) / run_id
    run_dir.mkdir(parents=True, exist_ok=False)
    folder = RunFolder(run_dir)
    folder.scenario.write_text(scenario.to_json())
    if scenario.target.spec is not None:
        folder.target.write_text(json.dumps(scenario.target.spec.to_dict(), indent=2) + "\n")
    history = RunHistory(folder.history)
    library_log = RunLog(folder.libraries)
    untriggered: list[str] = []
    topo = Topology(scenario, run_dir, history)
    monitor = LoadMonitor()
    try:
        say("up", "starting server, proxy and clients")
        await topo.start_backend()
        server = await topo.start_server()
        await topo.start_links()
        nemesis = Nemesis(topo.nemesis_context(), scenario.faults)
        await nemesis.arm()
        await topo.start_clients()
        embedded = topo.backend.embedded
        try:
            monitor.start(embedded.state.largest_client_backlog if embedded is not None else None)
            say("workload", f"workload: {scenario.clients.count} x {scenario.workload.messages} messages")
            nemesis.begin()
            await _workloads(scenario, topo.drivers, nemesis)
            say("heal", "healing")
            await _finish_schedule(nemesis, scenario, history, topo.drivers)
            untriggered = [f.label for f in nemesis.pending]
        finally:
            await nemesis.heal_all()
            await server.ensure_running()
        say("quiet", "waiting for quiet")
        quiet = await wait_quiet(topo.drivers, history, scenario.quiet.settle, scenario.quiet.timeout,
                                 stored=topo.stored_count)
        load = await monitor.stop()
        # The checker reads this: deliveries still in flight when quiet was not reached are no proof
        # of a loss (docs/runner.md, "Outcome").
        history.append("harness", "ok" if quiet.reached else "info", "quiet",
                       {"waited": quiet.waited, "not_connected": quiet.not_connected, "pending": quiet.pending,
                        **({"storing": True} if quiet.storing else {})})
        say("teardown", "closing clients, stopping the server")
        await topo.close_clients()
        if topo.state_needs_server:
            rows = await topo.read_final_rows()
            await server.release()
        else:
            await server.release()
            rows = await topo.read_final_rows()
    finally:
        await monitor.stop()
        try:
            await topo.close()
        finally:
            history.close()
            library_log.close()
    write_rows(folder.rows, rows)
    say("check", "checking")
    verdict = check_run(run_dir, scenario)
    overloaded = overload_reasons(load, scenario.overload)
    outcome = decide(verdict, scenario.expectations, untriggered=untriggered, quiet_reached=quiet.reached,
                     overloaded=overloaded)
    say("report", "writing reports")
    folder.write_run({"run_id": run_id, "quiet": quiet.__dict__, "untriggered": untriggered,
                      "seconds": round(time.monotonic() - started, 3), "phases": phases,
                      "harness_load": {**load.to_dict(), "overloaded": overloaded},
                      "outcome": outcome.to_dict()})
    write_run_report(run_dir, verdict, scenario, outcome)
    return RunResult(run_id=run_id, run_dir=run_dir, scenario=scenario, verdict=verdict, outcome=outcome,
                     quiet=quiet, seconds=round(time.monotonic() - started, 3), untriggered=untriggered,
                     harness_load=load)


async def _finish_schedule(nemesis: Nemesis, scenario: Scenario, history: RunHistory,
                           drivers: dict[str, ClientDriver]) -> None:
    """Let started faults run to their heal, and give armed frame faults their chance while traffic flows.

    A frame can only arrive while clients are busy, so a frame fault still waiting once every client is
    connected and none has seen anything for the settle window has missed its frame; it is reported as
    untriggered. A client still reconnecting is silent during its backoff, yet its reconnect's frames
    (the CONNECT, the replay, the acks of its buffered sends) are still to come.
    """
    longest = max((f.trigger.get("at", 0) + (f.duration or 0) for f in scenario.faults), default=0)
    deadline = time.monotonic() + longest + scenario.quiet.timeout
    settle_ns = int(scenario.quiet.settle * 1e9)
    while time.monotonic() < deadline:
        await nemesis.wait_schedule(timeout=max(deadline - time.monotonic(), 0))
        if not nemesis.frames_waiting:
            return
        # Polled: "no client traffic for a window" is an absence, which no event announces.
        reconnecting = any(not d.connected for d in drivers.values())
        if not reconnecting and time.monotonic_ns() - history.last_client_event >= settle_ns:
            return
        await asyncio.sleep(0.02)


def check_run(run_dir: Path, scenario: Scenario) -> Verdict:
    """Check the saved history and rows of a run folder against the scenario's expectations.

    Reads only files, never the topology, which is what makes `replay --check-only` possible.
    """
    folder = RunFolder(run_dir)
    return check_files(folder.history, folder.rows, scenario.expectations)
