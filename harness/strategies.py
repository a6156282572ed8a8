"""Hypothesis strategies for workloads and fault schedules, and a state machine that searches for
delivery violations: its rules are sends, faults and heals.

The machine does not drive a live topology step by step (a network cannot be rewound for shrinking).
Its rules write a schedule on a *send clock*: `send` advances the clock by k messages, `fault` starts a
fault right after c1's current message (an `after_sends` trigger; a lost ack at the Nth ACK frame),
`heal` ends the oldest open fault after the sends since its start (at the workload's steady rate);
server and database outages never overlap.
`teardown` runs that schedule once as an ordinary scenario and asserts the step's promise. Because
every fault is placed by an event trigger, not by wall-clock time, a schedule puts its faults at the
same protocol points on every run, which is what makes shrinking meaningful.

Nondeterminism (thread scheduling, reconnect jitter) could still make one run fail and its replay
pass, and Hypothesis would then report a `Flaky` error instead of a counterexample. So a failing run is
re-run once with the same seed before it counts: only a failure that reproduces fails the example (and
is saved as a scenario file); one that does not is treated as a pass and logged in `unreproduced`.
The shrunk example Hypothesis finally reports has therefore failed twice in a row, and the saved file
is the last, smallest such schedule: `sio-harness run FILE` (or `replay` of its run folder) reproduces it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st
from hypothesis.errors import Flaky
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from harness.faults import KINDS as FAULT_KINDS
from harness.faults import kind as fault_kind
from harness.scenario import resolve
from harness.steps import ACKING, PROMISES

if TYPE_CHECKING:
    from harness.runner import RunResult

log = logging.getLogger(__name__)

RATE = 40.0
"""Messages per second per client in explored scenarios: one send-clock tick is 25 ms."""

MAX_CLOCK = 30
TAIL = 5
"""Messages sent after the last fault starts, so every heal is followed by traffic."""

KINDS = tuple(name for name, k in FAULT_KINDS.items() if k.searched)
"""Fault kinds the search draws from: those whose kind says `searched` (docs/faults.md says why the
others are left out)."""
OUTAGE_KINDS = tuple(name for name, k in FAULT_KINDS.items() if k.acts_on != "client")
"""Faults of the one server and its one database: never two at once (a second crash of a stopped server,
or a restart against a locked database, is not a schedule the nemesis can carry out)."""
MIN_TICKS = 4
"""Shortest fault, in sends (0.1 s)."""
OUTAGE_GAP = 24
"""Sends between the heal of an outage and the next one (0.6 s): a restarted server needs a few hundred
milliseconds before it is up again, and a crash of a server still starting would be a second outage."""

MAX_DURATION = 1.0
"""Longest fault, in seconds: shorter than the explored client's retry budget (0.5 s x 10), so the
exactly-once step never has to give a message up and any loss found is a real one."""


def workloads(max_clients: int = 3, max_messages: int = 20) -> st.SearchStrategy[dict[str, Any]]:
    """The `clients` and `workload` parts of a scenario: a few clients, a few messages, steady or flat out."""
    return st.fixed_dictionaries({
        "clients": st.fixed_dictionaries({"count": st.integers(1, max_clients)}),
        "workload": st.fixed_dictionaries({"messages": st.integers(5, max_messages),
                                           "rate": st.sampled_from([0, 20, RATE]),
                                           "content_size": st.sampled_from([0, 16, 512])}),
    })


def faults(messages: int, clients: int, kinds: tuple[str, ...] = KINDS) -> st.SearchStrategy[dict[str, Any]]:
    """One fault of the scenario model, placed by an event trigger inside a workload of `messages`."""
    slots = [f"c{i}" for i in range(1, clients + 1)]

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        name = draw(st.sampled_from(kinds))
        k = fault_kind(name)
        n = draw(st.integers(1, messages))
        drawn = draw(k.strategy(MAX_DURATION))
        if k.needs_frames:
            # The frame a frame fault counts (an ACK for ack_drop) is its kind's default.
            return {"kind": name, "target": "c1", "trigger": {"frame": {"nth": n}}, **drawn}
        fault: dict[str, Any] = {"kind": name, "trigger": {"after_sends": {"client": draw(st.sampled_from(slots)),
                                                                           "n": n}}, **drawn}
        if k.acts_on == "client":
            fault["target"] = draw(st.sampled_from(slots))
        return fault

    return build()


def fault_schedules(messages: int, clients: int, kinds: tuple[str, ...] = KINDS,
                    max_faults: int = 3) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Zero to `max_faults` faults for a workload of `messages` per client and `clients` clients, with at
    most one server or database outage (see OUTAGE_KINDS)."""
    return st.lists(faults(messages, clients, kinds), max_size=max_faults).filter(
        lambda schedule: sum(f["kind"] in OUTAGE_KINDS for f in schedule) <= 1)


def explored_client(profile: str) -> dict[str, Any]:
    """Two pages with the step's own client, given a long retry budget (see MAX_DURATION)."""
    return {"count": 2, **({"ack_timeout": 0.5, "retries": 10} if profile in ACKING else {})}


def expectation(profile: str) -> dict[str, Any]:
    """What the search asserts: the step's promise, and that nothing unstored is ever delivered."""
    return {"guarantees": [*PROMISES[profile], "no-phantoms"]}


def schedule_scenario(profile: str, mutant: str | None, schedule: list[dict[str, Any]], clock: int,
                      seed: int, storage: str = "sqlite") -> dict[str, Any]:
    """The scenario file of one explored schedule."""
    name = f"explore-{profile}" + (f"-{mutant}" if mutant else "")
    return {"name": name[:64], "seed": seed,
            "description": f"found by property-based chaos against {profile}"
                           + (f" with mutant {mutant}" if mutant else ""),
            "target": {"kind": "reference", "profile": profile, "storage": storage, "mutant": mutant},
            "proxy": "embedded", "clients": explored_client(profile),
            "workload": {"messages": max(clock, 1) + TAIL, "rate": RATE},
            "faults": schedule, "expectations": expectation(profile),
            "quiet": {"settle": 0.3, "timeout": 20.0}}


@dataclass
class Campaign:
    """Where a search runs and what it remembers across examples."""

    profile: str = "exactly-once"
    mutant: str | None = None
    storage: str = "sqlite"
    reports: Path = Path("reports/explore")
    kinds: tuple[str, ...] = KINDS
    seed: int = 1
    target: dict[str, Any] | None = None
    """A scenario `target` object put in place of the reference server: the user's server (`--target`)."""
    runs: int = 0
    unreproduced: list[str] = field(default_factory=list)
    """Run folders of failures that passed when re-run: logged, not reported."""
    inconclusive: list[str] = field(default_factory=list)
    """Run folders whose outcome was inconclusive (never quiet, a fault that never fired): not shrunk."""
    found: Path | None = None
    """The last reproduced failing schedule, as a scenario file (the smallest, once shrinking ends)."""
    found_run: Path | None = None
    deadline: float | None = None
    """time.monotonic() after which new examples are no longer run (they pass), so a budget is kept even
    in the middle of a Hypothesis search; shrinking a failure already found may run past it"""

    interrupted: bool = False
    """Set on Ctrl-C or SIGTERM (see `interruptible`): the run in progress ends normally, every later
    example passes without running, and the search returns."""

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """Turn SIGINT and SIGTERM into `interrupted` while a search runs.

        Raised inside an example, KeyboardInterrupt or SystemExit would reach Hypothesis, which treats
        SystemExit as a failure to shrink; letting the current run finish keeps its processes' teardown.
        """
        def stop(signum: int, frame: object) -> None:
            self.interrupted = True

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def check(self, data: dict[str, Any]) -> list[str]:
        """Run the scenario; when it fails, run it again, and return the failures only if both failed."""
        from harness.runner import run_scenario

        if self.interrupted:
            return []
        if self.deadline is not None and time.monotonic() >= self.deadline and self.found is None:
            # Past the budget with nothing found: pass without running. Once a failure is found it is
            # shrunk and replayed for real, or Hypothesis would see its final replay pass (Flaky).
            return []
        if self.target is not None:
            data = {**data, "target": self.target}
        scenario = resolve(data, source="explored schedule")
        first = asyncio.run(run_scenario(scenario, self.reports))
        self.runs += 1
        if first.outcome.status == "inconclusive":
            self.inconclusive.append(str(first.run_dir))
        if not _broken(first):
            return []
        again = asyncio.run(run_scenario(scenario, self.reports))
        self.runs += 1
        if not _broken(again):
            self.unreproduced.append(str(first.run_dir))
            log.warning("failure did not reproduce, treated as a pass: %s (%s)", first.run_dir,
                        "; ".join(first.outcome.reasons))
            return []
        self.reports.mkdir(parents=True, exist_ok=True)
        self.found = self.reports / f"found-{self.profile}{'-' + self.mutant if self.mutant else ''}.json"
        self.found.write_text(json.dumps(data, indent=2) + "\n")
        self.found_run = again.run_dir
        return _broken(again)


def _broken(result: RunResult) -> list[str]:
    """The reasons of a run whose outcome (harness.outcome) failed, else nothing.

    The search hunts proven violations: an inconclusive run (never quiet, or a fault whose trigger never
    fired, such as an ACK count past the last ack) proves nothing, so it is logged and not shrunk.
    """
    if result.outcome.status == "inconclusive":
        log.info("inconclusive run, not a violation: %s (%s)", result.run_dir, "; ".join(result.outcome.reasons))
    return list(result.outcome.reasons) if result.outcome.status == "fail" else []


def chaos_machine(campaign: Campaign) -> type[RuleBasedStateMachine]:
    """A state machine class searching `campaign.profile` (and mutant) for a broken promise."""
    kinds = campaign.kinds
    client_kinds = tuple(k for k in kinds if fault_kind(k).acts_on == "client" and not fault_kind(k).needs_frames)
    outage_kinds = tuple(k for k in kinds if k in OUTAGE_KINDS)
    frame_faults = [st.tuples(st.just(k), fault_kind(k).strategy(MAX_DURATION)) for k in kinds
                    if fault_kind(k).needs_frames]

    class DeliveryChaos(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.clock = 0
            self.schedule: list[dict[str, Any]] = []
            self.open: list[tuple[int, int]] = []
            """(index in schedule, clock at its start) of faults not healed yet"""
            self.outage_open = False
            self.outage_over = 0
            """the clock from which the next server or database fault may start"""

        @rule(k=st.integers(1, 8))
        def send(self, k: int) -> None:
            self.clock = min(self.clock + k, MAX_CLOCK)

        def _start(self, fault: dict[str, Any]) -> None:
            fault["trigger"] = {"after_sends": {"client": "c1", "n": max(self.clock, 1)}}
            fault["duration"] = MAX_DURATION
            self.open.append((len(self.schedule), self.clock))
            self.schedule.append(fault)

        if client_kinds:
            @rule(kind=st.sampled_from(client_kinds), slot=st.sampled_from(["c1", "c2"]))
            def fault(self, kind: str, slot: str) -> None:
                self._start({"kind": kind, "target": slot})

        if outage_kinds:
            @precondition(lambda self: not self.outage_open and self.clock >= self.outage_over)
            @rule(kind=st.sampled_from(outage_kinds))
            def outage(self, kind: str) -> None:
                self._start({"kind": kind})
                self.outage_open = True

        if client_kinds or outage_kinds:
            @precondition(lambda self: bool(self.open))
            @rule()
            def heal(self) -> None:
                index, started = self.open.pop(0)
                fault = self.schedule[index]
                ticks = min(max(self.clock - started, MIN_TICKS), int(MAX_DURATION * RATE))
                fault["duration"] = round(ticks / RATE, 3)
                if fault["kind"] in OUTAGE_KINDS:
                    self.outage_open = False
                    self.outage_over = started + ticks + OUTAGE_GAP

        if frame_faults:
            # A frame fault (a lost ack) at the frame of c1's current message: the Nth of the kind's frames.
            @rule(drawn=st.one_of(frame_faults))
            def frame_fault(self, drawn: tuple[str, dict[str, Any]]) -> None:
                name, extra = drawn
                self.schedule.append({"kind": name, "target": "c1",
                                      "trigger": {"frame": {"nth": max(self.clock, 1)}}, **extra})

        def teardown(self) -> None:
            data = schedule_scenario(campaign.profile, campaign.mutant, self.schedule, self.clock,
                                     campaign.seed, campaign.storage)
            unmet = campaign.check(data)
            assert not unmet, (f"{'; '.join(unmet)}\n  scenario: {campaign.found}\n"
                               f"  replay: sio-harness replay {campaign.found_run}")

    DeliveryChaos.__name__ = f"DeliveryChaos_{campaign.profile}_{campaign.mutant or 'none'}".replace("-", "_")
    return DeliveryChaos


def run_search(campaign: Campaign, settings: Any, on_example: Callable[[], None] | None = None) -> str | None:
    """Run the machine under `settings`; the failure text of the shrunk counterexample, or None."""
    from hypothesis.stateful import run_state_machine_as_test

    machine = chaos_machine(campaign)
    if on_example is not None:
        original = machine.teardown

        def teardown(self: RuleBasedStateMachine) -> None:
            try:
                original(self)
            finally:
                on_example()

        machine.teardown = teardown  # type: ignore[method-assign]
    try:
        run_state_machine_as_test(machine, settings=settings)
    except AssertionError as exc:
        return str(exc)
    except Flaky as exc:
        # The shrunk example passed on Hypothesis's final replay despite two failing runs before: the
        # saved scenario still failed twice; report it with that caveat rather than hide it.
        return f"failure found but its final replay passed ({type(exc).__name__}); see {campaign.found}"
    return None
