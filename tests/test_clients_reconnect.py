"""The Manager's next attempt after the server closes the engine (a graceful restart's CLOSE packet).

python-engineio reports the close before it has closed its WebSocket; an attempt made in between failed
with "Client is not in a disconnected state", a failed attempt socket.io-client never makes
(docs/reliability.md). Against a bare Engine.IO server that answers the close handshake 0.5 s late.
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web

from harness.clients.backoff import Backoff
from harness.clients.sioclient import SioClientSocket
from harness.processes import free_port

OPEN = {"sid": "", "upgrades": [], "pingInterval": 25000, "pingTimeout": 20000, "maxPayload": 1000000}


class _Listener:
    def __init__(self) -> None:
        self.connects = 0
        self.errors: list[str] = []
        self.disconnects: list[str] = []
        self.changed = asyncio.Event()

    def on_connect(self, sid: str, recovered: bool) -> None:
        self.connects += 1
        self.changed.set()

    def on_connect_error(self, message: str) -> None:
        self.errors.append(message)

    def on_disconnect(self, reason: str) -> None:
        self.disconnects.append(reason)

    def on_event(self, event: str, args: list[Any]) -> None:
        pass

    def on_outgoing(self, args: list[Any]) -> None:
        pass


_connections: list[int] = []


async def _engine(request: web.Request) -> web.WebSocketResponse:
    _connections.append(len(_connections) + 1)
    number = _connections[-1]
    ws = web.WebSocketResponse(autoclose=False)
    await ws.prepare(request)
    await ws.send_str("0" + json.dumps({**OPEN, "sid": f"engine-{number}"}))
    async for msg in ws:
        if msg.type == WSMsgType.TEXT and msg.data.startswith("40"):
            await ws.send_str("40" + json.dumps({"sid": f"socket-{number}"}))
            if number == 1:
                await ws.send_str("1")  # CLOSE, as the server's shutdown sends it
                await asyncio.sleep(0.5)  # the close handshake, answered late
                await ws.close()
        elif msg.type == WSMsgType.CLOSE:
            await ws.close()
    return ws


async def test_the_next_attempt_waits_until_the_engine_has_closed() -> None:
    _connections.clear()
    app = web.Application()
    app.router.add_get("/socket.io/", _engine)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    listener = _Listener()
    socket = SioClientSocket(f"http://127.0.0.1:{port}", listener, auth=dict, transports=["websocket"],
                           ack_timeout=None, retries=0, backoff=Backoff(0.05, 0.05, 0.0, random.Random(0)))
    try:
        socket.open()
        while listener.connects < 2:
            listener.changed.clear()
            await asyncio.wait_for(listener.changed.wait(), 5.0)
    finally:
        await socket.teardown()
        await runner.cleanup()
    assert listener.errors == []
    assert len(listener.disconnects) == 1


class _Seen:
    """A page's listener that writes down what it sees, in order."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def on_connect(self, sid: str, recovered: bool) -> None:
        self.seen.append("connect")

    def on_connect_error(self, message: str) -> None:
        self.seen.append("connect_error")

    def on_disconnect(self, reason: str) -> None:
        self.seen.append("disconnect")

    def on_event(self, event: str, args: list[Any], csr_offset: str | None) -> None:
        self.seen.append(f"event {args[0]}")

    def on_outgoing(self, args: list[Any]) -> None:
        pass


async def test_one_connections_packets_reach_the_page_in_order_then_its_close() -> None:
    """python-engineio hands every message to a task of its own and reports the close at once. A
    recovery's CONNECT and the replay behind it, then a cut: the page sees the CONNECT, the replay, the
    close, in that order, and nothing stays buffered for the next attempt to show again."""
    from harness.clients.sioclient import _EngineClient

    listener = _Seen()
    socket = SioClientSocket("http://127.0.0.1:1", listener, auth=dict, transports=["websocket"],
                             ack_timeout=None, retries=0, backoff=Backoff(0.1, 1.0, 0.5, random.Random(1)))
    async with aiohttp.ClientSession() as http:
        engine = socket._client = _EngineClient(socket, http)
        engine.on("*", socket._on_any, namespace="/")
        engine._connect_event = asyncio.Event()  # made by AsyncClient.connect(), which is not called here
        arrived = ['0{"sid":"S1","pid":"P1"}', '2["chat message","c2:14",27,"O27"]',
                   '2["chat message","c2:15",28,"O28"]']
        # As python-engineio does: a task per message, in arrival order, then the close awaited at once.
        tasks = [asyncio.create_task(engine._handle_eio_message(m)) for m in arrived]
        await engine._handle_eio_disconnect("transport error")
        await asyncio.gather(*tasks)
    assert listener.seen == ["connect", "event c2:14", "event c2:15", "disconnect"]
    assert socket._receive_buffer == []
