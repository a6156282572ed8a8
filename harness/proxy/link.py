"""The data path: one client connection relayed to the upstream, one `Pipe` per direction.

Built on transports and protocols, not streams: with no toxic in a direction, bytes read from one
socket are handed straight to the other socket's `transport.write` (no task, no queue, no copy in
Python), and backpressure is the transports' own: when the destination's buffer is over its high-water
mark the source stops being read. With toxics, a direction gets one task that takes chunks (stamped
with their read time) through the toxics' stages in order; it goes back to the direct path as soon as
its toxics are gone and its queue is empty.

Closing follows Toxiproxy: when one side ends, the other side is closed fully (no half-close); a toxic
that ends a direction closes that direction's destination and the other direction follows.

A link knows nothing of its proxy. The proxy's `ToxicCollection` creates it with two callbacks (connected
to the upstream, finished), hands it its stages once it is connected and pushes every later change of
the toxics into it (`add_stage`, `retune`, `remove_toxic`), as Toxiproxy's toxic collection does.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections import deque
from collections.abc import Callable
from functools import partial

from harness.proxy.toxics import CloseLink, Stage, Toxic

HIGH_WATER = 1 << 20  # bytes waiting inside toxics before the source stops being read
LOW_WATER = HIGH_WATER // 4
_LINGER_ZERO = struct.pack("ii", 1, 0)


class Side(asyncio.Protocol):
    """One socket of a link: the accepted client, or the connection to the upstream."""

    def __init__(self, link: Link) -> None:
        self.link = link
        self.transport: asyncio.Transport | None = None
        self.sink: Callable[[bytes], None] = _drop
        self.inbound: Pipe | None = None  # the pipe writing into this socket
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.link.side_made(self)

    def data_received(self, data: bytes) -> None:
        self.sink(data)

    def eof_received(self) -> bool:
        return False  # no half-close: the transport closes and connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.link.side_lost(self)

    def pause_writing(self) -> None:
        if self.inbound:
            self.inbound.dest_paused()

    def resume_writing(self) -> None:
        if self.inbound:
            self.inbound.dest_resumed()

    def abort(self, rst: bool = False) -> None:
        if self.transport is None or self.lost:
            return
        if rst:
            sock = self.transport.get_extra_info("socket")
            if sock is not None:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
                except OSError:
                    pass
        self.transport.abort()


def _drop(data: bytes) -> None:
    """Sink of a side whose peer is gone: nothing left to deliver to."""


class Pipe:
    """One direction of a link: bytes from `src` to `dst` through the stages of that stream's toxics."""

    def __init__(self, link: Link, src: Side, dst: Side, stream: str) -> None:
        self.link = link
        self.src = src
        self.dst = dst
        self.stream = stream
        self.stages: list[Stage] = []
        self.queue: deque[tuple[bytes | None, float]] = deque()
        self.queued = 0
        self.task: asyncio.Task[None] | None = None
        self.wakeup: asyncio.Future[None] | None = None
        self.drained: asyncio.Future[None] | None = None
        self.dst_full = False
        self.paused_by_dst = False
        self.paused_by_queue = False
        self.reading_paused = False
        self.closed = False
        self.loop = asyncio.get_running_loop()
        dst.inbound = self
        # A deeper write buffer than the 64 KiB default means fewer pause/resume round trips under load.
        dst.transport.set_write_buffer_limits(high=HIGH_WATER)  # type: ignore[union-attr]
        src.sink = dst.transport.write  # type: ignore[union-attr]

    # -- toxics joining and leaving -------------------------------------------------------------
    def set_stages(self, stages: list[Stage]) -> None:
        self.stages = stages
        if self.closed:
            return
        if stages and self.task is None:
            self.src.sink = self.feed
            self.task = self.loop.create_task(self._run())
            self._update_reading()
        elif not stages:
            self._wake()

    def add_stage(self, stage: Stage) -> None:
        self.set_stages([*self.stages, stage])
        stage.start(self.close_link)

    def remove_stage(self, stage: Stage) -> None:
        self.set_stages([s for s in self.stages if s is not stage])
        stage.stop(removed=True)

    # -- input --------------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        self.queue.append((data, self.loop.time()))
        self.queued += len(data)
        if self.queued > HIGH_WATER and not self.paused_by_queue:
            self.paused_by_queue = True
            self._update_reading()
        self._wake()

    def feed_eof(self) -> None:
        """The source is gone: deliver what toxics still hold (through their EOF handling), then close."""
        if self.closed:
            return
        if self.task is None:
            self._close_dst()
        else:
            self.queue.append((None, self.loop.time()))
            self._wake()

    def _wake(self) -> None:
        if self.wakeup is not None and not self.wakeup.done():
            self.wakeup.set_result(None)

    # -- backpressure ---------------------------------------------------------------------------
    def dest_paused(self) -> None:
        self.dst_full = True
        if self.task is None:
            self.paused_by_dst = True
            self._update_reading()

    def dest_resumed(self) -> None:
        self.dst_full = False
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)
        if self.paused_by_dst:
            self.paused_by_dst = False
            self._update_reading()

    def _update_reading(self) -> None:
        want_paused = self.closed or self.paused_by_queue or (self.paused_by_dst and self.task is None)
        transport = self.src.transport
        if transport is None or self.src.lost or want_paused == self.reading_paused:
            return
        self.reading_paused = want_paused
        if want_paused:
            transport.pause_reading()
        else:
            transport.resume_reading()

    # -- the toxic path -------------------------------------------------------------------------
    async def _run(self) -> None:
        try:
            while True:
                if not self.queue:
                    if not self.stages:
                        self._back_to_direct()
                        return
                    self.wakeup = self.loop.create_future()
                    await self.wakeup
                    self.wakeup = None
                    continue
                data, t = self.queue.popleft()
                if data is None:
                    await self._eof_through(self.stages, 0)
                    self._close_dst()
                    return
                self.queued -= len(data)
                if self.paused_by_queue and self.queued < LOW_WATER:
                    self.paused_by_queue = False
                    self._update_reading()
                await self._through(self.stages, 0, data, t)
        except CloseLink as exc:
            self.task = None
            if exc.rst:
                self.link.abort(rst=True)
            else:
                self._close_dst()

    def _back_to_direct(self) -> None:
        self.task = None
        self.src.sink = self.dst.transport.write  # type: ignore[union-attr]
        self.paused_by_queue = False
        self.paused_by_dst = self.dst_full
        self._update_reading()

    async def _through(self, stages: list[Stage], i: int, data: bytes, t: float) -> None:
        n = len(stages)
        while i < n:
            stage = stages[i]
            i += 1
            if stage.applies():
                await stage.push(data, t, partial(self._through, stages, i))
                return
        await self._write(data)

    async def _eof_through(self, stages: list[Stage], i: int) -> None:
        n = len(stages)
        while i < n:
            stage = stages[i]
            i += 1
            if stage.applies():
                await stage.eof(partial(self._eof_through, stages, i))
                return

    async def _write(self, data: bytes) -> None:
        transport = self.dst.transport
        if self.closed or transport is None or transport.is_closing():
            return
        transport.write(data)
        if self.dst_full:
            self.drained = self.loop.create_future()
            await self.drained
            self.drained = None

    # -- ending ---------------------------------------------------------------------------------
    def close_link(self) -> None:
        """A toxic ends this direction from outside the pipe's task (a timer, a removal)."""
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()
        self.task = None
        self._close_dst()

    def _close_dst(self) -> None:
        self.closed = True
        self.src.sink = _drop
        self.queue.clear()
        self._update_reading()
        if self.dst.transport is not None and not self.dst.lost:
            self.dst.transport.close()

    def cancel(self) -> None:
        self.closed = True
        self.src.sink = _drop
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()
        self.task = None
        for stage in self.stages:
            stage.stop(removed=False)


class Link:
    """A client connection and its upstream connection: the `index`-th accepted by its proxy."""

    def __init__(self, index: int, upstream: tuple[str, int], connected: Callable[[Link], None],
                 finished: Callable[[Link], None]) -> None:
        self.index = index
        self.upstream = upstream
        self.connected = connected
        self.finished = finished
        self.client = Side(self)
        self.server = Side(self)
        self.up: Pipe | None = None
        self.down: Pipe | None = None
        self.connecting: asyncio.Task[None] | None = None
        self.early: list[bytes] = []  # read from the client before the upstream answered

    def side_made(self, side: Side) -> None:
        if side is self.client:
            # Some loops (uvloop) start reading only after connection_made returns, so a pause here
            # would be undone: hold what arrives early instead, and pause then.
            side.sink = self._hold_early
            self.connecting = asyncio.get_running_loop().create_task(self._connect())

    def _hold_early(self, data: bytes) -> None:
        self.early.append(data)
        self.client.transport.pause_reading()  # type: ignore[union-attr]

    async def _connect(self) -> None:
        host, port = self.upstream
        try:
            await asyncio.get_running_loop().create_connection(lambda: self.server, host, port)
        except OSError:
            self.client.abort()
            return
        finally:
            self.connecting = None
        if self.client.lost and not self.early:
            self.server.abort()
            return
        self.up = Pipe(self, self.client, self.server, "upstream")
        self.down = Pipe(self, self.server, self.client, "downstream")
        self.connected(self)
        early, self.early = self.early, []
        for data in early:
            self.client.sink(data)
        if self.client.lost:
            self.up.feed_eof()  # the client wrote and left before the upstream answered: deliver, then close
        elif early and not self.up.reading_paused:
            self.client.transport.resume_reading()  # type: ignore[union-attr]

    def client_backlog(self) -> int:
        """Bytes written towards the client that its socket has not taken yet: the client is not reading."""
        transport = self.client.transport
        return transport.get_write_buffer_size() if transport is not None and not self.client.lost else 0

    def pipes(self) -> tuple[Pipe, ...]:
        return tuple(p for p in (self.up, self.down) if p is not None)

    def _live(self, stream: str) -> Pipe | None:
        pipe = self.up if stream == "upstream" else self.down
        return pipe if pipe is not None and not pipe.closed else None

    # -- the toxic collection's pushes ------------------------------------------------------------
    def install(self, stream: str, stages: list[Stage]) -> None:
        """The stages of a direction that was just connected, in the order of the proxy's toxics."""
        pipe = self._live(stream)
        if pipe is None:
            return
        pipe.set_stages(stages)
        for stage in stages:
            stage.start(pipe.close_link)

    def add_stage(self, stream: str, stage: Stage) -> None:
        """A toxic added while the link is open: its stage joins a stream already under way."""
        pipe = self._live(stream)
        if pipe is not None:
            stage.join_late()
            pipe.add_stage(stage)

    def retune(self, toxic: Toxic) -> None:
        pipe = self._live(toxic.stream)
        if pipe is not None:
            for stage in pipe.stages:
                if stage.toxic is toxic:
                    stage.retune()

    def remove_toxic(self, toxic: Toxic) -> None:
        pipe = self._live(toxic.stream)
        if pipe is not None:
            for stage in [s for s in pipe.stages if s.toxic is toxic]:
                pipe.remove_stage(stage)

    def side_lost(self, side: Side) -> None:
        pipe = self.up if side is self.client else self.down
        if pipe is not None:
            pipe.feed_eof()
        elif side is self.server:
            self.client.abort()
        if self.client.lost and (self.server.lost or self.server.transport is None):
            self._finished()

    def _finished(self) -> None:
        for pipe in self.pipes():
            pipe.cancel()
        self.finished(self)

    def abort(self, rst: bool = False) -> None:
        """Drop the connection now (disable, delete, reset_peer); held data is discarded."""
        if self.connecting is not None:
            self.connecting.cancel()
        for pipe in self.pipes():
            pipe.cancel()
        self.client.abort(rst)
        self.server.abort(rst)
