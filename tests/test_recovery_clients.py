"""Clients recovering against the recovery test server: the official socket.io-client (Node.js) and
the harness's python client (`harness.clients.recovery.RecoveringAsyncClient`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from recovery_support import Recorder, drop_transport, recovery_server, run_node

from harness.clients.recovery import RecoveringAsyncClient, RecoveryState

OFFSET = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)?$")
AWAY_EMITS = [
    {"event": "hello1", "args": ["all"]},
    {"event": "hello2", "args": ["room"], "to": "room1"},
    {"event": "hello3", "args": ["direct"], "to": "self"},
    {"event": "nope", "args": ["other room"], "to": "room2"},
    {"event": "acked", "args": ["with ack"], "ack": True},
    {"event": "vol", "args": ["volatile"], "volatile": True},
]

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("transports", ["websocket", "polling", "polling,websocket"])
async def test_official_js_client_recovers_same_id_and_missed_events(node_modules: Path, tmp_path: Path,
                                                                     transports: str) -> None:
    async with recovery_server() as server:
        lines = await run_node(node_modules, tmp_path, server.url, "app", transports)
        calls = await server.get("/calls")
    connects = [line for line in lines if line["ev"] == "connect"]
    assert [c["recovered"] for c in connects] == [False, True]
    assert connects[0]["id"] == connects[1]["id"]
    # Missed events reach the listeners before `connect` fires, each with its offset last.
    seen = connects[1]["seen"]
    assert [e[:2] for e in seen] == [["hello0", "before"], ["hello1", "all"], ["hello2", "room"],
                                     ["hello3", "direct"]]
    assert all(len(e) == 3 and OFFSET.match(e[2]) for e in seen)
    whoami = next(line["value"] for line in lines if line["ev"] == "whoami")
    assert whoami == {"sid": connects[0]["id"], "rooms": sorted([connects[0]["id"], "room1"]),
                      "data": {"foo": "bar"}, "recovered": True}
    assert [c["auth"] for c in calls] == [{"token": "t1"}], "the connect handler ran on recovery"


def python_client() -> RecoveringAsyncClient:
    return RecoveringAsyncClient(reconnection_delay=0.2, reconnection_delay_max=0.2,
                                 randomization_factor=0)


async def test_python_client_recovers_same_sid_and_missed_events() -> None:
    async with recovery_server() as server:
        client = python_client()
        seen = Recorder(client)
        await client.connect(server.url, transports=["websocket"], auth={"token": "t1"})
        try:
            assert client.pid is not None and client.recovered is False and client.last_offset is None
            await client.call("join", "room1")
            await client.call("set", ("foo", "bar"))
            await client.call("arm", AWAY_EMITS)
            await server.emit("hello0", "before")
            await seen.wait_for(lambda: seen.events)
            first_offset = client.last_offset
            assert OFFSET.match(first_offset)
            assert seen.events == [("hello0", "before")], "the offset must be stripped"

            await drop_transport(client)
            await seen.wait_for(lambda: len(seen.connects) == 2)
            first, second = seen.connects
            assert second == {"sid": first["sid"], "recovered": True, "pid": first["pid"],
                              "seen": [("hello0", "before"), ("hello1", "all"), ("hello2", "room"),
                                       ("hello3", "direct")]}
            assert client.last_offset != first_offset and OFFSET.match(client.last_offset)
            assert client.sid != first["sid"], "client.sid is the engine id, new on each connection"
            me = await client.call("whoami")
            assert me == {"sid": first["sid"], "rooms": sorted([first["sid"], "room1"]),
                          "data": {"foo": "bar"}, "recovered": True}
        finally:
            await client.disconnect()


async def test_python_client_gets_a_fresh_session_after_its_own_disconnect() -> None:
    async with recovery_server() as server:
        client = python_client()
        seen = Recorder(client)
        await client.connect(server.url, transports=["websocket"])
        await server.emit("hello0", "before")
        await seen.wait_for(lambda: seen.events)
        first_sid, first_pid = client.get_sid(), client.pid
        await client.disconnect()
        assert await server.wait_disconnect(first_sid) == "client disconnect"
        await client.connect(server.url, transports=["websocket"])
        try:
            assert client.recovered is False
            assert client.get_sid() != first_sid and client.pid not in (None, first_pid)
        finally:
            await client.disconnect()


async def test_python_client_leaves_arguments_alone_without_a_pid() -> None:
    async with recovery_server("--no-csr") as server:
        client = python_client()
        seen = Recorder(client)
        await client.connect(server.url, transports=["websocket"])
        try:
            await server.emit("hello", "content", "trailing string")
            await seen.wait_for(lambda: seen.events)
            assert seen.events == [("hello", "content", "trailing string")]
            assert client.pid is None and client.last_offset is None
        finally:
            await client.disconnect()


async def test_python_client_leaves_events_that_ask_for_an_ack_alone() -> None:
    async with recovery_server() as server:
        client = python_client()
        seen = Recorder(client)
        await client.connect(server.url, transports=["websocket"])
        try:
            await server.emit("asks", "content", "trailing string", to=client.get_sid(), ack=True)
            await seen.wait_for(lambda: seen.events)
            assert seen.events == [("asks", "content", "trailing string")]
            assert client.last_offset is None
        finally:
            await client.disconnect()


def test_connect_auth_merges_pid_and_offset_under_the_user_auth() -> None:
    state = RecoveryState()
    assert state.connect_auth({"serverOffset": 3}) == {"serverOffset": 3}
    state.pid = "P"
    assert state.connect_auth({"serverOffset": 3}) == {"pid": "P", "serverOffset": 3}
    state.last_offset = "O"
    assert state.connect_auth({"serverOffset": 3}) == {"pid": "P", "offset": "O", "serverOffset": 3}
    # Object.assign({pid, offset}, auth): the user's keys win, as in socket.io-client.
    assert state.connect_auth({"offset": "mine"}) == {"pid": "P", "offset": "mine"}
    assert state.connect_auth("token") == "token"


async def test_a_client_holding_events_back_moves_its_offset_only_when_it_hands_one_on() -> None:
    # socket.io-client moves its offset when an event reaches the page (`emitEvent`); an event held in its
    # receive buffer before the CONNECT and lost with a cut attempt must not move it (docs/reliability.md).
    class Holding(RecoveringAsyncClient):
        offset_on_arrival = False

    for client, moved in ((RecoveringAsyncClient(), "O1"), (Holding(), None)):
        client.recovery("/").pid = "P"
        await client._handle_event("/", None, ["chat message", "hi", 1, "O1"])
        assert client.recovery("/").last_offset == moved
