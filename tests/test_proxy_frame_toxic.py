"""Frame toxics in a real Socket.IO exchange: the reference server behind the embedded proxy, a
python-socketio client on the WebSocket transport, the database read afterwards with sqlite3."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest
import socketio
from proxy_support import tcp_server

from harness.processes import free_port, start_reference_server
from harness.proxy.backends import start_proxy_backend
from harness.steps import ACKING

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def chat(tmp_path: Path, request: pytest.FixtureRequest):
    """(control client, proxy URL, database path) for a reference server behind an embedded proxy."""
    profile = getattr(request, "param", "at-least-once")
    db = tmp_path / "chat.db"
    port = free_port()
    server = await start_reference_server(port, f"sqlite:///{db}", profile, log_path=tmp_path / "server.log")
    backend = await start_proxy_backend("embedded", seed=3, in_process=True)
    try:
        info = await backend.control.create_proxy("chat", f"127.0.0.1:{port}")
        yield backend.control, f"http://{info['listen']}", db
    finally:
        await backend.stop()
        await server.terminate()


async def _send(url: str, contents: list[str], timeout: float = 1.5) -> list[bool]:
    """Emit each content with an ack, one after the other; True where the ack arrived in time."""
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(url, transports=["websocket"])
    acked = []
    try:
        for i, content in enumerate(contents):
            try:
                await client.call("chat message", (content, f"c1-{i}"), timeout=timeout)
                acked.append(True)
            except socketio.exceptions.TimeoutError:
                acked.append(False)
    finally:
        await client.disconnect()
    return acked


def _rows(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [row[0] for row in conn.execute("SELECT content FROM messages ORDER BY id")]


async def test_drop_exactly_the_ack_of_the_third_message(chat):
    control, url, db = chat
    await control.add_toxic("chat", "frame", stream="downstream", name="ack_drop",
                            attributes={"action": "drop", "sio_type": "ACK", "nth": 3})
    contents = [f"m{i}" for i in range(1, 6)]
    assert await _send(url, contents) == [True, True, False, True, True]
    assert _rows(db) == contents  # committed, though its ack never arrived
    toxic = await control.get_toxic("chat", "ack_drop")
    assert toxic["fired"] == 1 and toxic["matched"] == 5


async def test_delay_only_the_second_ack(chat):
    control, url, db = chat
    await control.add_toxic("chat", "frame", stream="downstream", name="slow_ack",
                            attributes={"action": "delay", "delay": 600, "sio_type": "ACK", "nth": 2})
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(url, transports=["websocket"])
    took = []
    try:
        for i in range(3):
            start = time.monotonic()
            await client.call("chat message", (f"d{i}", f"d-{i}"), timeout=5)
            took.append(time.monotonic() - start)
    finally:
        await client.disconnect()
    assert took[1] >= 0.55 and took[0] < 0.5 and took[2] < 0.5
    assert _rows(db) == ["d0", "d1", "d2"]


@pytest.mark.parametrize("chat", sorted(ACKING), indirect=True)
async def test_duplicate_the_second_event(chat, request):
    """The same EVENT frame twice: at-least-once stores it twice, exactly-once dedupes by clientOffset."""
    control, url, db = chat
    await control.add_toxic("chat", "frame", stream="upstream", name="dup",
                            attributes={"action": "duplicate", "sio_type": "EVENT", "event": "chat message",
                                        "nth": 2})
    assert await _send(url, ["a", "b", "c"]) == [True, True, True]
    await control.wait_fired("chat", "dup")
    expected = ["a", "b", "b", "c"] if request.node.callspec.params["chat"] == "at-least-once" else ["a", "b", "c"]
    # The server handles the duplicate on its own time (its ack is ignored by the client): poll the rows.
    for _ in range(100):
        if sorted(_rows(db)) == expected:
            break
        await asyncio.sleep(0.02)
    assert sorted(_rows(db)) == expected


async def test_cut_right_after_the_second_event(chat):
    control, url, db = chat
    await control.add_toxic("chat", "frame", stream="upstream", name="cut",
                            attributes={"action": "cut", "sio_type": "EVENT", "nth": 2})
    client = socketio.AsyncClient(reconnection=False)
    gone = asyncio.Event()
    client.on("disconnect", lambda *args: gone.set())
    await client.connect(url, transports=["websocket"])
    await client.call("chat message", ("one", "c-1"), timeout=2)
    await client.emit("chat message", ("two", "c-2"))
    await asyncio.wait_for(gone.wait(), 5)
    assert (await control.get_toxic("chat", "cut"))["fired"] == 1
    for _ in range(100):  # the server stores "two" on its own time; poll until it is there
        if _rows(db) == ["one", "two"]:
            break
        await asyncio.sleep(0.02)
    assert _rows(db) == ["one", "two"]


async def test_a_frame_toxic_removes_the_compression_offer_from_the_upgrade():
    """socket.io-client on Node offers permessage-deflate; a compressed message could never be matched.

    With a frame toxic on the proxy (here downstream only, as ack_drop is), the upgrade request reaches
    the server without `Sec-WebSocket-Extensions`, and the rest of the bytes pass unchanged.
    """
    received = bytearray()
    done = asyncio.Event()

    async def capture(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            received.extend(data)
            if received.endswith(b"tail"):
                done.set()
        writer.close()

    request = (b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
               b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
               b"Sec-WebSocket-Version: 13\r\n\r\n")
    backend = await start_proxy_backend("embedded", seed=1, in_process=True)
    try:
        async with tcp_server(capture) as upstream:
            proxy = await backend.control.create_proxy("ws", f"127.0.0.1:{upstream}")
            await backend.control.add_toxic("ws", "frame", stream="downstream", attributes={"sio_type": "ACK"})
            host, port = proxy["listen"].rsplit(":", 1)
            _, writer = await asyncio.open_connection(host, int(port))
            writer.write(request[:40])
            await writer.drain()
            writer.write(request[40:] + b"tail")
            await writer.drain()
            await asyncio.wait_for(done.wait(), 5)
            writer.close()
    finally:
        await backend.stop()
    assert b"sec-websocket-extensions" not in received.lower()
    assert bytes(received) == request.replace(
        b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n", b"") + b"tail"


async def test_a_frame_toxic_counts_on_connections_opened_after_it_was_added(chat):
    """`matched` belongs to the toxic, not to a connection: the 2nd CONNECT is the next connection's, and
    the 3rd ACK is the first ack of that connection, though neither connection existed when it was added."""
    control, url, db = chat
    await control.add_toxic("chat", "frame", stream="upstream", name="second_connect",
                            attributes={"action": "delay", "delay": 0, "sio_type": "CONNECT", "nth": 2})
    await control.add_toxic("chat", "frame", stream="downstream", name="third_ack",
                            attributes={"action": "drop", "sio_type": "ACK", "nth": 3})
    assert await _send(url, ["a", "b"]) == [True, True]
    assert (await control.get_toxic("chat", "second_connect"))["fired"] == 0
    assert await _send(url, ["c", "d"]) == [False, True]
    connect, ack = await control.get_toxic("chat", "second_connect"), await control.get_toxic("chat", "third_ack")
    assert (connect["matched"], connect["fired"]) == (2, 1)
    assert (ack["matched"], ack["fired"]) == (4, 1)
    assert _rows(db) == ["a", "b", "c", "d"]
