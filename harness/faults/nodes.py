"""Faults of one node among several (docs/multinode.md): `node_crash` (SIGKILL), `node_restart` (SIGTERM,
a graceful stop as a rolling deploy does) and `node_pause` (SIGSTOP: a long GC pause or a frozen
container; heartbeats stop, sockets stay open, then SIGCONT).

Each tells the harness's balancer that its node is down, so the node's clients fail over (per
`target.failover`) once their connections end, and that it is back once it serves again: after the heal
has restarted (or resumed) it, as a health check would see it. A crashed or stopped node is started
again on the same port at the heal, unless it already runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from harness.errors import ScenarioError
from harness.faults.base import Acts, Fault, FaultContext, FaultKind, Heal, Lane, NodeControl


def _node(ctx: FaultContext, fault: Fault) -> NodeControl:
    return ctx.nodes[fault.target]


@dataclass(frozen=True, kw_only=True)
class NodeFault(FaultKind):
    acts_on: Acts = "node"
    lane: Lane = "server"
    targets_all: bool = False

    def check(self, ctx: FaultContext, fault: Fault) -> None:
        if fault.target not in ctx.nodes:
            raise ScenarioError(f"{self.name} needs a node of a multi-node target "
                                f"({', '.join(ctx.nodes) or 'this run has one server'}), not {fault.target!r}")

    async def _down(self, ctx: FaultContext, fault: Fault) -> None:
        if ctx.router is not None:
            await ctx.router.node_down(fault.target)

    def _back(self, ctx: FaultContext, fault: Fault,
              revive: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[None]]:
        """The heal step: the node serves again, then the balancer marks it up. Marked up first, a node
        still starting looked live for as long as its restart took, and a client whose disconnect was
        reported in that time (a browser page's comes 0.1-0.4 s after the crash) retried the dead node
        instead of failing over."""
        async def step() -> None:
            await revive()
            if ctx.router is not None:
                await ctx.router.node_up(fault.target)
        return step


@dataclass(frozen=True, kw_only=True)
class NodeCrash(NodeFault):
    async def start(self, ctx: FaultContext, fault: Fault, heal: Heal) -> None:
        node = _node(ctx, fault)
        await node.crash()
        heal.then(self._back(ctx, fault, node.ensure_running))
        await self._down(ctx, fault)


@dataclass(frozen=True, kw_only=True)
class NodeRestart(NodeFault):
    async def start(self, ctx: FaultContext, fault: Fault, heal: Heal) -> None:
        node = _node(ctx, fault)
        # Down first: the graceful stop closes every connection, and each client should be moved
        # before its reconnect, not after it has found the port closed.
        heal.then(self._back(ctx, fault, node.ensure_running))
        await self._down(ctx, fault)
        await node.stop()


@dataclass(frozen=True, kw_only=True)
class NodePause(NodeFault):
    async def start(self, ctx: FaultContext, fault: Fault, heal: Heal) -> None:
        node = _node(ctx, fault)
        await node.pause()
        heal.then(self._back(ctx, fault, node.resume))
        await self._down(ctx, fault)


NODE_CRASH = NodeCrash(name="node_crash", duration=0.3, searched=True)
NODE_RESTART = NodeRestart(name="node_restart", duration=0.0, searched=True)
NODE_PAUSE = NodePause(name="node_pause", duration=2.0, searched=True)

KINDS = (NODE_CRASH, NODE_RESTART, NODE_PAUSE)
