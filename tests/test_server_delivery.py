"""The tutorial's delivery steps, against a real server process, with both storages."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
import socketio
from server_support import Servers, connected, db_url, servers, sqlite_db

from harness.databases import read_db_rows
from reference_server.app import CLIENT_BUNDLE


async def test_baseline_stores_and_broadcasts_but_never_replays_or_acks(servers: Servers, db_url: str) -> None:
    server = await servers.start(db_url, "baseline")
    async with connected(server.url) as alice, connected(server.url) as bob:
        await alice.emit("one")
        await bob.wait_until(lambda: "one" in bob.contents())
        assert bob.received == [("one", 1)]
        with pytest.raises(socketio.exceptions.TimeoutError):
            await alice.send("two", timeout=0.5)
    async with connected(server.url, server_offset=0) as late:
        assert await late.fence() == []
    assert [r["content"] for r in await read_db_rows(db_url)][:2] == ["one", "two"]


async def test_server_delivery_replays_what_a_client_missed(servers: Servers, db_url: str) -> None:
    server = await servers.start(db_url, "server-delivery")
    async with connected(server.url) as alice:
        await alice.emit("m1")
        await alice.emit("m2")
        await alice.wait_until(lambda: len(alice.received) == 2)
        offset = alice.server_offset
    assert offset == 2
    async with connected(server.url) as bob:
        await bob.emit("m3")
        await bob.emit("m4")
        await bob.wait_until(lambda: len(bob.received) == 4)
    async with connected(server.url, server_offset=offset) as back:
        await back.wait_until(lambda: len(back.received) == 2)
        assert back.received == [("m3", 3), ("m4", 4)]
        assert await back.fence() == ["m3", "m4"]
    async with connected(server.url, server_offset=0) as fresh:
        await fresh.wait_until(lambda: len(fresh.received) >= 5)
        assert [offset for _, offset in fresh.received[:5]] == [1, 2, 3, 4, 5]


async def test_at_least_once_acks_after_commit_and_stores_retries_again(servers: Servers, db_url: str) -> None:
    server = await servers.start(db_url, "at-least-once")
    async with connected(server.url) as alice:
        assert await alice.send("hello", "c-0") is None
        # The ack is the proof of commit: the row is readable from outside the moment the ack is in.
        assert [r["content"] for r in await read_db_rows(db_url)] == ["hello"]
        assert await alice.send("hello", "c-0") is None
        assert [r["content"] for r in await read_db_rows(db_url)] == ["hello", "hello"]
        assert [r["client_offset"] for r in await read_db_rows(db_url)] == [None, None]


async def test_exactly_once_acks_a_duplicate_without_storing_it(servers: Servers, db_url: str) -> None:
    server = await servers.start(db_url, "exactly-once")
    async with connected(server.url) as alice, connected(server.url) as bob:
        assert await alice.send("hello", "alice-0") is None
        assert await alice.send("hello", "alice-0") is None
        assert await alice.send("world", "alice-1") is None
        assert await bob.fence(alice) == ["hello", "world"]
    rows = await read_db_rows(db_url)
    assert [(r["content"], r["client_offset"]) for r in rows[:2]] == [("hello", "alice-0"), ("world", "alice-1")]
    assert len(rows) == 3  # and the fence


async def test_health_the_chat_page_and_the_client_bundle(servers: Servers, sqlite_db: str) -> None:
    server = await servers.start(sqlite_db, "exactly-once", extra=["--no-csr"])
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{server.url}/health") as resp:
            health = await resp.json()
        async with session.get(server.url + "/") as resp:
            page = await resp.text()
        async with session.get(server.url + "/socket.io/socket.io.js") as resp:
            bundle = (resp.status, await resp.text())
    assert health["profile"] == "exactly-once"
    assert health["switches"] == {"csr": False, "replay": True, "ack": True, "dedupe": True}
    assert health["pid"] == server.proc.pid and health["mutant"] is None
    assert "ackTimeout: 10000" in page and "retries: 3" in page and "serverOffset" in page
    if CLIENT_BUNDLE.exists():
        assert bundle == (200, CLIENT_BUNDLE.read_text())
    else:
        assert bundle[0] == 404 and "make setup" in bundle[1]


@pytest.mark.parametrize(("profile", "switches", "connect_first"), [
    ("server-delivery", (), True), ("exactly-once", (), True), ("exactly-once", ("--no-connect-first",), False)])
async def test_the_catch_up_comes_after_the_connect(servers: Servers, sqlite_db: str, profile: str,
                                                    switches: tuple[str, ...], connect_first: bool) -> None:
    """On the wire the CONNECT reply comes before the rows sent to catch the page up, as the tutorial's
    Node.js server sends them: events before a CONNECT wait in socket.io-client's receive buffer, which
    outlives a cut, and come again with the next attempt's catch-up (docs/findings/
    catch-up-before-connect.md). With `--no-connect-first`, python-socketio's own order, they do not."""
    server = await servers.start(sqlite_db, profile, extra=switches)
    async with connected(server.url) as alice:
        await alice.emit("m1")
        await alice.emit("m2")
        await alice.wait_until(lambda: len(alice.received) == 2)
    async with aiohttp.ClientSession() as http, \
            http.ws_connect(f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket") as ws:
        assert (await ws.receive_str()).startswith("0")  # engine.io OPEN
        await ws.send_str('40{"serverOffset":0}')
        frames: list[str] = []
        while sum(f.startswith("42") for f in frames) < 2:
            frames.append(await asyncio.wait_for(ws.receive_str(), 5.0))
        if not connect_first:
            frames.append(await asyncio.wait_for(ws.receive_str(), 5.0))
    socketio_frames = [f for f in frames if f.startswith("4")]
    events = [f for f in socketio_frames if f.startswith("42")]
    assert [json.loads(f[2:])[1] for f in events[:2]] == ["m1", "m2"]
    assert socketio_frames.index(next(f for f in socketio_frames if f.startswith("40"))) == \
        (0 if connect_first else 2), frames
