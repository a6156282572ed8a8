"""The nemesis: starts each scheduled fault at its trigger and heals it, writing both to the history.

Every fault of the scenario model has a start and a heal (DESIGN.md section 6). Client-link faults act on
the proxy in front of one client (or all of them), server faults on the server process, `db_outage` on the
database. Triggers put a fault at a reproducible point:

- `{"at": s}`: `s` seconds after the workload starts;
- `{"after_sends": {"client": "c2", "n": 30}}`: right after c2's 30th send and before its 31st (the
  workload calls `on_send`, which runs the fault start before the workload goes on);
- `{"frame": {...,"nth": 5}}`: at the 5th matching Socket.IO frame on the target's link, counted by the
  embedded proxy's `frame` toxic.

A frame-aware fault *is* a `frame` toxic, so its trigger is the toxic's `nth` and it heals once the
toxic has hit `params.count` frames (default 1). Any other fault with a frame trigger is started when an
observing `frame` toxic (action `delay`, 0 ms) reports that the frame passed. Frame toxics are installed
by `arm()` before the clients connect, because a frame toxic leaves alone a connection it joins late; a
frame-aware fault with a time or send trigger is installed *parked* (an `nth` no count reaches) and
aimed at the next matching frame when its trigger fires.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from harness.clients.base import ClientDriver
from harness.errors import HarnessError, ScenarioError
from harness.history import HistoryWriter
from harness.scenario import DB_FAULTS, FRAME_FAULTS, SERVER_FAULTS, Fault

SIO_TYPES = ("CONNECT", "DISCONNECT", "EVENT", "ACK", "CONNECT_ERROR", "BINARY_EVENT", "BINARY_ACK")

_FRAME_ACTION = {"ack_drop": "drop", "frame_drop": "drop", "frame_delay": "delay", "frame_dup": "duplicate",
                 "frame_cut": "cut"}

_TOXIC_OF = {"latency": "latency", "jitter": "latency", "bandwidth": "bandwidth", "slicer": "slicer",
             "blackhole": "timeout", "disconnect": "reset_peer"}

_TOXIC_DEFAULTS: dict[str, dict[str, Any]] = {
    "latency": {"latency": 200, "jitter": 0},
    "jitter": {"latency": 100, "jitter": 100},
    "bandwidth": {"rate": 10},
    "slicer": {"average_size": 16, "size_variation": 8, "delay": 1000},
    # timeout 0: bytes vanish and the connection is never closed by the toxic itself.
    "blackhole": {"timeout": 0},
    "disconnect": {"timeout": 0},
}

PARKED = 2**31 - 1
"""`nth` of a frame toxic installed ahead of its trigger: no frame count reaches it."""

FRAME_POLL = 0.005
"""Seconds between reads of a frame toxic's `fired` counter (the Toxiproxy API offers no push)."""


class ServerControl(Protocol):
    """What the nemesis needs from the process under test (the runner's server handle)."""

    async def crash(self) -> None: ...
    async def stop(self) -> None: ...
    async def start(self) -> None: ...


class ProxyControl(Protocol):
    """The Toxiproxy API calls the nemesis makes (harness.proxy.control.ToxiproxyClient)."""

    async def set_enabled(self, name: str, enabled: bool) -> Any: ...
    async def add_toxic(self, proxy: str, type: str, *, stream: str = "downstream", name: str | None = None,
                        toxicity: float = 1.0, attributes: dict[str, Any] | None = None) -> Any: ...
    async def update_toxic(self, proxy: str, name: str, *, attributes: dict[str, Any] | None = None,
                           toxicity: float | None = None) -> Any: ...
    async def remove_toxic(self, proxy: str, name: str) -> Any: ...
    async def get_toxic(self, proxy: str, name: str) -> dict[str, Any]: ...


@dataclass
class NemesisContext:
    """The handles of a running topology that faults act on."""

    history: HistoryWriter
    proxies: ProxyControl
    links: dict[str, str]
    """client slot -> name of the proxy in front of it"""
    drivers: dict[str, ClientDriver]
    server: ServerControl
    storage: str = "sqlite"
    sqlite_path: Path | None = None
    db_link: str | None = None
    """name of the proxy between the server and PostgreSQL"""
    frame_toxics: bool = True
    """False when the proxy backend cannot parse frames (the real Toxiproxy)."""
    lock_sqlite: Callable[[Path], contextlib.AbstractAsyncContextManager[Any]] | None = None


@dataclass
class ActiveFault:
    fault: Fault
    index: int
    heal_actions: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)
    recorded: bool = False
    """The fault event is in the history (an armed frame toxic that never fired is not)."""
    watch: bool = False
    """Only the observing toxic of a frame trigger, not the fault itself."""
    healed: bool = False
    detail: dict[str, Any] = field(default_factory=dict)


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
        for index, fault in enumerate(faults):
            self._check_supported(fault)
            spec = fault.trigger.get("after_sends")
            if spec:
                self._send_waiters.setdefault((spec["client"], spec["n"]), []).append(index)

    def _check_supported(self, fault: Fault) -> None:
        if (fault.kind in FRAME_FAULTS or "frame" in fault.trigger) and not self.ctx.frame_toxics:
            raise ScenarioError(f"fault {fault.label}: frame-aware faults and frame triggers need the embedded "
                                f"proxy (set proxy to 'embedded'); the real Toxiproxy cannot parse frames")
        if fault.kind == "db_outage" and self.ctx.storage == "sqlite" and self.ctx.sqlite_path is None:
            raise ScenarioError(f"fault {fault.label}: no SQLite file known for this target")

    # -- schedule -----------------------------------------------------------------------------------------

    async def arm(self) -> None:
        """Install the frame toxics of frame-triggered faults; call it before the clients connect.

        A frame toxic counts matching frames from the moment it exists and can only follow a WebSocket
        whose HTTP upgrade it saw, so arming before the first connect makes `nth` count from the start
        of the run, the same way on every replay.
        """
        for index, fault in enumerate(self.faults):
            if fault.kind in FRAME_FAULTS and "frame" not in fault.trigger:
                parked = ActiveFault(fault=fault, index=index)
                await self._install_frame(parked, PARKED)
                self._parked[index] = parked
                continue
            if "frame" not in fault.trigger:
                continue
            active = ActiveFault(fault=fault, index=index)
            if fault.kind in FRAME_FAULTS:
                await self._install_frame(active, fault.trigger["frame"]["nth"])
            else:
                frame = fault.trigger["frame"]
                proxy, name = self.ctx.links[frame["client"]], f"trigger-{index}"
                watch = self._frame_attributes(frame, action="delay", nth=frame["nth"], count=1, delay=0)
                await self.ctx.proxies.add_toxic(proxy, "frame", stream=frame["stream"], name=name,
                                                 attributes=watch)
                active.detail["toxics"] = [(proxy, name)]
                active.watch = True
                active.heal_actions.append(self._remover(proxy, name))
            self._armed[index] = active

    def begin(self) -> None:
        """Start the time- and frame-triggered part of the schedule; the workload clock starts now."""
        self._t0 = time.monotonic()
        for index, fault in enumerate(self.faults):
            if "at" in fault.trigger:
                tasks = self._frame_tasks if fault.kind in FRAME_FAULTS else self._tasks
                tasks.append(asyncio.create_task(self._at(index, fault)))
            elif index in self._armed:
                self._frame_tasks.append(asyncio.create_task(self._on_frame(self._armed[index])))

    async def on_send(self, slot: str, sent: int) -> None:
        """Called by the workload after each send: starts the faults waiting for this exact count."""
        for index in self._send_waiters.pop((slot, sent), []):
            active = await self.start(index, self.faults[index])
            tasks = self._frame_tasks if active.fault.kind in FRAME_FAULTS else self._tasks
            tasks.append(asyncio.create_task(self._heal_later(active)))

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
        waiting = [i for ids in self._send_waiters.values() for i in ids]
        waiting += [i for i, active in self._armed.items() if not active.recorded]
        waiting += list(self._parked)
        waiting += [a.index for a in self.active if a.fault.kind in FRAME_FAULTS and a.detail.get("fired") == 0]
        return [self.faults[i] for i in sorted(set(waiting))]

    async def _at(self, index: int, fault: Fault) -> None:
        delay = self._t0 + fault.trigger["at"] - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await self._heal_later(await self.start(index, fault))

    async def _on_frame(self, armed: ActiveFault) -> None:
        await self._await_fired(armed, 1, None)
        fault = armed.fault
        if fault.kind in FRAME_FAULTS:
            # The toxic itself is the fault: it has acted on its first frame; record it from now on.
            async with self._lock:
                self.active.append(armed)
                self._record_fault(armed)
            await self._frame_lifetime(armed)
            await self.heal(armed)
            return
        armed.recorded = True
        await self.heal(armed)
        await self._heal_later(await self.start(armed.index, fault))

    async def _heal_later(self, active: ActiveFault) -> None:
        fault = active.fault
        if fault.kind in FRAME_FAULTS:
            await self._frame_lifetime(active)
        elif fault.duration:
            await asyncio.sleep(fault.duration)
        await self.heal(active)

    async def _frame_lifetime(self, active: ActiveFault) -> None:
        """A frame fault lasts until its toxic has hit `count` frames, or for `duration` when count is 0
        (every matching frame; with no duration, until the end of the schedule)."""
        count = int(active.fault.params.get("count", 1))
        if count:
            await self._await_fired(active, count, active.fault.duration)
            return
        if active.fault.duration:
            await asyncio.sleep(active.fault.duration)
        else:
            await asyncio.Event().wait()  # until heal_all cancels the schedule

    async def _await_fired(self, active: ActiveFault, count: int, limit: float | None) -> None:
        deadline = None if limit is None else time.monotonic() + limit
        toxics = active.detail["toxics"]
        while True:
            fired = 0
            for proxy, name in toxics:
                fired += await self._fired(proxy, name)
            if fired >= count:
                active.detail["fired"] = fired
                return
            if deadline is not None and time.monotonic() >= deadline:
                active.detail["fired"] = fired
                return
            await asyncio.sleep(FRAME_POLL)

    async def _fired(self, proxy: str, name: str) -> int:
        toxic = await self.ctx.proxies.get_toxic(proxy, name)
        return int(toxic.get("fired", toxic.get("attributes", {}).get("fired", 0)))

    # -- start and heal -----------------------------------------------------------------------------------

    async def start(self, index: int, fault: Fault) -> ActiveFault:
        """Start one fault now and record it; returns the handle `heal` takes."""
        active = ActiveFault(fault=fault, index=index)
        async with self._lock:
            self.active.append(active)
            # Recorded first: the clients' reactions (disconnects, failed sends) come after it in the history.
            self._record_fault(active)
            starter = getattr(self, f"_start_{fault.kind}", None) or self._start_toxic
            await starter(active)
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
        if target is None:
            target = "server" if kind in SERVER_FAULTS else "db" if kind in DB_FAULTS else next(iter(self.ctx.links))
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
            errors = []
            for action in reversed(active.heal_actions):
                try:
                    await action()
                except Exception as exc:  # one failed undo must not leave the others undone
                    errors.append(exc)
            if active.recorded and not active.watch:
                self.ctx.history.append("nemesis", "info", "heal",
                                        {"fault": active.fault.kind, "target": active.fault.target,
                                         "index": active.index, **active.detail})
            if errors:
                raise HarnessError(f"healing {active.fault.label} failed: {errors[0]}")

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

    def _slots(self, fault: Fault) -> list[str]:
        return list(self.ctx.links) if fault.target == "all" else [fault.target]

    async def _start_toxic(self, active: ActiveFault) -> None:
        fault = active.fault
        toxic_type = _TOXIC_OF[fault.kind]
        attributes = {**_TOXIC_DEFAULTS[fault.kind],
                      **{k: v for k, v in fault.params.items() if k not in ("stream", "toxicity")}}
        stream = fault.params.get("stream", "both")
        streams = ["upstream", "downstream"] if stream == "both" else [stream]
        toxics = []
        for slot in self._slots(fault):
            proxy = self.ctx.links[slot]
            for s in streams:
                name = f"{fault.kind}-{active.index}-{s}"
                await self.ctx.proxies.add_toxic(proxy, type=toxic_type, stream=s, name=name,
                                                 toxicity=float(fault.params.get("toxicity", 1.0)),
                                                 attributes=attributes)
                toxics.append((proxy, name))
                active.heal_actions.append(self._remover(proxy, name))
        active.detail["toxics"] = toxics

    def _remover(self, proxy: str, name: str) -> Callable[[], Awaitable[Any]]:
        return lambda: self.ctx.proxies.remove_toxic(proxy, name)

    async def _start_partition(self, active: ActiveFault) -> None:
        for slot in self._slots(active.fault):
            proxy = self.ctx.links[slot]
            await self.ctx.proxies.set_enabled(proxy, False)
            active.heal_actions.append(lambda p=proxy: self.ctx.proxies.set_enabled(p, True))

    async def _start_page_refresh(self, active: ActiveFault) -> None:
        driver = self.ctx.drivers[active.fault.target]
        before = driver.proc
        await driver.page_refresh()
        active.detail.update({"from": before, "to": driver.proc})

    async def _start_server_crash(self, active: ActiveFault) -> None:
        await self.ctx.server.crash()
        active.heal_actions.append(self.ctx.server.ensure_running)

    async def _start_server_restart(self, active: ActiveFault) -> None:
        await self.ctx.server.stop()
        active.heal_actions.append(self.ctx.server.ensure_running)

    async def _start_db_outage(self, active: ActiveFault) -> None:
        if self.ctx.storage == "postgres":
            if not self.ctx.db_link:
                raise ScenarioError("db_outage on PostgreSQL needs the server's database link to go "
                                    "through the proxy; this target has none")
            link = self.ctx.db_link
            await self.ctx.proxies.set_enabled(link, False)
            active.heal_actions.append(lambda: self.ctx.proxies.set_enabled(link, True))
            return
        if self.ctx.lock_sqlite is None or self.ctx.sqlite_path is None:
            raise ScenarioError("db_outage on SQLite needs the database file and a lock helper")
        stack = contextlib.AsyncExitStack()
        await stack.enter_async_context(self.ctx.lock_sqlite(self.ctx.sqlite_path))
        active.heal_actions.append(stack.aclose)

    async def _start_frame(self, active: ActiveFault) -> None:
        parked = self._parked.pop(active.index, None)
        if parked is None:
            await self._install_frame(active, active.fault.trigger.get("frame", {}).get("nth", 1))
            return
        # Installed before the clients connected (a frame toxic leaves a connection it joins late
        # alone); now aim it at the next matching frame(s). `matched` counts across connections.
        active.heal_actions, active.detail = parked.heal_actions, parked.detail
        offset = int(active.fault.params.get("nth", 1))
        for proxy, name in active.detail["toxics"]:
            matched = int((await self.ctx.proxies.get_toxic(proxy, name)).get("matched", 0))
            while True:
                nth = matched + offset
                toxic = await self.ctx.proxies.update_toxic(proxy, name, attributes={"nth": nth})
                # Frames keep flowing between the read and the update; the update's answer tells
                # whether the target frame was still ahead. If it slipped past, aim again.
                matched = int((toxic or {}).get("matched", 0))
                if matched < nth:
                    break

    async def _install_frame(self, active: ActiveFault, nth: int) -> None:
        fault = active.fault
        frame = fault.trigger.get("frame", {})
        params = fault.params
        event = params.get("event", frame.get("event"))
        attributes = self._frame_attributes(
            {"sio_type": params.get("sio_type", frame.get("sio_type", "ACK" if fault.kind == "ack_drop" else "EVENT")),
             **({"event": event} if event else {})},
            action=_FRAME_ACTION[fault.kind], nth=nth, count=int(params.get("count", 1)),
            delay=params.get("delay", 500 if fault.kind == "frame_delay" else 0))
        stream = frame.get("stream") or params.get("stream") or (
            "downstream" if fault.kind == "ack_drop" else "upstream")
        toxics = []
        for slot in self._slots(fault):
            proxy = self.ctx.links[slot]
            name = f"{fault.kind}-{active.index}"
            await self.ctx.proxies.add_toxic(proxy, "frame", stream=stream, name=name, attributes=attributes)
            toxics.append((proxy, name))
            active.heal_actions.append(self._remover(proxy, name))
        active.detail["toxics"] = toxics

    _start_ack_drop = _start_frame
    _start_frame_drop = _start_frame
    _start_frame_delay = _start_frame
    _start_frame_dup = _start_frame
    _start_frame_cut = _start_frame

    @staticmethod
    def _frame_attributes(match: dict[str, Any], **extra: Any) -> dict[str, Any]:
        attributes = {"sio_type": match.get("sio_type", "EVENT"), **extra}
        if match.get("event"):
            attributes["event"] = match["event"]
        return attributes

    @staticmethod
    async def _quietly(awaitable: Awaitable[Any]) -> None:
        with contextlib.suppress(Exception):
            await awaitable
