"""Connection state recovery, client side: python-socketio's `AsyncClient` acting as socket.io-client 4.8.

socket.io-client keeps, per namespace, the `pid` of the CONNECT reply and the offset of the last event
received (the event's last argument, when a pid is set and that argument is a string), merges
`{pid, offset}` into the CONNECT auth of every reconnection (the user's own auth keys win), and reports
`recovered` when the server answers with the same pid. `RecoveringAsyncClient` does the same, with two
differences a python handler needs:

- the offset is REMOVED from the arguments before the handlers run (socket.io-client leaves it as an
  extra trailing argument), so a `chat message` handler keeps its `(content, server_offset)` signature;
- the offset is recorded when the event is dispatched, not after its handler returns: python-socketio
  runs each incoming message in its own task, so "after the handler" could record offsets out of order.

Events that ask for an ack carry no offset (the server never stores them) and are left untouched.

`disconnect()` also fixes a python-socketio trait that matters here: it queues the namespace DISCONNECT
and closes the WebSocket at once, so the server often sees a bare transport close, which socket.io
treats as recoverable. A later `connect()` on the same object would then recover, where socket.io-client
starts a fresh session. This client writes the DISCONNECT out before it closes the transport.
`client.sid` is python-socketio's ENGINE session id, new on every connection; the Socket.IO id that
recovery keeps is `client.get_sid(namespace)`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import engineio
import socketio
from socketio import packet

DISCONNECT_FLUSH_TIMEOUT = 1.0
"""Seconds `disconnect()` waits for its DISCONNECT packets to be written before it closes anyway."""


class _SignallingPacket(engineio.packet.Packet):
    """An Engine.IO MESSAGE that sets `written` when the write loop encodes it to send it."""

    def __init__(self, data: str, written: asyncio.Event) -> None:
        super().__init__(engineio.packet.MESSAGE, data=data)
        self._written = written

    def encode(self, b64: bool = False) -> str | bytes:
        encoded = super().encode(b64)
        self._written.set()
        return encoded


@dataclass
class RecoveryState:
    """What socket.io-client keeps per namespace (`_pid`, `_lastOffset`, `recovered`)."""

    pid: str | None = None
    last_offset: str | None = None
    recovered: bool = False

    def connect_auth(self, auth: Any) -> Any:
        """The auth to send on (re)connect: `{pid, offset}` merged under the user's auth, as
        `Object.assign({pid, offset}, auth)` does; unchanged when no pid is known yet."""
        if self.pid is None or not isinstance(auth, dict):
            return auth
        merged: dict[str, Any] = {"pid": self.pid}
        if self.last_offset is not None:
            merged["offset"] = self.last_offset
        return {**merged, **auth}


class RecoveringAsyncClient(socketio.AsyncClient):
    """A python-socketio AsyncClient that takes part in connection state recovery.

    Use it exactly like `AsyncClient`; read `pid`, `last_offset` and `recovered` (default namespace) or
    `recovery(namespace)`. The state survives `disconnect()`/`connect()` on the same object, as it does
    on a socket.io-client socket; a new object (a page refresh) starts without it.
    """

    offset_on_arrival = True
    """Record an event's offset when it arrives. A client that holds events back from its handlers (until
    its CONNECT, as socket.io-client does) turns this off and records the offset when it hands one on:
    socket.io-client moves its offset in `emitEvent`, so an event that never reached the page never
    moves it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._recovery: dict[str, RecoveryState] = {}

    def recovery(self, namespace: str = "/") -> RecoveryState:
        return self._recovery.setdefault(namespace, RecoveryState())

    @property
    def pid(self) -> str | None:
        return self.recovery().pid

    @property
    def last_offset(self) -> str | None:
        return self.recovery().last_offset

    @property
    def recovered(self) -> bool:
        """True when the last CONNECT of the default namespace restored the previous session."""
        return self.recovery().recovered

    async def disconnect(self) -> None:
        """As AsyncClient.disconnect, but the namespace DISCONNECTs reach the wire before the engine
        closes (see `leave_namespaces`), so the server keeps no session to recover."""
        await self.leave_namespaces()
        await self.eio.disconnect()

    async def leave_namespaces(self, namespaces: Iterable[str] | None = None) -> None:
        """Send DISCONNECT for `namespaces` (default: every connected one) and return once written.

        AsyncClient queues DISCONNECT and CLOSE and closes the WebSocket at once, racing its own write
        loop: the server then sees a bare transport close, which is recoverable. Here each DISCONNECT is
        queued as a packet that signals when the write loop encodes it, which it does right before
        handing it to the transport; this returns once the last one is written (or after
        DISCONNECT_FLUSH_TIMEOUT). Over polling, packets queued together leave in one POST, in order,
        so there it only queues them. Call it before any engine close that should not be recoverable.
        """
        eio = self.eio
        targets = list(self.namespaces if namespaces is None else namespaces)
        if not targets or eio.state != "connected":
            return
        if eio.current_transport != "websocket":
            for namespace in targets:
                await self._send_packet(self.packet_class(packet.DISCONNECT, namespace=namespace))
            return
        written = [asyncio.Event() for _ in targets]
        for namespace, event in zip(targets, written):
            encoded = self.packet_class(packet.DISCONNECT, namespace=namespace).encode()
            await eio.queue.put(_SignallingPacket(encoded, event))
        try:
            await asyncio.wait_for(written[-1].wait(), DISCONNECT_FLUSH_TIMEOUT)
        except TimeoutError:
            pass

    async def _send_packet(self, pkt: packet.Packet) -> None:
        # The client sends CONNECT only from _handle_eio_connect, with the same auth for every
        # namespace; the pid and offset are per namespace, so they are merged here.
        if pkt.packet_type == packet.CONNECT:
            pkt.data = self.recovery(pkt.namespace or "/").connect_auth(pkt.data)
        await super()._send_packet(pkt)

    async def _handle_connect(self, namespace: str | None, data: Any) -> None:
        ns = namespace or "/"
        if ns not in self.namespaces:
            state = self.recovery(ns)
            pid = data.get("pid") if isinstance(data, dict) else None
            state.recovered = pid is not None and pid == state.pid
            state.pid = pid
        await super()._handle_connect(namespace, data)

    async def _handle_event(self, namespace: str | None, id: int | None, data: list[Any]) -> None:
        state = self._recovery.get(namespace or "/")
        if state is not None and state.pid is not None and id is None and len(data) > 1 \
                and isinstance(data[-1], str):
            if self.offset_on_arrival:
                state.last_offset = data[-1]
            data = data[:-1]
        await super()._handle_event(namespace, id, data)
