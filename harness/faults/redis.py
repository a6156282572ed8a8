"""Faults of the Redis the nodes share (docs/multinode.md).

- `redis_outage`: one node's Redis links (target `nN`) or every node's (`all`) are disabled: open
  connections closed, new ones refused. python-socketio gives up publishing after two attempts and
  its listener retries with a doubling sleep from 1 s (python-socketio issue 1411).
- `redis_restart`: the Redis process is stopped for the duration and started again on the same port,
  empty: every subscription is gone and each node must notice and subscribe again.
- `deaf_node`: only the subscription link of one node goes silent (a `timeout` toxic of 0 ms on its
  downstream: the connection stays open, nothing arrives), as when one worker's listener dies
  quietly (python-socketio issue 1581). The node still publishes, so the others hear it; it hears
  nobody. Removing the toxic closes the hung connection, and the listener reconnects.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from harness.errors import ScenarioError
from harness.faults.base import Acts, Fault, FaultContext, FaultKind, Heal, Lane


@dataclass(frozen=True, kw_only=True)
class RedisLinkFault(FaultKind):
    acts_on: Acts = "node"
    lane: Lane = "server"

    def check(self, ctx: FaultContext, fault: Fault) -> None:
        if not ctx.redis_links:
            raise ScenarioError(f"{self.name} needs a multi-node target (target.nodes >= 2)")
        if fault.target != "all" and fault.target not in ctx.redis_links:
            raise ScenarioError(f"{self.name} needs one of the nodes ({', '.join(ctx.redis_links)}"
                                f"{', all' if self.targets_all else ''}), not {fault.target!r}")


@dataclass(frozen=True, kw_only=True)
class RedisOutage(RedisLinkFault):
    async def start(self, ctx: FaultContext, fault: Fault, heal: Heal) -> None:
        nodes = list(ctx.redis_links) if fault.target == "all" else [fault.target]
        for node in nodes:
            for link in ctx.redis_links[node]:
                await ctx.proxies.set_enabled(link, False)
                heal.then(functools.partial(ctx.proxies.set_enabled, link, True))


@dataclass(frozen=True, kw_only=True)
class DeafNode(RedisLinkFault):
    targets_all: bool = False

    async def start(self, ctx: FaultContext, fault: Fault, heal: Heal) -> None:
        link = ctx.redis_links[fault.target][1]
        await ctx.proxies.add_toxic(link, "timeout", stream="downstream", name=heal.name,
                                    attributes={"timeout": 0})
        heal.then(functools.partial(ctx.proxies.remove_toxic, link, heal.name))
        heal.detail["toxics"] = [heal.name]


@dataclass(frozen=True, kw_only=True)
class RedisRestart(FaultKind):
    acts_on: Acts = "redis"
    lane: Lane = "server"

    def check(self, ctx: FaultContext, fault: Fault) -> None:
        if ctx.redis is None:
            raise ScenarioError(f"{self.name} needs a multi-node target (target.nodes >= 2)")
        if not ctx.redis.restartable:
            raise ScenarioError(f"{self.name}: the Redis at REDIS_URL is not the harness's to restart")

    async def start(self, ctx: FaultContext, fault: Fault, heal: Heal) -> None:
        assert ctx.redis is not None
        await ctx.redis.stop()
        heal.then(ctx.redis.start)


REDIS_OUTAGE = RedisOutage(name="redis_outage", duration=1.0, searched=True)
REDIS_RESTART = RedisRestart(name="redis_restart", duration=0.3, searched=True)
DEAF_NODE = DeafNode(name="deaf_node", duration=1.5, searched=True)

KINDS = (REDIS_OUTAGE, REDIS_RESTART, DEAF_NODE)
