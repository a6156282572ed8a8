"""Toxics: their JSON model, attribute validation, and the standard toxics' behaviour on a byte stream.

A `Toxic` is the configuration the API shows; a `Stage` is that toxic at work on one direction of one
connection (it keeps per-connection state such as the bytes counted by `limit_data`). Stages run in the
order the toxics were added, inside one task per direction (see `link.Pipe`); each chunk carries the
loop time it was read at, so `latency` waits "until read time + delay" exactly as Toxiproxy does and
several delayed chunks do not add up.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.proxy.apierror import ApiError

if TYPE_CHECKING:
    from harness.proxy.link import Pipe

STREAMS = ("upstream", "downstream")
TOXICITY_MODES = ("connection", "chunk")

Emit = Callable[[bytes, float], Awaitable[None]]
EmitEof = Callable[[], Awaitable[None]]


class CloseLink(Exception):
    """Raised by a stage to end the connection: a FIN to both peers, or an RST when `rst`."""

    def __init__(self, rst: bool = False) -> None:
        super().__init__("reset" if rst else "close")
        self.rst = rst


@dataclass
class Toxic:
    """One configured toxic of a proxy, shared by all of the proxy's connections."""

    name: str
    type: str
    stream: str
    toxicity: float
    attributes: dict[str, Any]
    toxicity_mode: str = "connection"
    # Frame toxics count across connections, so "the 3rd ACK" survives reconnects.
    matched: int = 0
    fired: int = 0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"attributes": dict(self.attributes), "name": self.name, "type": self.type,
                               "stream": self.stream, "toxicity": self.toxicity}
        if self.toxicity_mode != "connection":
            out["toxicity_mode"] = self.toxicity_mode
        if self.type == "frame":
            out["matched"] = self.matched
            out["fired"] = self.fired
        return out


class Stage:
    """A toxic acting on one direction of one connection. The default passes everything through."""

    def __init__(self, toxic: Toxic, rng: random.Random, pipe: Pipe) -> None:
        self.toxic = toxic
        self.rng = rng
        self.pipe = pipe
        self.active = self.draw()

    def draw(self) -> bool:
        """Whether the toxic applies, from this connection's own generator (one draw per call)."""
        return self.rng.random() < self.toxic.toxicity

    def applies(self) -> bool:
        """Per-connection toxicity decides once (and on update); per-chunk toxicity decides every chunk."""
        if self.toxic.toxicity_mode == "chunk":
            return self.draw()
        return self.active

    def retune(self) -> None:
        """The toxic was updated: redraw, as Toxiproxy restarts the stub with a new coin flip."""
        self.active = self.draw()

    def start(self) -> None:
        """The stage joined a live connection (timers start here)."""

    def join_late(self) -> None:
        """The toxic was added to a connection that was already carrying data."""

    def stop(self, removed: bool) -> None:
        """The connection ended, or the toxic was removed (`removed`)."""

    async def push(self, data: bytes, t: float, out: Emit) -> None:
        await out(data, t)

    async def eof(self, out: EmitEof) -> None:
        await out()


def _now() -> float:
    return asyncio.get_running_loop().time()


class LatencyStage(Stage):
    async def push(self, data: bytes, t: float, out: Emit) -> None:
        delay = self.toxic.attributes["latency"]
        jitter = self.toxic.attributes["jitter"]
        if jitter:
            delay += self.rng.uniform(-jitter, jitter)
        wait = t + delay / 1000 - _now()
        if wait > 0:
            await asyncio.sleep(wait)
        await out(data, t)


class BandwidthStage(Stage):
    def __init__(self, toxic: Toxic, rng: random.Random, pipe: Pipe) -> None:
        super().__init__(toxic, rng, pipe)
        self.debt = 0.0  # seconds owed; carries sleep overshoot into the next chunk like Toxiproxy

    async def push(self, data: bytes, t: float, out: Emit) -> None:
        rate = self.toxic.attributes["rate"]  # KB/s == bytes per ms
        if rate == 0:
            # Toxiproxy stalls a rate-0 link for good; keep that (a blackhole), the link's close cancels it.
            await asyncio.get_running_loop().create_future()
        self.debt += len(data) / rate / 1000
        piece = rate * 100
        while len(data) > piece:
            await asyncio.sleep(0.1)
            await out(data[:piece], t)
            data = data[piece:]
            self.debt -= 0.1
        start = _now()
        if self.debt > 0:
            await asyncio.sleep(self.debt)
        self.debt -= _now() - start
        await out(data, t)


class SlowCloseStage(Stage):
    async def eof(self, out: EmitEof) -> None:
        await asyncio.sleep(self.toxic.attributes["delay"] / 1000)
        await out()


class TimeoutStage(Stage):
    def __init__(self, toxic: Toxic, rng: random.Random, pipe: Pipe) -> None:
        super().__init__(toxic, rng, pipe)
        self.timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._arm()

    def _arm(self) -> None:
        if self.timer:
            self.timer.cancel()
            self.timer = None
        timeout = self.toxic.attributes["timeout"]
        if self.active and timeout > 0:
            self.timer = asyncio.get_running_loop().call_later(timeout / 1000, self.pipe.close_link)

    def retune(self) -> None:
        super().retune()
        self._arm()

    def stop(self, removed: bool) -> None:
        if self.timer:
            self.timer.cancel()
            self.timer = None
        if removed and self.active:
            # Toxiproxy's cleanup closes the connections the timeout toxic was holding.
            self.pipe.close_link()

    async def push(self, data: bytes, t: float, out: Emit) -> None:
        self._arm()

    def applies(self) -> bool:
        # The timer belongs to the connection's draw; a per-chunk draw would leave it half-armed.
        return self.active


class ResetPeerStage(Stage):
    async def push(self, data: bytes, t: float, out: Emit) -> None:
        await self._reset()

    async def eof(self, out: EmitEof) -> None:
        await self._reset()

    async def _reset(self) -> None:
        await asyncio.sleep(self.toxic.attributes["timeout"] / 1000)
        raise CloseLink(rst=True)


class SlicerStage(Stage):
    async def push(self, data: bytes, t: float, out: Emit) -> None:
        size = self.toxic.attributes["average_size"]
        variation = self.toxic.attributes["size_variation"]
        delay = self.toxic.attributes["delay"] / 1_000_000
        view = memoryview(data)
        pos = 0
        while pos < len(data):
            n = max(1, size + (self.rng.randint(-variation, variation) if variation else 0))
            await out(bytes(view[pos:pos + n]), t)
            pos += n
            if delay and pos < len(data):
                await asyncio.sleep(delay)


class LimitDataStage(Stage):
    def __init__(self, toxic: Toxic, rng: random.Random, pipe: Pipe) -> None:
        super().__init__(toxic, rng, pipe)
        self.sent = 0  # counted from when the toxic joined this connection, as in Toxiproxy

    async def push(self, data: bytes, t: float, out: Emit) -> None:
        remaining = max(0, self.toxic.attributes["bytes"] - self.sent)
        if remaining < len(data):
            data = data[:remaining]
        if data:
            await out(data, t)
            self.sent += len(data)
        if self.toxic.attributes["bytes"] - self.sent <= 0:
            raise CloseLink()


def int_attribute(attrs: dict[str, Any], key: str, minimum: int) -> int:
    """An integer attribute of at least `minimum`; anything else is a 400 with the reason."""
    value = attrs[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise ApiError(400, f"attribute {key} must be an integer, got {value!r}")
    if value < minimum:
        raise ApiError(400, f"attribute {key} must be >= {minimum}, got {int(value)}")
    return int(value)


@dataclass(frozen=True)
class ToxicType:
    """A toxic type: attribute defaults (shown as the real server shows them), limits, behaviour."""

    defaults: dict[str, Any]
    minimums: dict[str, int]
    stage: type[Stage]

    def normalise(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """Defaults filled in, unknown keys dropped (Toxiproxy ignores them), values checked."""
        merged = {key: attrs.get(key, default) for key, default in self.defaults.items()}
        for key, minimum in self.minimums.items():
            merged[key] = int_attribute(merged, key, minimum)
        return merged


STANDARD_TOXICS: dict[str, ToxicType] = {
    "latency": ToxicType({"latency": 0, "jitter": 0}, {"latency": 0, "jitter": 0}, LatencyStage),
    "bandwidth": ToxicType({"rate": 0}, {"rate": 0}, BandwidthStage),
    "slow_close": ToxicType({"delay": 0}, {"delay": 0}, SlowCloseStage),
    "timeout": ToxicType({"timeout": 0}, {"timeout": 0}, TimeoutStage),
    "reset_peer": ToxicType({"timeout": 0}, {"timeout": 0}, ResetPeerStage),
    "slicer": ToxicType({"average_size": 0, "size_variation": 0, "delay": 0},
                        {"average_size": 1, "size_variation": 0, "delay": 0}, SlicerStage),
    "limit_data": ToxicType({"bytes": 0}, {"bytes": 0}, LimitDataStage),
}
