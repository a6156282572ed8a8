"""Frame-aware faults, each one `frame` toxic of the embedded proxy: `ack_drop`, `frame_drop`,
`frame_delay`, `frame_dup`, `frame_cut`; and the frame machinery the nemesis's frame triggers share.

A frame fault *is* its toxic: it matches Socket.IO packets (`sio_type`, `event`) on one direction of
the target's link and acts on the `nth` match and the `count - 1` after it (`count` 0: on every match).
A frame toxic can only follow a WebSocket whose HTTP upgrade it saw, so each is installed by `arm`
before the clients connect. With a frame trigger it is installed at the trigger's `nth` and is the
trigger itself; with a time or send trigger it is installed *parked* (at an `nth` no count reaches) and
aimed at the next matching frame(s) when the trigger fires (`params.nth`, default 1, counts from there).
It heals once it has acted on `count` frames, or after `duration` when `count` is 0 (with no duration,
at the end of the schedule). The Toxiproxy API offers no push, so the toxic's `fired` counter is polled.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.errors import ScenarioError
from harness.faults.base import Acts, Fault, FaultContext, FaultKind, Heal, Lane, links

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

PARKED = 2**31 - 1
"""`nth` of a frame toxic installed ahead of its trigger: no frame count reaches it."""

FRAME_POLL = 0.005
"""Seconds between reads of a frame toxic's `fired` counter."""

EVENT, UPSTREAM = "EVENT", "upstream"
"""What a frame trigger or a frame fault matches when the scenario does not say: the client's sends."""


@dataclass(frozen=True, kw_only=True)
class FrameFault(FaultKind):
    action: str
    """The frame toxic's action: drop, delay, duplicate or cut."""
    sio_type: str = EVENT
    stream: str = UPSTREAM
    delay: int = 0
    """Milliseconds a `delay` action holds a frame."""
    acts_on: Acts = "client"
    lane: Lane = "client"
    duration: float | None = None
    needs_frames: bool = True

    def check(self, ctx: FaultContext, fault: Fault) -> None:
        require_frame_toxics(ctx, fault)

    async def arm(self, ctx: FaultContext, fault: Fault, heal: Heal) -> bool:
        frame = fault.trigger.get("frame")
        await self._install(ctx, fault, heal, frame["nth"] if frame else PARKED)
        return True

    async def start(self, ctx: FaultContext, fault: Fault, heal: Heal) -> None:
        if "toxics" not in heal.detail:  # not armed: a fault injected by hand
            await self._install(ctx, fault, heal, fault.trigger.get("frame", {}).get("nth", 1))
            return
        # Parked since before the clients connected; now aim it at the next matching frame(s).
        # `matched` counts across connections.
        offset = int(fault.params.get("nth", 1))
        for proxy, name in heal.detail["toxics"]:
            matched = int((await ctx.proxies.get_toxic(proxy, name)).get("matched", 0))
            while True:
                nth = matched + offset
                toxic = await ctx.proxies.update_toxic(proxy, name, attributes={"nth": nth})
                # Frames keep flowing between the read and the update; the update's answer tells
                # whether the target frame was still ahead. If it slipped past, aim again.
                matched = int((toxic or {}).get("matched", 0))
                if matched < nth:
                    break

    async def lasts(self, ctx: FaultContext, fault: Fault, heal: Heal) -> None:
        count = int(fault.params.get("count", 1))
        if count:
            await await_fired(ctx, heal, count, fault.duration)
            return
        if fault.duration:
            await asyncio.sleep(fault.duration)
        else:
            await asyncio.Event().wait()  # until the nemesis's heal_all cancels the schedule

    def strategy(self, max_duration: float) -> SearchStrategy[dict[str, Any]]:
        from hypothesis import strategies as st

        return st.just({"params": {"count": 1}})

    async def _install(self, ctx: FaultContext, fault: Fault, heal: Heal, nth: int) -> None:
        frame = fault.trigger.get("frame", {})
        params = fault.params
        event = params.get("event", frame.get("event"))
        match = {"sio_type": params.get("sio_type", frame.get("sio_type", self.sio_type)),
                 **({"event": event} if event else {})}
        attributes = _attributes(match, action=self.action, nth=nth, count=int(params.get("count", 1)),
                                 delay=params.get("delay", self.delay))
        stream = frame.get("stream") or params.get("stream") or self.stream
        toxics = []
        for proxy in links(ctx, fault):
            await ctx.proxies.add_toxic(proxy, "frame", stream=stream, name=heal.name, attributes=attributes)
            toxics.append((proxy, heal.name))
            heal.then(functools.partial(ctx.proxies.remove_toxic, proxy, heal.name))
        heal.detail["toxics"] = toxics


ACK_DROP = FrameFault(name="ack_drop", action="drop", sio_type="ACK", stream="downstream", searched=True)
"""Acks travel server -> client, so a lost ack is an ACK frame dropped downstream."""
FRAME_DROP = FrameFault(name="frame_drop", action="drop")
FRAME_DELAY = FrameFault(name="frame_delay", action="delay", delay=500)
FRAME_DUP = FrameFault(name="frame_dup", action="duplicate")
FRAME_CUT = FrameFault(name="frame_cut", action="cut")

KINDS = (ACK_DROP, FRAME_DROP, FRAME_DELAY, FRAME_DUP, FRAME_CUT)


def trigger_defaults(kind: FaultKind, params: dict[str, Any]) -> dict[str, str]:
    """The `sio_type` and `stream` a frame trigger of a fault of `kind` counts when the scenario names none:
    a frame fault's own (its `params.stream` first), the client's sends for any other kind."""
    sio_type, stream = (kind.sio_type, kind.stream) if isinstance(kind, FrameFault) else (EVENT, UPSTREAM)
    return {"sio_type": sio_type, "stream": params.get("stream", stream)}


def require_frame_toxics(ctx: FaultContext, fault: Fault) -> None:
    if not ctx.frame_toxics:
        raise ScenarioError(f"fault {fault.label}: frame-aware faults and frame triggers need the embedded "
                            f"proxy (set proxy to 'embedded'); the real Toxiproxy cannot parse frames")


async def watch(ctx: FaultContext, frame: dict[str, Any], heal: Heal) -> None:
    """Install an observing toxic (a 0 ms delay of one frame) for a frame trigger of a kind that is no
    frame toxic itself; `await_fired(..., 1, None)` returns once the frame has passed."""
    proxy = ctx.links[frame["client"]]
    attributes = _attributes(frame, action="delay", nth=frame["nth"], count=1, delay=0)
    await ctx.proxies.add_toxic(proxy, "frame", stream=frame["stream"], name=heal.name, attributes=attributes)
    heal.detail["toxics"] = [(proxy, heal.name)]
    heal.then(functools.partial(ctx.proxies.remove_toxic, proxy, heal.name))


async def await_fired(ctx: FaultContext, heal: Heal, count: int, limit: float | None) -> None:
    """Wait until the toxics of `heal` have acted on `count` frames, or `limit` seconds; record `fired`."""
    loop = asyncio.get_running_loop()
    deadline = None if limit is None else loop.time() + limit
    while True:
        fired = 0
        for proxy, name in heal.detail["toxics"]:
            toxic = await ctx.proxies.get_toxic(proxy, name)
            fired += int(toxic.get("fired", toxic.get("attributes", {}).get("fired", 0)))
        if fired >= count or (deadline is not None and loop.time() >= deadline):
            heal.detail["fired"] = fired
            return
        await asyncio.sleep(FRAME_POLL)


def _attributes(match: dict[str, Any], **extra: Any) -> dict[str, Any]:
    attributes = {"sio_type": match.get("sio_type", EVENT), **extra}
    if match.get("event"):
        attributes["event"] = match["event"]
    return attributes
