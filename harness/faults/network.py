"""Faults that are one Toxiproxy toxic on a client's link: latency, jitter, bandwidth, slicer, blackhole,
disconnect. The fault's `params` go to the toxic as attributes over the kind's defaults; `stream` picks
the direction (`upstream`, `downstream`, default `both`) and `toxicity` is passed through.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.faults.base import Acts, Fault, FaultContext, FaultKind, Heal, Lane, links

_NOT_ATTRIBUTES = ("stream", "toxicity")


@dataclass(frozen=True, kw_only=True)
class Toxic(FaultKind):
    """A kind that is one toxic per direction on each link it hits, removed at the heal."""

    toxic: str
    """The Toxiproxy toxic type."""
    attributes: Mapping[str, Any]
    acts_on: Acts = "client"
    lane: Lane = "client"

    async def start(self, ctx: FaultContext, fault: Fault, heal: Heal) -> None:
        attributes = {**self.attributes, **{k: v for k, v in fault.params.items() if k not in _NOT_ATTRIBUTES}}
        stream = fault.params.get("stream", "both")
        streams = ["upstream", "downstream"] if stream == "both" else [stream]
        toxics = []
        for proxy in links(ctx, fault):
            for s in streams:
                name = f"{heal.name}-{s}"
                await ctx.proxies.add_toxic(proxy, type=self.toxic, stream=s, name=name,
                                            toxicity=float(fault.params.get("toxicity", 1.0)),
                                            attributes=attributes)
                toxics.append((proxy, name))
                heal.then(functools.partial(ctx.proxies.remove_toxic, proxy, name))
        heal.detail["toxics"] = toxics


LATENCY = Toxic(name="latency", toxic="latency", attributes={"latency": 200, "jitter": 0}, duration=1.0,
                searched=True)
JITTER = Toxic(name="jitter", toxic="latency", attributes={"latency": 100, "jitter": 100}, duration=1.0)
BANDWIDTH = Toxic(name="bandwidth", toxic="bandwidth", attributes={"rate": 10}, duration=1.0)
SLICER = Toxic(name="slicer", toxic="slicer", attributes={"average_size": 16, "size_variation": 8, "delay": 1000},
               duration=1.0)
# timeout 0: bytes vanish and the connection is never closed by the toxic itself. Not searched: the
# clients notice it only through Engine.IO pings, which needs a short ping timeout and seconds per example.
BLACKHOLE = Toxic(name="blackhole", toxic="timeout", attributes={"timeout": 0}, duration=1.0)
DISCONNECT = Toxic(name="disconnect", toxic="reset_peer", attributes={"timeout": 0}, duration=0.3, searched=True)

KINDS = (DISCONNECT, BLACKHOLE, LATENCY, JITTER, BANDWIDTH, SLICER)
