"""When faults start and heal: the schedule of a resolved scenario, run against a topology.

Every fault of the scenario model has a start and a heal (docs/scenarios.md); what each does is its
kind's (`harness.faults`). Triggers put a fault at a reproducible point:

- `{"at": s}`: `s` seconds after the workload starts;
- `{"after_sends": {"client": "c2", "n": 30}}`: right after c2's 30th send and before its 31st (the
  workload calls `on_send`, which runs the fault start before the workload goes on). With
  `"once_received": {"client": "c3", "n": 1}` the sender then waits until c3 has received one broadcast
  (c3 holds a server offset, which recovery needs) and the fault starts then; if c3 receives nothing
  within `RECEIVE_WAIT` the fault never starts and the run reports it untriggered;
- `{"frame": {...,"nth": 5}}`: at the 5th matching Socket.IO frame on the target's link, counted by the
  embedded proxy's `frame` toxic.

A frame-aware fault *is* a `frame` toxic, so its trigger is the toxic's `nth` and it heals once the
toxic has hit `params.count` frames (see `harness.faults.frames`). Any other fault with a frame trigger
is started when an observing `frame` toxic reports that the frame passed. `arm()` installs frame toxics
before the clients connect, because a frame toxic leaves alone a connection it joins late.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

from harness.errors import HarnessError
from harness.faults import Fault
from harness.faults import kind as kind_of
from harness.faults.base import Heal
from harness.faults.frames import await_fired, require_frame_toxics, watch
from harness.nemesis.context import NemesisContext

RECEIVE_WAIT = 10.0
"""Seconds an `after_sends` trigger waits for its `once_received` client; a client that receives nothing
for that long is not a protocol point any fault can be placed after."""


@dataclass
class ActiveFault:
    fault: Fault
    index: int
    heal: Heal
    recorded: bool = False
    """The fault event is in the history (an armed frame toxic that never fired is not)."""
    watch: bool = False
    """Only the observing toxic of a frame trigger, not the fault itself."""
    healed: bool = False

    @property
    def detail(self) -> dict[str, Any]:
        return self.heal.detail


def _active(fault: Fault, index: int) -> ActiveFault:
    return ActiveFault(fault=fault, index=index, heal=Heal(f"{fault.kind}-{index}"))


class Nemesis:
    """Runs a resolved fault schedule against a topology; `heal_all()` always leaves it healthy."""

    def __init__(self, ctx: NemesisContext, faults: list[Fault]) -> None:
        self.ctx = ctx
        self.faults = faults
        self.active: list[ActiveFault] = []
        self._t0 = time.monotonic()
        self._send_waiters: dict[tuple[str, int], list[int]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._frame_tasks: list[asyncio.Task[None]] = []
        self._armed: dict[int, ActiveFault] = {}
        self._parked: dict[int, ActiveFault] = {}
        self._lock = asyncio.Lock()
        self._unmet: list[int] = []
        for index, fault in enumerate(faults):
            self._check_supported(fault)
            spec = fault.trigger.get("after_sends")
            if spec:
                self._send_waiters.setdefault((spec["client"], spec["n"]), []).append(index)

    def _check_supported(self, fault: Fault) -> None:
        if "frame" in fault.trigger:
            require_frame_toxics(self.ctx, fault)
        kind_of(fault.kind).check(self.ctx, fault)

    def _tasks_of(self, fault: Fault) -> list[asyncio.Task[None]]:
        # A frame fault may wait for frames that never come; `wait_schedule` does not wait for those.
        return self._frame_tasks if kind_of(fault.kind).needs_frames else self._tasks

    # -- schedule -----------------------------------------------------------------------------------------

    async def arm(self) -> None:
        """Install the frame toxics of frame-aware faults and frame triggers; call it before the clients
        connect.

        A frame toxic counts matching frames from the moment it exists and can only follow a WebSocket
        whose HTTP upgrade it saw, so arming before the first connect makes `nth` count from the start
        of the run, the same way on every replay.
        """
        for index, fault in enumerate(self.faults):
            active = _active(fault, index)
            if await kind_of(fault.kind).arm(self.ctx, fault, active.heal):
                (self._armed if "frame" in fault.trigger else self._parked)[index] = active
            elif "frame" in fault.trigger:
                active.heal = Heal(f"trigger-{index}")
                await watch(self.ctx, fault.trigger["frame"], active.heal)
                active.watch = True
                self._armed[index] = active

    def begin(self) -> None:
        """Start the time- and frame-triggered part of the schedule; the workload clock starts now."""
        self._t0 = time.monotonic()
        for index, fault in enumerate(self.faults):
            if "at" in fault.trigger:
                self._tasks_of(fault).append(asyncio.create_task(self._at(index, fault)))
            elif index in self._armed:
                self._frame_tasks.append(asyncio.create_task(self._on_frame(self._armed[index])))

    async def on_send(self, slot: str, sent: int) -> None:
        """Called by the workload after each send: starts the faults waiting for this exact count."""
        for index in self._send_waiters.pop((slot, sent), []):
            fault = self.faults[index]
            once = fault.trigger["after_sends"].get("once_received")
            if once and not await self.ctx.history.wait_received(once["client"], once["n"], RECEIVE_WAIT):
                self._unmet.append(index)
                continue
            active = await self.start(index, fault)
            self._tasks_of(active.fault).append(asyncio.create_task(self._heal_later(active)))

    async def wait_schedule(self, timeout: float | None = None) -> bool:
        """Wait until every time- and send-triggered fault that started has healed; False on timeout.

        Nothing is cancelled on timeout: `heal_all` does that.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            running = [t for t in self._tasks if not t.done()]
            if not running:
                for task in self._tasks:
                    if not task.cancelled() and task.exception() is not None:
                        raise task.exception()  # type: ignore[misc]
                return True
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            await asyncio.wait(running, timeout=remaining)

    @property
    def frames_waiting(self) -> bool:
        """Whether a frame-triggered fault still waits for its frame (or for its `count`)."""
        return any(not t.done() for t in self._frame_tasks)

    @property
    def pending(self) -> list[Fault]:
        """Faults whose trigger never fired: send counts never reached, frames never seen."""
        waiting = [i for ids in self._send_waiters.values() for i in ids] + self._unmet
        waiting += [i for i, active in self._armed.items() if not active.recorded]
        waiting += list(self._parked)
        waiting += [a.index for a in self.active
                    if kind_of(a.fault.kind).needs_frames and a.detail.get("fired") == 0]
        return [self.faults[i] for i in sorted(set(waiting))]

    async def _at(self, index: int, fault: Fault) -> None:
        delay = self._t0 + fault.trigger["at"] - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await self._heal_later(await self.start(index, fault))

    async def _on_frame(self, armed: ActiveFault) -> None:
        await await_fired(self.ctx, armed.heal, 1, None)
        if not armed.watch:
            # The toxic itself is the fault: it has acted on its first frame; record it from now on.
            async with self._lock:
                self.active.append(armed)
                self._record_fault(armed)
            await self._heal_later(armed)
            return
        armed.recorded = True
        await self.heal(armed)
        await self._heal_later(await self.start(armed.index, armed.fault))

    async def _heal_later(self, active: ActiveFault) -> None:
        await kind_of(active.fault.kind).lasts(self.ctx, active.fault, active.heal)
        await self.heal(active)

    # -- start and heal -----------------------------------------------------------------------------------

    async def start(self, index: int, fault: Fault) -> ActiveFault:
        """Start one fault now and record it; returns the handle `heal` takes."""
        # A parked frame fault keeps the toxic it was armed with: starting it aims that toxic.
        active = self._parked.pop(index, None) or _active(fault, index)
        async with self._lock:
            self.active.append(active)
            # Recorded first: the clients' reactions (disconnects, failed sends) come after it in the history.
            self._record_fault(active)
            await kind_of(fault.kind).start(self.ctx, fault, active.heal)
        return active

    def _record_fault(self, active: ActiveFault) -> None:
        fault = active.fault
        active.recorded = True
        self.ctx.history.append("nemesis", "info", "fault",
                                {"fault": fault.kind, "target": fault.target, "index": active.index,
                                 "trigger": fault.trigger, "duration": fault.duration,
                                 **({"params": fault.params} if fault.params else {})})

    async def inject(self, kind: str, target: str | None = None, *, duration: float | None = None,
                     **params: Any) -> ActiveFault:
        """Start a fault by hand, now (tests drive faults this way); undo it with `heal`."""
        acts_on = kind_of(kind).acts_on
        if target is None:
            target = next(iter(self.ctx.links)) if acts_on == "client" else acts_on
        fault = Fault(kind=kind, target=target, trigger={"at": 0}, duration=duration, params=params)
        self._check_supported(fault)
        self.faults.append(fault)
        return await self.start(len(self.faults) - 1, fault)

    async def heal(self, active: ActiveFault) -> None:
        """Undo one fault (idempotent) and record the heal."""
        async with self._lock:
            if active.healed:
                return
            active.healed = True
            error = None
            try:
                await active.heal()
            except Exception as exc:
                error = exc
            if active.recorded and not active.watch:
                self.ctx.history.append("nemesis", "info", "heal",
                                        {"fault": active.fault.kind, "target": active.fault.target,
                                         "index": active.index, **active.detail})
            if error is not None:
                raise HarnessError(f"healing {active.fault.label} failed: {error}")

    async def heal_all(self) -> None:
        """Cancel the schedule and heal every started fault: the end of every run, whatever happened."""
        tasks = self._tasks + self._frame_tasks
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for active in [*self.active, *self._armed.values(), *self._parked.values()]:
            await self.heal(active)
