"""Connection state recovery of the reference chat server (`python -m reference_server --profile csr`),
with the official socket.io-client and with the harness's python client."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from recovery_support import RawSocket, Recorder, drop_transport, run_node

from harness.clients.recovery import RecoveringAsyncClient
from harness.processes import ManagedProcess, free_port, start_reference_server

OFFSET = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)?$")

pytestmark = pytest.mark.timeout(90)


@asynccontextmanager
async def reference_server(tmp_path: Path, profile: str, port: int | None = None) -> AsyncIterator[str]:
    port = port or free_port()
    process: ManagedProcess = await start_reference_server(
        port, f"sqlite:///{tmp_path / 'chat.db'}", profile, log_path=tmp_path / "server.log",
        ready_timeout=20)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await process.terminate()


async def test_official_js_client_recovers_against_the_reference_server(node_modules: Path,
                                                                        tmp_path: Path) -> None:
    async with reference_server(tmp_path, "csr") as url:
        lines = await run_node(node_modules, tmp_path, url, "chat")
    connects = [line for line in lines if line["ev"] == "connect"]
    assert [c["recovered"] for c in connects] == [False, True], lines
    assert connects[0]["id"] == connects[1]["id"]
    seen = connects[1]["seen"]
    assert [e[1] for e in seen] == ["csr-before", "csr-missed"], seen
    # (event, content, row id, offset): the offset is the last argument of the tutorial's broadcast.
    assert all(e[0] == "chat message" and isinstance(e[2], int) and OFFSET.match(e[3]) for e in seen)
    stored_at = [n for n, line in enumerate(lines) if line["ev"] == "b-stored"]
    assert stored_at and stored_at[0] < lines.index(connects[1]), "the message was not sent while away"


def client(**options: Any) -> RecoveringAsyncClient:
    return RecoveringAsyncClient(reconnection=False, **options)


async def send_and_see(sender: RecoveringAsyncClient, seen: Recorder, content: str) -> None:
    """Send a chat message and wait until `seen`'s client has received its broadcast."""
    await sender.emit("chat message", content)
    await seen.wait_for(lambda: any(e[1] == content for e in seen.events))


async def test_python_client_recovers_against_the_reference_server(tmp_path: Path) -> None:
    async with reference_server(tmp_path, "csr") as url:
        away, other = client(), client()
        seen_away, seen_other = Recorder(away), Recorder(other)
        await away.connect(url, transports=["websocket"], auth={"serverOffset": 0})
        await other.connect(url, transports=["websocket"], auth={"serverOffset": 0})
        try:
            await send_and_see(other, seen_away, "csr-before")
            sid, pid = away.get_sid(), away.pid
            await drop_transport(away)
            await send_and_see(other, seen_other, "csr-missed")
            await away.connect(url, transports=["websocket"], auth={"serverOffset": 1})
            assert away.recovered is True and away.get_sid() == sid and away.pid == pid
            missed = seen_away.connects[-1]["seen"][-1]
            assert missed[:2] == ("chat message", "csr-missed") and len(missed) == 3, missed
        finally:
            await away.disconnect()
            await other.disconnect()


async def test_a_server_restart_loses_every_session(tmp_path: Path) -> None:
    port = free_port()
    away = client()
    seen = Recorder(away)
    async with reference_server(tmp_path, "csr", port) as url:
        await away.connect(url, transports=["websocket"], auth={"serverOffset": 0})
        await send_and_see(away, seen, "before the restart")
        sid, pid = away.get_sid(), away.pid
        await drop_transport(away)
    async with reference_server(tmp_path, "csr", port) as url:
        await away.connect(url, transports=["websocket"], auth={"serverOffset": 1})
        try:
            assert away.recovered is False
            assert away.get_sid() != sid and away.pid != pid
        finally:
            await away.disconnect()


async def test_reference_server_has_no_recovery_without_the_csr_switch(tmp_path: Path) -> None:
    async with reference_server(tmp_path, "baseline") as url:
        sock = await RawSocket.open(url)
        try:
            reply = await sock.connect({"pid": "foo", "offset": "bar", "serverOffset": 0})
            assert list(reply) == ["sid"]
            await sock.send('42["chat message","plain"]')
            event = json.loads((await sock.recv())[1:])
            assert event[:2] == ["chat message", "plain"] and len(event) == 3
        finally:
            await sock.close()


async def test_reference_server_csr_connect_reply_and_offset_on_the_wire(tmp_path: Path) -> None:
    async with reference_server(tmp_path, "csr") as url:
        sock = await RawSocket.open(url)
        try:
            reply = await sock.connect({"serverOffset": 0})
            assert sorted(reply) == ["pid", "sid"]
            await sock.send('42["chat message","wire"]')
            frame = await sock.recv()
            assert re.fullmatch(r'2\["chat message","wire",\d+,"[A-Za-z0-9_.-]+"\]', frame), frame
        finally:
            await sock.close()
