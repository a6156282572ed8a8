"""A port of socket.io-client 4.8's Socket and Manager onto python-socketio's AsyncClient (no browser).

`SioClientSocket` is what `io(url, opts)` returns in socket.io-client, in Python; the python driver's
page runs on it. python-socketio's own client differs from socket.io-client exactly where delivery is
decided: it raises on an emit while offline, has no `ackTimeout` nor `retries`, forgets ack callbacks
on a disconnect without a word, and reconnects with other delays. This module keeps python-socketio
for the wire (Engine.IO and packet encoding) and puts socket.io-client's own logic on top, named as in
its `socket.ts` and `manager.ts` so the two read side by side: `sendBuffer`, `receiveBuffer`, ack ids
counted per socket from 0, ack timers, `_clearAcks`, the `retries` queue (`_addToQueue` /
`_drainQueue`), and the Manager's reconnection loop with backo2's delays (`harness.clients.backoff`).

Known differences: python-engineio cannot tell a ping timeout or a closed socket from other transport
errors (all are reported as `transport error`), and there is no `_hasPingExpired()` check before a write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
from socketio import packet

from harness.clients.backoff import Backoff
from harness.clients.recovery import RecoveringAsyncClient

log = logging.getLogger(__name__)

TIMED_OUT = "operation has timed out"
DISCONNECTED = "socket has been disconnected"
FORCED_CLOSE = "forced close"
SERVER_DISCONNECT = "io server disconnect"
CLIENT_DISCONNECT = "io client disconnect"
CONNECT_TIMEOUT = 20.0
"""The Manager's `timeout` option (its default): how long one attempt may take to open the transport."""


class _Undefined:
    """JavaScript's `undefined`: what an ack callback's first parameter holds when the server acks with
    no argument. It is falsy, and it is not `null`, which matters to the retries queue
    (see `_add_to_queue`)."""

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "undefined"


UNDEFINED: Any = _Undefined()


class AckError(Exception):
    """The error socket.io-client passes to an error-first callback (`TIMED_OUT` or `DISCONNECTED`)."""


def js_truthy(value: Any) -> bool:
    """`if (err)` as JavaScript evaluates it for the values an ack can carry."""
    if value is None or value is UNDEFINED or value is False:
        return False
    if isinstance(value, (int, float, str)) and not value:
        return False
    return True


Callback = Callable[..., Awaitable[None]]


class SocketListener(Protocol):
    """What the page sees of its socket, in socket.io-client's terms."""

    def on_connect(self, sid: str, recovered: bool) -> None: ...

    def on_connect_error(self, message: str) -> None: ...

    def on_disconnect(self, reason: str) -> None: ...

    def on_event(self, event: str, args: list[Any], csr_offset: str | None) -> None:
        """An event from the server; `csr_offset` is the trailing offset connection state recovery added
        (socket.io-client leaves it as a last argument), split off here."""

    def on_outgoing(self, args: list[Any]) -> None:
        """`onAnyOutgoing`: an EVENT handed to the transport (`[event, *args]`, the callback removed)."""


@dataclass
class _Packet:
    data: list[Any]
    id: int | None = None


@dataclass
class _Ack:
    callback: Callback
    with_error: bool
    timer: asyncio.TimerHandle | None = None


@dataclass
class _Queued:
    args: list[Any]
    timeout: float | None
    on_try: Callback | None = None
    try_count: int = 0
    pending: bool = False


class _EngineClient(RecoveringAsyncClient):
    """python-socketio's client (with the CSR client side) routing its packets to the SioClientSocket."""

    offset_on_arrival = False  # the socket holds events back until its CONNECT: `SioClientSocket._hand_on`

    def __init__(self, owner: SioClientSocket, http: aiohttp.ClientSession) -> None:
        super().__init__(reconnection=False, handle_sigint=False, http_session=http)
        self._owner = owner
        self.trailing_offset: str | None = None
        self._in_order = asyncio.Lock()

    async def _handle_eio_message(self, data: Any) -> None:
        # python-engineio hands each message to a task of its own and reports the transport's close at
        # once, so a CONNECT could be handled after the events behind it, or after the close. The page
        # must see one connection's packets in the order they came, then its close, as socket.io-client
        # does (measured: a recovery's replay cut short sat in the receive buffer of an attempt whose
        # CONNECT never reached the page, and was shown again with the next attempt's replay:
        # `redelivered` twice in a 30-minute hunt). The lock's waiters are served first come, first
        # served, and the tasks start in the order the messages arrived.
        async with self._in_order:
            await super()._handle_eio_message(data)

    async def _handle_event(self, namespace: str | None, id: int | None, data: list[Any]) -> None:
        # RecoveringAsyncClient strips the CSR offset before the handlers run; it is kept here and handed
        # to the page beside the arguments.
        pid = self.recovery(namespace or "/").pid
        self.trailing_offset = data[-1] if pid is not None and id is None and len(data) > 1 \
            and isinstance(data[-1], str) else None
        await super()._handle_event(namespace, id, data)

    async def _handle_connect(self, namespace: str | None, data: Any) -> None:
        ns = namespace or "/"
        fresh = ns not in self.namespaces
        await super()._handle_connect(namespace, data)
        if fresh and ns == self._owner.namespace:
            await self._owner._on_connect(self.get_sid(ns), self.recovery(ns).recovered)

    async def _handle_disconnect(self, namespace: str | None) -> None:
        if (namespace or "/") == self._owner.namespace:
            await self._owner._on_server_disconnect()
        await super()._handle_disconnect(namespace)

    async def _handle_error(self, namespace: str | None, data: Any) -> None:
        await super()._handle_error(namespace, data)
        await self._owner._on_connect_error_packet(data)

    async def _handle_ack(self, namespace: str | None, id: int, data: list[Any]) -> None:
        await self._owner._on_ack(id, data)

    async def _handle_eio_disconnect(self, reason: str) -> None:
        # One turn of the event loop first: the tasks python-engineio made for the messages that came
        # before the close are scheduled ahead of this one (the loop runs ready callbacks first in, first
        # out), so they take their places on the lock before the close does.
        await asyncio.sleep(0)
        async with self._in_order:
            await super()._handle_eio_disconnect(reason)
            await self._owner._on_engine_close(reason)


class SioClientSocket:
    """One page's `io(url, opts)`, ported from socket.io-client: a socket on the default namespace and
    its own Manager.

    `emit` never raises: offline emits wait in `sendBuffer`, as in socket.io-client. Callbacks are coroutines;
    with a timeout (per emit, or the socket's `ack_timeout`) they are error-first, `(err, *args)`.
    """

    def __init__(self, url: str, listener: SocketListener, *, auth: Callable[[], dict[str, Any]],
                 transports: list[str], ack_timeout: float | None, retries: int, backoff: Backoff,
                 namespace: str = "/", path: str = "/socket.io/") -> None:
        self.url = url
        self.namespace = namespace
        self.path = path
        self.listener = listener
        self.auth = auth
        self.transports = transports
        self.ack_timeout = ack_timeout
        self.retries = retries
        self.backoff = backoff
        self.id: str | None = None
        self.connected = False
        self.recovered = False
        self._ids = 0
        self._acks: dict[int, _Ack] = {}
        self._send_buffer: list[_Packet] = []
        self._receive_buffer: list[tuple[str, list[Any], str | None]] = []
        self._queue: list[_Queued] = []
        # `subs` in socket.ts: the socket hears its Manager until it is destroyed (a server disconnect or
        # a CONNECT_ERROR).
        self._subscribed = True
        self._skip_reconnect = False
        self._torn_down = False
        self._forced = False
        self._engine_closed = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._http: aiohttp.ClientSession | None = None
        self._client: _EngineClient | None = None
        self._manager: asyncio.Task[None] | None = None

    @property
    def _engine(self) -> _EngineClient:
        """python-socketio's client, made by `open()`: whatever talks to the server runs after it."""
        if self._client is None:
            raise RuntimeError("the socket is not open yet")
        return self._client

    def open(self) -> None:
        """Start connecting in the background, as `io()` does with autoConnect."""
        self._http = aiohttp.ClientSession()
        self._client = _EngineClient(self, self._http)
        self._client.on("*", self._on_any, namespace=self.namespace)
        self._manager = asyncio.get_running_loop().create_task(self._run_manager())

    async def emit(self, event: str, *args: Any, callback: Callback | None = None,
                   timeout: float | None = None, from_queue: bool = False) -> None:
        if self._torn_down:
            return
        if self.retries and not from_queue:
            await self._add_to_queue([event, *args], callback, timeout)
            return
        pkt = _Packet([event, *args])
        if callback is not None:
            pkt.id = self._ids
            self._ids += 1
            self._register_ack(pkt.id, callback, timeout)
        if self.connected:
            await self._write(pkt)
        else:
            self._send_buffer.append(pkt)

    async def close_engine(self) -> None:
        """`socket.io.engine.close()`: the transport closes ("forced close") and the Manager reconnects."""
        if self._client is None or self._client.eio.state != "connected":
            return
        eio = self._client.eio
        self._forced = True
        if eio.current_transport == "websocket":
            await eio.ws.close()
        else:
            await eio.disconnect(abort=True)
        # In the browser `disconnect` fires inside engine.close(); here the read loop reports the closed
        # WebSocket a moment later. Return once it has, so callers see the same order of events.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._engine_closed.wait(), 5.0)

    async def disconnect(self) -> None:
        """`socket.disconnect()`: DISCONNECT sent, engine closed, no reconnection until `connect()`."""
        was_connected = self.connected
        if was_connected:
            # Written before the engine closes, or the server would see a recoverable transport close.
            await self._engine.leave_namespaces([self.namespace])
        self._subscribed = False
        self._skip_reconnect = True
        if was_connected:
            await self._on_close(CLIENT_DISCONNECT)
        if self._manager is not None:
            self._manager.cancel()
            await asyncio.gather(self._manager, return_exceptions=True)
        if self._client is not None:
            await self._client.eio.disconnect(abort=True)

    def connect(self) -> None:
        """`socket.connect()` after a `disconnect()`: a fresh Manager cycle."""
        if self._torn_down or (self._manager is not None and not self._manager.done()):
            return
        self._subscribed = True
        self._skip_reconnect = False
        self.backoff.reset()
        self._manager = asyncio.get_running_loop().create_task(self._run_manager())

    async def teardown(self) -> None:
        """The page goes away (refresh, tab closed): no DISCONNECT packet, nothing observed after this."""
        self._torn_down = True
        self._skip_reconnect = True
        for ack in self._acks.values():
            if ack.timer:
                ack.timer.cancel()
        self._acks.clear()
        for task in list(self._tasks):
            task.cancel()
        if self._manager is None or self._client is None or self._http is None:
            return
        self._manager.cancel()
        await asyncio.gather(self._manager, return_exceptions=True)
        read_loop = self._client.eio.read_loop_task
        # Closing the HTTP session cuts the TCP connection under the WebSocket, like a closed tab.
        await self._http.close()
        if read_loop:
            await asyncio.gather(read_loop, return_exceptions=True)

    # -- the Manager ---------------------------------------------------------------------------------

    async def _run_manager(self) -> None:
        while not self._skip_reconnect:
            self._engine_closed.clear()
            # python-engineio reports a close (a server's CLOSE packet) before it has closed its WebSocket
            # and reset its state; an attempt in between would fail with "Client is not in a disconnected
            # state", an attempt the browser never makes. Its read loop ends once the close is done
            # (`wait`, not `gather`: cancelling the Manager must not cancel python-engineio's task).
            eio = self._client.eio if self._client is not None else None
            if eio is not None and eio.read_loop_task is not None and eio.state != "disconnected":
                await asyncio.wait({eio.read_loop_task})
            try:
                await asyncio.wait_for(self._engine.connect(self.url, auth=self.auth, transports=self.transports,
                                                            namespaces=[self.namespace],
                                                            socketio_path=self.path, wait=False),
                                       CONNECT_TIMEOUT)
            except Exception as exc:
                # Any failure to open is one failed attempt, as for the Manager: python-engineio waits
                # for the OPEN packet without a timeout, and a blackholed link must not stop the loop.
                if self._subscribed and not self._torn_down:
                    self.listener.on_connect_error(str(exc) or type(exc).__name__)
                await asyncio.sleep(self.backoff.duration())
                continue
            self.backoff.reset()
            await self._engine_closed.wait()
            self.backoff.reset()
            if self._skip_reconnect:
                break
            await asyncio.sleep(self.backoff.duration())

    async def _on_engine_close(self, reason: str) -> None:
        forced, self._forced = self._forced, False
        if self._subscribed and not self._torn_down:
            await self._on_close(FORCED_CLOSE if forced else reason)
        self._engine_closed.set()

    # -- Socket: incoming ----------------------------------------------------------------------------

    async def _on_connect(self, sid: str, recovered: bool) -> None:
        if self._torn_down:
            return
        self.id = sid
        self.recovered = recovered
        self.connected = True
        received, self._receive_buffer = self._receive_buffer, []
        for event, args, csr_offset in received:
            self._hand_on(event, args, csr_offset)
        buffered, self._send_buffer = self._send_buffer, []
        for pkt in buffered:
            await self._write(pkt)
        await self._drain_queue(force=True)
        self.listener.on_connect(sid, recovered)

    def _on_any(self, event: str, *args: Any) -> None:
        if self._torn_down:
            return
        trailing = self._engine.trailing_offset
        if self.connected:
            self._hand_on(event, [*args], trailing)
        else:
            self._receive_buffer.append((event, [*args], trailing))

    def _hand_on(self, event: str, args: list[Any], csr_offset: str | None) -> None:
        """The event reaches the page, and only now moves the CSR offset (socket.io-client's `emitEvent`)."""
        self.listener.on_event(event, args, csr_offset)
        if csr_offset is not None:
            self._engine.recovery(self.namespace).last_offset = csr_offset

    async def _on_ack(self, id: int, data: list[Any]) -> None:
        ack = self._acks.pop(id, None)
        if ack is None or self._torn_down:
            return
        if ack.timer:
            ack.timer.cancel()
        if ack.with_error:
            await ack.callback(None, *data)
        else:
            await ack.callback(*data)

    async def _on_server_disconnect(self) -> None:
        # socket.ts ondisconnect(): destroy() then onclose(); with no socket left the Manager closes for
        # good, so the page stays offline.
        self._subscribed = False
        self._skip_reconnect = True
        if not self._torn_down:
            await self._on_close(SERVER_DISCONNECT)

    async def _on_connect_error_packet(self, data: Any) -> None:
        self._subscribed = False
        self._skip_reconnect = True
        message = data.get("message") if isinstance(data, dict) else data
        if not self._torn_down:
            self.listener.on_connect_error(str(message))
        await self._engine.eio.disconnect(abort=True)

    async def _on_close(self, reason: str) -> None:
        self.connected = False
        self.id = None
        self.listener.on_disconnect(reason)
        await self._clear_acks()

    async def _clear_acks(self) -> None:
        buffered = {pkt.id for pkt in self._send_buffer}
        for id in list(self._acks):
            if id in buffered or id not in self._acks:
                continue
            ack = self._acks.pop(id)
            if ack.with_error:
                if ack.timer:
                    ack.timer.cancel()
                await ack.callback(AckError(DISCONNECTED))

    # -- Socket: outgoing ----------------------------------------------------------------------------

    async def _write(self, pkt: _Packet) -> None:
        self.listener.on_outgoing(pkt.data)
        # python-engineio only queues the packet for its writer task: this never suspends, so packets
        # leave in the order the page emitted them.
        engine = self._engine
        await engine._send_packet(engine.packet_class(packet.EVENT, namespace=self.namespace, data=pkt.data,
                                                      id=pkt.id))

    def _register_ack(self, id: int, callback: Callback, timeout: float | None) -> None:
        timeout = timeout if timeout is not None else self.ack_timeout
        if timeout is None:
            self._acks[id] = _Ack(callback, with_error=False)
            return
        timer = asyncio.get_running_loop().call_later(timeout, self._fire_timeout, id, callback)
        self._acks[id] = _Ack(callback, with_error=True, timer=timer)

    def _fire_timeout(self, id: int, callback: Callback) -> None:
        self._acks.pop(id, None)
        # A packet that timed out before it left the buffer is never sent (socket.io-client does the same).
        self._send_buffer = [pkt for pkt in self._send_buffer if pkt.id != id]
        self._spawn(callback(AckError(TIMED_OUT)))

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("ack callback failed", exc_info=task.exception())

    async def _add_to_queue(self, args: list[Any], callback: Callback | None, timeout: float | None) -> None:
        queued = _Queued(args, timeout)

        async def on_try(err: Any = UNDEFINED, *response: Any) -> None:
            if not self._queue or self._queue[0] is not queued:
                return
            # `err !== null` in socket.ts: without an ack timeout the callback is not error-first, so a
            # bare `callback()` from the server (err undefined) counts as a failed try.
            if err is not None:
                if queued.try_count > self.retries:
                    self._queue.pop(0)
                    if callback:
                        await callback(err)
            else:
                self._queue.pop(0)
                if callback:
                    await callback(None, *response)
            queued.pending = False
            await self._drain_queue()

        queued.on_try = on_try
        self._queue.append(queued)
        await self._drain_queue()

    async def _drain_queue(self, force: bool = False) -> None:
        if not self.connected or not self._queue:
            return
        head = self._queue[0]
        if head.pending and not force:
            return
        head.pending = True
        head.try_count += 1
        await self.emit(*head.args, callback=head.on_try, timeout=head.timeout, from_queue=True)
