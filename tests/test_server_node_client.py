"""The reference server with the official JS client (socket.io-client 4.8 from npm), used as the tutorial's
page uses it: auth.serverOffset, clientOffset, ackTimeout + retries."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from server_support import Servers, db_url, servers

from harness.databases import read_db_rows

SCRIPT = Path(__file__).parent / "node" / "tutorial_client.js"


async def run_node(node_modules: Path, url: str, scenario: str) -> dict:
    proc = await asyncio.create_subprocess_exec(
        "node", str(SCRIPT), url, scenario, cwd=node_modules.parent,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 20)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    return json.loads(out.decode().strip().splitlines()[-1])


async def test_js_client_gets_acks_dedupe_and_the_replay(servers: Servers, db_url: str,
                                                         node_modules: Path) -> None:
    server = await servers.start(db_url, "exactly-once")
    result = await run_node(node_modules, server.url, "replay")
    rows = await read_db_rows(db_url)
    assert [r["content"] for r in rows] == ["js hello", "sent while alice was away"]
    assert result["acks"] == [[], []]
    assert result["offsetBeforeLeaving"] == rows[0]["id"]
    # (PostgreSQL ids may have gaps: the refused duplicate consumed a sequence value.)
    assert result["received"] == [[r["content"], r["id"]] for r in rows]
    # socket.disconnect() is a client namespace disconnect: socket.io keeps no session for it, so
    # the catch-up came from the serverOffset replay, not from connection state recovery.
    assert result["reason"] == "io client disconnect"
    assert result["recovered"] is False


@pytest.mark.parametrize("connect_handler", ["skipped", "run"])
async def test_a_recovered_js_client_is_not_replayed_twice(servers: Servers, db_url: str, node_modules: Path,
                                                           connect_handler: str) -> None:
    # By default a recovered socket skips the connect handler (socket.io's skipMiddlewares); with
    # --csr-run-middlewares the handler runs and must itself leave out the serverOffset replay.
    extra = ["--csr-run-middlewares"] if connect_handler == "run" else []
    server = await servers.start(db_url, "exactly-once", extra=extra)
    result = await run_node(node_modules, server.url, "recover")
    rows = await read_db_rows(db_url)
    assert result["reason"] == "forced close"  # the client's name for closing its own transport
    assert result["recovered"] is True
    # The missed message came once, by recovery; the serverOffset replay was skipped for this socket.
    assert result["received"] == [[r["content"], r["id"]] for r in rows]
