"""The harness's own load during a run, and the rule that says when it was too high to trust the run.

A late pong, a receipt recorded late, a send that left late: when the harness itself cannot keep up, its
history shows losses, timeouts and disconnects that the server never caused. So while the workload runs
and the run waits for quiet, `LoadMonitor` measures the two places where the harness falls behind:

- **its event loop's lag**: the lateness of a 50 ms timer (every client of the python driver, the embedded
  proxy and the nemesis share that loop, so a late timer is a late everything);
- **the embedded proxy's backlog**: the most bytes one proxy link held for its client because the client
  did not read them (only when the embedded proxy runs in the harness process, as `sio-harness run`
  starts it; the real Toxiproxy does not say).

`overload_reasons` compares the measures with the scenario's `overload` bounds; a run with a reason is
inconclusive, never a pass and never a fail (harness.outcome, docs/reliability.md "Harness overloaded").
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.scenario import Overload

TICK = 0.05
"""Seconds between the monitor's timer ticks: fine enough to see a 250 ms stall many times over."""


@dataclass
class HarnessLoad:
    """What the monitor measured: every tick's lateness (ms) and the largest proxy backlog (bytes)."""

    lags_ms: list[float] = field(default_factory=list)
    proxy_backlog_bytes: int | None = None
    """None when it could not be measured (no embedded proxy in the harness process)."""

    def lag_p99_ms(self) -> float:
        """The p99 of the ticks' lateness, but never one tick's alone: in a short run (under 100 ticks) the
        p99 is the largest tick, and one stall (the process descheduled once) is not an overload; two are."""
        ordered = sorted(self.lags_ms)
        p99 = percentile(ordered, 0.99)
        return min(p99, ordered[-2]) if len(ordered) >= 2 else 0.0

    def to_dict(self) -> dict[str, Any]:
        lags = self.lags_ms
        return {"loop_lag_ms": {"ticks": len(lags), "p50": round(percentile(lags, 0.5), 3),
                                "p99": round(self.lag_p99_ms(), 3), "max": round(max(lags, default=0.0), 3)},
                "proxy_backlog_bytes": self.proxy_backlog_bytes}


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank `q` quantile (0 < q <= 1) of `values`, 0 for none: a value that was measured."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)) - 1, 0)]


def overload_reasons(load: HarnessLoad, bounds: Overload) -> list[str]:
    """One reason per bound the measures exceed, e.g. `harness overloaded: event loop lag p99 412 ms > 250 ms`."""
    reasons = []
    p99 = load.lag_p99_ms()
    if p99 > bounds.loop_lag_p99_ms:
        reasons.append(f"harness overloaded: event loop lag p99 {_ms(p99)} ms > {_ms(bounds.loop_lag_p99_ms)} ms")
    backlog = load.proxy_backlog_bytes
    if backlog is not None and backlog > bounds.proxy_backlog_bytes:
        reasons.append(f"harness overloaded: proxy backlog {backlog} bytes for one client > "
                       f"{bounds.proxy_backlog_bytes} bytes")
    return reasons


def _ms(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.3g}"


class LoadMonitor:
    """Measures `HarnessLoad` on the running loop from `start()` to `stop()` (stopping twice is harmless)."""

    def __init__(self) -> None:
        self.load = HarnessLoad()
        self._backlog: Callable[[], int] | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self, backlog: Callable[[], int] | None = None) -> None:
        """Tick from now on; `backlog` gives the proxy's current largest client backlog, sampled at every
        tick (None: nothing to sample)."""
        self._backlog = backlog
        self.load.proxy_backlog_bytes = 0 if backlog is not None else None
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> HarnessLoad:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        return self.load

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        load = self.load
        while True:
            due = loop.time() + TICK
            await asyncio.sleep(TICK)
            load.lags_ms.append(max(loop.time() - due, 0.0) * 1000)
            if self._backlog is not None:
                load.proxy_backlog_bytes = max(load.proxy_backlog_bytes or 0, self._backlog())
