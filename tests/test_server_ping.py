"""The reference server's Engine.IO heartbeat with a sub-second ping interval (the blackhole cell's 0.25 s).

python-engineio advertised such an interval as 0 ms, so every client declared an idle, healthy server dead
between two pings and reconnected in a loop (docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from typing import Any

import aiohttp
import pytest
from server_support import Servers, servers, sqlite_db

from harness.clients.backoff import Backoff
from harness.clients.sioclient import SioClientSocket
from reference_server.app import engineio_ping_interval

FAST_PINGS = ("--ping-interval", "0.25", "--ping-timeout", "0.25")


@pytest.mark.parametrize("seconds", [0.1, 0.2, 0.25, 0.3, 0.5, 0.7, 1.0, 1.5, 2.3, 25.0])
def test_the_advertised_interval_is_the_next_whole_second(seconds: float) -> None:
    chosen = engineio_ping_interval(seconds)
    interval, grace = chosen if isinstance(chosen, tuple) else (chosen, 0)
    assert interval == seconds
    # What python-engineio writes into the OPEN packet.
    assert int(interval + grace) * 1000 == math.ceil(seconds) * 1000


async def test_the_open_packet_allows_for_the_pings_the_server_sends(servers: Servers, sqlite_db: str) -> None:
    server = await servers.start(sqlite_db, extra=FAST_PINGS)
    async with aiohttp.ClientSession() as http, \
            http.ws_connect(f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket") as ws:
        opened = json.loads((await ws.receive_str())[1:])
        deadline = (opened["pingInterval"] + opened["pingTimeout"]) / 1000
        await ws.send_str("40")
        gaps, last = [], time.monotonic()
        while len(gaps) < 4:
            frame = await asyncio.wait_for(ws.receive_str(), 5.0)
            if frame == "2":
                now = time.monotonic()
                gaps.append(now - last)
                last = now
                await ws.send_str("3")
    assert opened["pingInterval"] >= 250
    # Each ping comes 0.25 s plus a round trip after the last pong: inside what the client allows.
    assert max(gaps[1:]) < deadline


class _Listener:
    def __init__(self) -> None:
        self.connected = asyncio.Event()
        self.disconnected = asyncio.Event()
        self.reasons: list[str] = []

    def on_connect(self, sid: str, recovered: bool) -> None:
        self.connected.set()

    def on_connect_error(self, message: str) -> None:
        self.reasons.append(f"connect_error: {message}")

    def on_disconnect(self, reason: str) -> None:
        self.reasons.append(reason)
        self.disconnected.set()

    def on_event(self, event: str, args: list[Any]) -> None:
        pass

    def on_outgoing(self, args: list[Any]) -> None:
        pass


async def test_an_idle_client_stays_connected(servers: Servers, sqlite_db: str) -> None:
    """Eight ping cycles without a message: before the fix the client dropped within one to three."""
    server = await servers.start(sqlite_db, extra=FAST_PINGS)
    listener = _Listener()
    socket = SioClientSocket(server.url, listener, auth=dict, transports=["websocket"], ack_timeout=None,
                           retries=0, backoff=Backoff(0.1, 1.0, 0.0, random.Random(0)))
    socket.open()
    try:
        await asyncio.wait_for(listener.connected.wait(), 5.0)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(listener.disconnected.wait(), 2.0)
    finally:
        await socket.teardown()
    assert listener.reasons == []
