"""Bad input against one running server: Hypothesis-generated `chat message` arguments, raw protocol
garbage, a flood and a bad handshake. Each is refused (with an error ack when one was asked for),
nothing refused is stored, and the server stays up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import socketio
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from server_support import Servers, TutorialClient, connected, servers, sqlite_db

from harness.databases import read_db_rows, sqlite_url
from harness.processes import ManagedProcess, free_port, start_reference_server

LIMIT = 1024


class Target:
    def __init__(self, proc: ManagedProcess, url: str, db: str, client: TutorialClient) -> None:
        self.proc, self.url, self.db, self.client = proc, url, db, client


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def target(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Target]:
    db = sqlite_url(tmp_path_factory.mktemp("bad-input") / "chat.db")
    port = free_port()
    proc = await start_reference_server(port, db, "at-least-once",
                                        extra=["--max-content-bytes", str(LIMIT), "--rate-limit", "0"])
    try:
        client = TutorialClient(f"http://127.0.0.1:{port}")
        await client.connect()
        try:
            yield Target(proc, f"http://127.0.0.1:{port}", db, client)
        finally:
            await client.disconnect()
    finally:
        await proc.kill()


def well_formed_text(value: str, max_bytes: int) -> bool:
    """The spec of an acceptable string, stated independently of the server's own check."""
    try:
        encoded = value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in value and len(encoded) <= max_bytes


def acceptable(args: list[Any]) -> bool:
    if not 1 <= len(args) <= 2 or not isinstance(args[0], str) or not well_formed_text(args[0], LIMIT):
        return False
    if len(args) == 2 and args[1] is not None:
        return isinstance(args[1], str) and len(args[1]) <= 256 and well_formed_text(args[1], 10**6)
    return True


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6)
near_the_limit = st.builds(lambda char, n: char * n, st.sampled_from(["a", "é", "€", "😀"]),
                           st.integers(250, LIMIT + 8))
awkward_text = st.sampled_from(["", "\x00", "a\x00b", "\ud800", "x\udfffy", "o" * 257])
argument = st.one_of(st.text(max_size=30), near_the_limit, awkward_text, json_values, st.binary(max_size=16))


@pytest.mark.asyncio(loop_scope="module")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(args=st.lists(argument, max_size=4))
async def test_generated_arguments_are_stored_or_refused(target: Target, args: list[Any]) -> None:
    before = await read_db_rows(target.db)
    reply = await target.client.send(*args, timeout=5)
    after = await read_db_rows(target.db)
    if acceptable(args):
        event("accepted")
        assert reply is None
        assert len(after) == len(before) + 1 and after[-1]["content"] == args[0]
    else:
        event("refused")
        assert isinstance(reply, dict) and isinstance(reply.get("error"), str) and reply["error"], reply
        assert after == before
    assert target.proc.running


@pytest.mark.asyncio(loop_scope="module")
async def test_protocol_garbage_leaves_the_server_up(target: Target) -> None:
    garbage = ["", "4", "42", "42[", '42["chat message"', "42{}", "49", "4-", "43[1]", "421abc[]", "9",
               "\x00\xff", "40" + "{" * 500, '42["chat message",' + "[" * 2000 + "]" * 2000 + "]"]
    # A namespace DISCONNECT and a binary header awaiting attachments that never come: valid states
    # after which the connection answers nothing more, so they are sent without the sync below.
    dead_ends = ["41", '451-["chat message",{"_placeholder":true,"num":9}]']
    url = target.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
    async with aiohttp.ClientSession() as session:
        for frame, binary in [(f, b) for f in garbage + dead_ends for b in (False, True)]:
            async with session.ws_connect(url) as ws:
                await ws.receive(timeout=5)  # the Engine.IO open packet
                await ws.send_str("40")
                await ws.receive(timeout=5)  # the CONNECT reply
                if binary:
                    await ws.send_bytes(frame.encode("utf-8", "surrogatepass"))
                else:
                    await ws.send_str(frame)
                if frame in dead_ends:
                    continue
                # One connection's packets are decoded in order: the error ack to this empty event (or
                # the server closing the socket) proves the garbage before it was processed.
                await ws.send_str('4299["chat message"]')
                while (msg := await ws.receive(timeout=5)).type == aiohttp.WSMsgType.TEXT:
                    if msg.data.startswith("4399["):
                        assert "missing content" in msg.data
                        break
        async with session.get(f"{target.url}/health") as resp:
            assert resp.status == 200
    before = len(await read_db_rows(target.db))
    assert await target.client.send("still works") is None
    assert len(await read_db_rows(target.db)) == before + 1


async def test_a_flood_is_refused_beyond_the_rate_limit(servers: Servers, sqlite_db: str) -> None:
    server = await servers.start(sqlite_db, "at-least-once",
                                 extra=["--rate-limit", "5", "--rate-burst", "10", "--no-csr"])
    async with connected(server.url) as flooder:
        replies = await asyncio.gather(*(flooder.send(f"flood {i}", timeout=5) for i in range(40)))
    stored = [r["content"] for r in await read_db_rows(sqlite_db)]
    refused = [r for r in replies if r is not None]
    assert 10 <= len(stored) < 40
    assert len(stored) + len(refused) == 40
    assert all("rate limit" in r["error"] for r in refused)
    async with connected(server.url) as polite:
        assert await polite.send("after the flood") is None


async def test_a_bad_handshake_is_refused_with_a_reason(servers: Servers, sqlite_db: str) -> None:
    server = await servers.start(sqlite_db, "server-delivery")
    client = socketio.AsyncClient(reconnection=False)
    reasons: list[Any] = []
    client.on("connect_error", reasons.append)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(server.url, auth={"serverOffset": "abc"}, transports=["websocket"], wait_timeout=5)
    assert reasons == [{"message": "auth.serverOffset must be a non-negative integer, got 'abc'"}]
    async with connected(server.url) as fine:
        await fine.emit("ok")
        await fine.wait_until(lambda: fine.contents() == ["ok"])
