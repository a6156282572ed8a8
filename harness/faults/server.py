"""Faults of the server process: `server_crash` (SIGKILL) and `server_restart` (SIGTERM, a graceful
shutdown as a deploy does). The heal starts it again on the same port unless it already runs, so two
overlapping outages restart it once. `server_pause` freezes it (SIGSTOP, or a target's `controls.pause`):
its sockets stay open and nothing answers until the heal resumes it.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.faults.base import Acts, Fault, FaultContext, FaultKind, Heal, Lane


@dataclass(frozen=True, kw_only=True)
class ServerCrash(FaultKind):
    acts_on: Acts = "server"
    lane: Lane = "server"

    async def start(self, ctx: FaultContext, fault: Fault, heal: Heal) -> None:
        await ctx.server.crash()
        heal.then(ctx.server.ensure_running)


@dataclass(frozen=True, kw_only=True)
class ServerRestart(FaultKind):
    acts_on: Acts = "server"
    lane: Lane = "server"

    async def start(self, ctx: FaultContext, fault: Fault, heal: Heal) -> None:
        await ctx.server.stop()
        heal.then(ctx.server.ensure_running)


@dataclass(frozen=True, kw_only=True)
class ServerPause(FaultKind):
    acts_on: Acts = "server"
    lane: Lane = "server"

    async def start(self, ctx: FaultContext, fault: Fault, heal: Heal) -> None:
        await ctx.server.pause()
        heal.then(ctx.server.resume)


SERVER_CRASH = ServerCrash(name="server_crash", duration=0.3, searched=True)
SERVER_RESTART = ServerRestart(name="server_restart", duration=0.0, searched=True)

SERVER_PAUSE = ServerPause(name="server_pause", duration=1.0)

KINDS = (SERVER_CRASH, SERVER_RESTART, SERVER_PAUSE)
