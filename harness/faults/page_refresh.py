"""`page_refresh`: the page is thrown away with its buffers and retry queue and a fresh one opens in the
same slot under the next lineage name (`c2` -> `c2.1`). Nothing to heal; the heal event names both.

Not searched: it legitimately abandons the refreshed page's unsent messages on every step
(docs/guarantees.md), so every example would fail.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.faults.base import Acts, Fault, FaultContext, FaultKind, Heal, Lane


@dataclass(frozen=True, kw_only=True)
class PageRefresh(FaultKind):
    acts_on: Acts = "client"
    lane: Lane = "client"
    targets_all: bool = False

    async def start(self, ctx: FaultContext, fault: Fault, heal: Heal) -> None:
        driver = ctx.drivers[fault.target]
        before = driver.proc
        await driver.page_refresh()
        heal.detail.update({"from": before, "to": driver.proc})


PAGE_REFRESH = PageRefresh(name="page_refresh", duration=0.0)

KINDS = (PAGE_REFRESH,)
