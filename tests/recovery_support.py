"""Shared pieces of the recovery tests: the test server process and a raw Engine.IO v4 WebSocket client."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from harness.clients.recovery import RecoveringAsyncClient
from harness.processes import ManagedProcess, free_port

ROOT = Path(__file__).resolve().parent.parent
APP = Path(__file__).resolve().parent / "recovery_app.py"
NODE_SCRIPT = Path(__file__).resolve().parent / "node" / "recovery_client.js"


@dataclass
class Server:
    url: str
    http: aiohttp.ClientSession
    process: ManagedProcess

    async def post(self, path: str, payload: Any = None) -> Any:
        async with self.http.post(self.url + path, json=payload) as resp:
            resp.raise_for_status()
            return await resp.json()

    async def get(self, path: str) -> Any:
        async with self.http.get(self.url + path) as resp:
            resp.raise_for_status()
            return await resp.json()

    async def emit(self, event: str, *args: Any, **opts: Any) -> None:
        await self.post("/emit", {"event": event, "args": list(args), **opts})

    async def wait_disconnect(self, sid: str) -> str:
        """The python-socketio disconnect reason, once the server has handled the disconnection."""
        return (await self.get(f"/wait-disconnect?sid={sid}"))["reason"]


@asynccontextmanager
async def recovery_server(*flags: str, module: Path = APP) -> AsyncIterator[Server]:
    """The test app (tests/recovery_app.py) in its own process, stopped by PID whatever happens."""
    port = free_port()
    argv = [sys.executable, str(module), "--port", str(port), *flags]
    process = ManagedProcess("recovery test app", argv, cwd=str(ROOT))
    await process.start()
    try:
        url = f"http://127.0.0.1:{port}"
        await process.wait_http(url + "/health", timeout=15)
        async with aiohttp.ClientSession() as http:
            yield Server(url, http, process)
    finally:
        await process.terminate()


class RawSocket:
    """Engine.IO v4 + Socket.IO v5 spoken by hand over one WebSocket: every frame is visible."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, session: aiohttp.ClientSession,
                 handshake: dict[str, Any]) -> None:
        self.ws = ws
        self._session = session
        self.handshake = handshake

    @classmethod
    async def open(cls, base_url: str) -> RawSocket:
        session = aiohttp.ClientSession()
        try:
            ws = await session.ws_connect(
                base_url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket")
            first = await asyncio.wait_for(ws.receive_str(), 5)
        except BaseException:
            await session.close()
            raise
        assert first.startswith("0"), first
        return cls(ws, session, json.loads(first[1:]))

    async def send(self, frame: str) -> None:
        await self.ws.send_str(frame)

    async def recv_bytes(self, timeout: float = 5.0) -> bytes:
        """The next frame, which must be a binary attachment."""
        return await asyncio.wait_for(self.ws.receive_bytes(), timeout)

    async def recv(self, timeout: float = 5.0) -> str:
        """The next Socket.IO frame (an Engine.IO message, `4` stripped off); pings are answered."""
        while True:
            frame = await asyncio.wait_for(self.ws.receive_str(), timeout)
            if frame == "2":
                await self.ws.send_str("3")
                continue
            assert frame.startswith("4"), f"unexpected engine frame {frame!r}"
            return frame[1:]

    async def connect(self, auth: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send CONNECT and return the CONNECT reply's data; fails on anything else."""
        await self.send("40" + (json.dumps(auth, separators=(",", ":")) if auth is not None else ""))
        frame = await self.recv()
        assert frame.startswith("0{"), frame
        return json.loads(frame[1:])

    async def close(self) -> None:
        """Close the transport (socket.io's "transport close"), as `engine.close()` does."""
        await self.ws.close()
        await self._session.close()


def event_of(frame: str) -> list[Any]:
    """The argument array of an EVENT frame `2[...]`."""
    assert frame.startswith("2["), frame
    return json.loads(frame[1:])


async def run_node(node_modules: Path, tmp_path: Path, *args: str) -> list[dict[str, Any]]:
    """Run the Node recovery client to completion; its JSON lines."""
    log = tmp_path / "node.log"
    process = ManagedProcess("node recovery client", ["node", str(NODE_SCRIPT), *args], cwd=str(ROOT),
                             log_path=log)
    await process.start()
    try:
        code = await asyncio.wait_for(process.proc.wait(), 30)
    finally:
        await process.kill()
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert code == 0, log.read_text()
    return lines


class Recorder:
    """Every event a python client's handlers see, and each `connect` with what was seen before it."""

    def __init__(self, client: RecoveringAsyncClient) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.connects: list[dict[str, Any]] = []
        self.changed = asyncio.Condition()

        @client.on("*")
        async def any_event(event: str, *args: Any) -> None:
            self.events.append((event, *args))
            await self._notify()

        @client.event
        async def connect() -> None:
            self.connects.append({"sid": client.get_sid(), "recovered": client.recovered,
                                  "pid": client.pid, "seen": list(self.events)})
            await self._notify()

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def wait_for(self, predicate: Any, timeout: float = 10.0) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(predicate), timeout)


async def drop_transport(client: RecoveringAsyncClient) -> None:
    """Cut the WebSocket under the client, as a network failure would: it reconnects by itself."""
    await client.eio.ws.close()
