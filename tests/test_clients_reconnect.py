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
