"""socket.io-client's behaviours (reference doc sections D-E), asserted alike on both drivers.

Every test runs on the python driver and on the node driver (the official socket.io-client 4.8), the
latter both with a process per page and with one process shared by every page (`node_process: shared`): the
same assertion passing on all is what shows the python driver is faithful, and the shared process too.
Servers are real processes: the reference server, or tests/clients_app.py where the test must see each try
on the wire.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from pathlib import Path

import pytest
from clients_support import app_log, app_log_of, events, eventually, fast_settings, outcomes, start_app

from harness.clients import make_driver
from harness.clients.base import ClientDriver
from harness.history import HistoryWriter, make_content
from harness.processes import ManagedProcess, free_port, start_reference_server
from harness.scenario import ClientSettings


@pytest.fixture(params=["python", "node", "node-shared"])
def kind(request: pytest.FixtureRequest) -> str:
    if request.param.startswith("node"):
        request.getfixturevalue("node_modules")
    return request.param


@pytest.fixture
def history_path(tmp_path: Path) -> Path:
    return tmp_path / "history.jsonl"


@pytest.fixture
async def clients(kind: str, history_path: Path):
    """make(slot, port, settings) -> a driver of this test's kind connecting to 127.0.0.1:port; every
    driver is closed at the end."""
    history = HistoryWriter(history_path)
    made: list[ClientDriver] = []

    def make(slot: str, port: int, settings: ClientSettings) -> ClientDriver:
        if kind == "node-shared":
            settings = dataclasses.replace(settings, node_process="shared")
        driver = make_driver(kind.removesuffix("-shared"), slot, settings, history, url=f"http://127.0.0.1:{port}")
        made.append(driver)
        return driver

    try:
        yield make
    finally:
        for driver in made:
            await driver.close()
        history.close()


@pytest.fixture
async def servers():
    """start(port, ack) -> the logging test server; every one started is killed at the end."""
    started: list[ManagedProcess] = []

    async def start(port: int, ack: str = "always") -> ManagedProcess:
        proc = await start_app(port, ack)
        started.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in started:
            await proc.kill()


@pytest.fixture
async def reference(tmp_path: Path):
    """start(port, profile) -> the reference server on tmp_path/chat.db; killed at the end."""
    started: list[ManagedProcess] = []

    async def start(port: int, profile: str) -> ManagedProcess:
        proc = await start_reference_server(port, f"sqlite:///{tmp_path / 'chat.db'}", profile,
                                            log_path=tmp_path / "server.log")
        started.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in started:
            await proc.kill()


async def test_retries_keep_order_with_one_packet_in_flight(clients, servers, history_path):
    port = free_port()
    await servers(port, "after-first")
    c1 = clients("c1", port, fast_settings(ack=True, ack_timeout=0.3, retries=2, retry_mode="queue"))
    await c1.start()
    ids = [await c1.send(f"m{i}") for i in range(3)]
    await eventually(lambda: c1.pending == 0, what="every ack")
    log = await app_log(port)
    # Each message is tried twice (the first try is never acked) before the next one is sent at all.
    assert [e["args"][0] for e in log] == [make_content(i, f"m{n}") for n, i in enumerate(ids) for _ in (1, 2)]
    assert [e["ack_id"] for e in log] == list(range(6))
    found = outcomes(history_path)
    assert [found[i] for i in ids] == [("ok", {"id": i, "tries": 2}) for i in ids]


async def test_retries_give_up_after_one_plus_retries_tries_with_new_ack_ids(clients, servers, history_path):
    port = free_port()
    await servers(port, "never")
    c1 = clients("c1", port, fast_settings(ack=True, ack_timeout=0.1, retries=3, retry_mode="queue"))
    await c1.start()
    first, second = await c1.send("a"), await c1.send("b")
    await eventually(lambda: c1.pending == 0, what="both sends to give up")
    log = await app_log_of(port, 8)
    assert [e["args"][0] for e in log] == [make_content(first, "a")] * 4 + [make_content(second, "b")] * 4
    assert [e["ack_id"] for e in log] == list(range(8))
    found = outcomes(history_path)
    assert found[first] == ("info", {"id": first, "reason": "gave-up"})
    assert found[second] == ("info", {"id": second, "reason": "gave-up"})


async def test_no_tries_are_spent_while_offline(clients, servers, history_path):
    port = free_port()
    c1 = clients("c1", port, fast_settings(ack=True, ack_timeout=0.1, retries=3, retry_mode="queue"))
    await c1.start()
    assert events(history_path, f="connect", type_="fail"), "the first connect should fail: no server yet"
    msg = await c1.send("offline")
    # The time spent offline is what is under test: five ack timeouts pass with nobody to send to.
    await asyncio.sleep(0.5)
    assert c1.pending == 1 and msg not in outcomes(history_path)
    await servers(port, "always")
    await eventually(lambda: c1.pending == 0, what="the ack after the server came up")
    assert outcomes(history_path)[msg] == ("ok", {"id": msg, "tries": 1})
    assert len(await app_log(port)) == 1


async def test_offline_emits_are_buffered_and_sent_in_order_after_a_server_crash(clients, servers,
                                                                                history_path):
    port = free_port()
    server = await servers(port, "always")
    c1 = clients("c1", port, fast_settings())
    await c1.start()
    await c1.send("before")
    await eventually(lambda: app_log(port), what="the first message at the server")
    await server.kill()
    await eventually(lambda: not c1.connected, what="the client to notice the crash")
    ids = [await c1.send(f"offline {i}") for i in range(5)]
    assert c1.pending == 5, "nothing may be written while offline"
    await servers(port, "always")
    await eventually(lambda: c1.pending == 0, what="the buffer to be flushed")
    log = await app_log_of(port, len(ids))
    assert [e["args"][0] for e in log] == [make_content(i, f"offline {n}") for n, i in enumerate(ids)]
    found = outcomes(history_path)
    assert [found[i] for i in ids] == [("info", {"id": i, "reason": "no-ack"}) for i in ids]


@pytest.mark.parametrize("ack_timeout", [30.0, None], ids=["ack-timeout", "plain-callback"])
async def test_pending_callbacks_end_on_disconnect(clients, servers, history_path, ack_timeout):
    port = free_port()
    await servers(port, "never")
    c1 = clients("c1", port, fast_settings(ack=True, ack_timeout=ack_timeout))
    await c1.start()
    msg = await c1.send("never acked")
    await eventually(lambda: app_log(port), what="the message at the server")
    await c1.close_engine()
    # Well before the 30 s timeout: the disconnect itself ends the callback.
    await eventually(lambda: c1.pending == 0, timeout=5, what="the callback to fail")
    assert outcomes(history_path)[msg] == ("info", {"id": msg, "reason": "disconnect"})


async def test_a_timeout_while_buffered_drops_the_packet(clients, servers, history_path):
    port = free_port()
    c1 = clients("c1", port, fast_settings(ack=True, ack_timeout=0.2))
    await c1.start()
    lost = await c1.send("times out in the buffer")
    await eventually(lambda: c1.pending == 0, what="the timeout")
    assert outcomes(history_path)[lost] == ("fail", {"id": lost, "reason": "timeout"})
    await servers(port, "always")
    assert await c1.wait_connected(10)
    later = await c1.send("after")
    await eventually(lambda: c1.pending == 0, what="the second ack")
    assert [e["args"][0] for e in await app_log(port)] == [make_content(later, "after")]


async def test_the_tutorials_undefined_offset_trap_loses_a_message(clients, reference, history_path,
                                                                  tmp_path):
    port = free_port()
    config = fast_settings(ack=True, ack_timeout=1.0, retries=3, retry_mode="queue",
                         client_offset="socket-id-undefined")
    pages = [clients("c1", port, config), clients("c2", port, config)]
    for page in pages:
        await page.start()
    ids = [await page.send("sent while offline") for page in pages]
    invokes = {e["value"]["id"]: e["value"]["client_offset"] for e in events(history_path, f="send",
                                                                            type_="invoke")}
    assert [invokes[i] for i in ids] == ["undefined-0", "undefined-0"]
    await reference(port, "exactly-once")
    await eventually(lambda: all(page.pending == 0 for page in pages), what="both acks")
    assert {outcomes(history_path)[i][0] for i in ids} == {"ok"}
    with sqlite3.connect(tmp_path / "chat.db") as db:
        stored = [row[0] for row in db.execute("SELECT content FROM messages")]
    # Both were acknowledged, one was stored: the second insert hit the UNIQUE clientOffset.
    assert len(stored) == 1


async def test_socket_id_offset_keeps_the_last_id_while_offline(clients, servers, history_path):
    port = free_port()
    await servers(port, "always")
    c1 = clients("c1", port, fast_settings(client_offset="socket-id", reconnection_delay=2.0,
                                   reconnection_delay_max=2.0, randomization_factor=0.0))
    await c1.start()
    [connect] = events(history_path, f="connect", type_="ok")
    await c1.close_engine()
    await eventually(lambda: not c1.connected, what="the disconnect")
    await c1.send("offline")
    [invoke] = events(history_path, f="send", type_="invoke")
    assert invoke["value"]["client_offset"] == f"{connect['value']['sid']}-0"


async def test_page_refresh_drops_buffer_and_queue(clients, servers, history_path):
    port = free_port()
    await servers(port, "never")
    c1 = clients("c1", port, fast_settings(ack=True, ack_timeout=5.0, retries=5, retry_mode="queue"))
    await c1.start()
    in_flight, queued, _ = [await c1.send(f"m{i}") for i in range(3)]
    await eventually(lambda: app_log(port), what="the head of the queue at the server")
    await c1.page_refresh()
    found = outcomes(history_path)
    assert found[in_flight] == ("info", {"id": in_flight, "reason": "refresh"})
    assert found[queued] == ("fail", {"id": queued, "reason": "refresh"})
    assert [e["value"] for e in events(history_path, f="refresh")] == [{"next": "c1.1"}]
    assert c1.proc == "c1.1" and c1.pending == 0
    [start] = events(history_path, proc="c1.1", f="start")
    assert start["value"] == {"lineage": "c1", "server_offset": 0}
    assert await c1.send("fresh page") == "c1.1:1"


@pytest.mark.parametrize("persist", [False, True], ids=["memory", "local-storage"])
async def test_page_refresh_keeps_the_offset_only_when_persisted(clients, servers, history_path, persist):
    port = free_port()
    await servers(port, "always")
    c1 = clients("c1", port, fast_settings(ack=True, ack_timeout=2.0, persist_offset=persist))
    await c1.start()
    for i in range(2):
        await c1.send(f"m{i}")
    await eventually(lambda: c1.server_offset == 2, what="both broadcasts")
    await c1.page_refresh()
    expected = 2 if persist else 0
    [start] = events(history_path, proc="c1.1", f="start")
    [connect] = events(history_path, proc="c1.1", f="connect", type_="ok")
    assert start["value"]["server_offset"] == connect["value"]["server_offset"] == expected


async def test_connection_state_recovery_after_an_engine_close(clients, reference, history_path):
    port = free_port()
    await reference(port, "csr")
    c1 = clients("c1", port, fast_settings())
    await c1.start()
    await c1.send("hello")
    await eventually(lambda: events(history_path, f="recv"), what="the broadcast")
    await c1.close_engine()
    await eventually(lambda: len(events(history_path, f="connect", type_="ok")) == 2, what="the reconnect")
    first, second = [e["value"] for e in events(history_path, f="connect", type_="ok")]
    assert (first["recovered"], second["recovered"]) == (False, True)
    assert second["sid"] == first["sid"]
    [recv] = events(history_path, f="recv")
    assert isinstance(recv["value"]["csr_offset"], str)


async def test_manual_retry_re_emits_without_order(clients, servers, history_path):
    port = free_port()
    await servers(port, "after-first")
    c1 = clients("c1", port, fast_settings(retry_mode="manual", ack_timeout=0.3, client_offset="random"))
    await c1.start()
    ids = [await c1.send(f"m{i}") for i in range(3)]
    await eventually(lambda: c1.pending == 0, what="every ack")
    log = await app_log(port)
    # All three first tries go out at once, then all three retries: no queue, no ordering.
    contents = [make_content(i, f"m{n}") for n, i in enumerate(ids)]
    assert [e["args"][0] for e in log] == contents + contents
    assert [e["ack_id"] for e in log] == list(range(6))
    assert {outcomes(history_path)[i][1]["tries"] for i in ids} == {2}
    offsets = [e["value"]["client_offset"] for e in events(history_path, f="send", type_="invoke")]
    assert len(set(offsets)) == 3 and all(len(o) == 32 and int(o, 16) >= 0 for o in offsets)
    assert [e["args"][1] for e in log] == offsets + offsets


async def test_a_client_disconnect_leaves_no_session_to_recover(clients, reference, history_path):
    port = free_port()
    await reference(port, "csr")
    c1 = clients("c1", port, fast_settings())
    await c1.start()
    await c1.send("hello")
    await eventually(lambda: events(history_path, f="recv"), what="the broadcast")
    await c1.disconnect()
    assert [e["value"]["reason"] for e in events(history_path, f="disconnect")] == ["io client disconnect"]
    buffered = await c1.send("sent while disconnected")
    assert not await c1.wait_connected(0.3), "socket.disconnect() must not reconnect by itself"
    await c1.connect()
    assert await c1.wait_connected(10)
    first, second = [e["value"] for e in events(history_path, f="connect", type_="ok")]
    assert second["recovered"] is False and second["sid"] != first["sid"]
    await eventually(lambda: c1.pending == 0, what="the buffered emit to be flushed")
    assert outcomes(history_path)[buffered] == ("info", {"id": buffered, "reason": "no-ack"})
