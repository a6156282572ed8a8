"""`partition`: the client's proxy is disabled (open connections closed, new ones refused) until the heal."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from harness.faults.base import Acts, Fault, FaultContext, FaultKind, Heal, Lane, links


@dataclass(frozen=True, kw_only=True)
class Partition(FaultKind):
    acts_on: Acts = "client"
    lane: Lane = "client"

    async def start(self, ctx: FaultContext, fault: Fault, heal: Heal) -> None:
        for proxy in links(ctx, fault):
            await ctx.proxies.set_enabled(proxy, False)
            heal.then(functools.partial(ctx.proxies.set_enabled, proxy, True))


PARTITION = Partition(name="partition", duration=1.0, searched=True)

KINDS = (PARTITION,)
