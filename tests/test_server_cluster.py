"""Reference-server nodes over a real Redis (reference_server/cluster.py): broadcasts cross nodes, a CSR
session follows its client to another node only with `--session-store redis`, and the exactly-once
profile's feed (reference_server/feed.py) sends every row in id order, announced or not."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any

import pytest

from harness.clients.recovery import RecoveringAsyncClient
from harness.processes import ManagedProcess, free_port, start_reference_server
from harness.redis import RedisServer, find_redis_binary

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(autouse=True)
def _redis_server() -> None:
    """These tests restart nothing but start their own redis-server; under CI=true its absence fails."""
    if find_redis_binary() is not None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail("needs redis-server on PATH or $REDIS_BIN")
    pytest.skip("needs redis-server on PATH or $REDIS_BIN")


@asynccontextmanager
async def two_nodes(tmp_path: Path, *extra: str,
                    profile: str = "csr") -> AsyncIterator[tuple[list[str], list[ManagedProcess]]]:
    redis = RedisServer(tmp_path, "test", own=True)
    await redis.start()
    processes: list[ManagedProcess] = []
    urls = []
    try:
        for node in ("n1", "n2"):
            port = free_port()
            processes.append(await start_reference_server(
                port, f"sqlite:///{tmp_path / 'chat.db'}", profile, log_path=tmp_path / f"{node}.log",
                ready_timeout=20, extra=["--node", node, "--redis", redis.url_at(redis.address),
                                         "--redis-channel", redis.channel, *extra]))
            urls.append(f"http://127.0.0.1:{port}")
        yield urls, processes
    finally:
        for process in processes:
            await process.terminate()
        await redis.close()


class Inbox:
    def __init__(self, client: RecoveringAsyncClient) -> None:
        self.contents: list[str] = []
        self.offsets: list[int] = []
        self.changed = asyncio.Event()
        client.on("chat message", self._on)

    async def _on(self, content: str, *rest: Any) -> None:
        self.contents.append(content)
        self.offsets.append(rest[0] if rest else 0)
        self.changed.set()

    async def wait_for(self, content: str, timeout: float = 10) -> None:
        while content not in self.contents:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), timeout)


async def _client(url: str) -> tuple[RecoveringAsyncClient, Inbox]:
    client = RecoveringAsyncClient(reconnection=False)
    inbox = Inbox(client)
    await client.connect(url, transports=["websocket"], auth={"serverOffset": 0})
    return client, inbox


async def test_a_broadcast_on_one_node_reaches_the_clients_of_the_other(tmp_path: Path) -> None:
    async with two_nodes(tmp_path) as (urls, _):
        a, _ = await _client(urls[0])
        b, inbox = await _client(urls[1])
        await a.emit("chat message", "from n1")
        await inbox.wait_for("from n1")
        await a.disconnect()
        await b.disconnect()


@pytest.mark.parametrize("store, recovers", [("redis", True), ("memory", False)])
async def test_a_session_moves_to_the_other_node_only_through_redis(tmp_path: Path, store: str,
                                                                    recovers: bool) -> None:
    async with two_nodes(tmp_path, "--session-store", store) as (urls, processes):
        a, a_inbox = await _client(urls[0])
        b, b_inbox = await _client(urls[1])
        await b.emit("chat message", "before")
        await a_inbox.wait_for("before")
        gone = asyncio.Event()
        a.on("disconnect", lambda *_: gone.set())
        await processes[0].terminate()  # graceful: n1 saves the session as it closes the connection
        await asyncio.wait_for(gone.wait(), 10)
        await b.emit("chat message", "while away")
        await b_inbox.wait_for("while away")
        await a.connect(urls[1], transports=["websocket"], auth={"serverOffset": 1})
        assert a.recovered is recovers
        if recovers:
            await a_inbox.wait_for("while away")
        else:
            assert "while away" not in a_inbox.contents, "a fresh session gets no CSR replay (csr profile)"
        await a.disconnect()
        await b.disconnect()


async def test_a_quiet_channel_does_not_make_a_node_deaf(tmp_path: Path) -> None:
    """redis-py 8 gives every connection a 5 s socket timeout; in 8.0 a subscription's blocking read used it
    too, so the listener timed out whenever the channel was quiet that long and python-socketio
    resubscribed only after a 1 s sleep, deaf meanwhile (pyproject.toml excludes 8.0). 8.1 reads a
    subscription without a timeout; this keeps it so."""
    async with two_nodes(tmp_path) as (urls, _):
        a, _ = await _client(urls[0])
        b, inbox = await _client(urls[1])
        await asyncio.sleep(5.5)  # the quiet itself is what is tested: no event stands for it
        await a.emit("chat message", "after the quiet")
        await inbox.wait_for("after the quiet", timeout=3)
        await a.disconnect()
        await b.disconnect()


async def test_the_feed_sends_every_row_once_in_id_order_whichever_node_stored_it(tmp_path: Path) -> None:
    """With AsyncRedisManager a node's own rows overtake the other node's (docs/multinode.md); the feed
    sends each node's sockets the table in id order."""
    async with two_nodes(tmp_path, profile="exactly-once") as (urls, _):
        (a, a_inbox), (b, b_inbox) = await _client(urls[0]), await _client(urls[1])
        sends = [client.call("chat message", (f"{name}{i}", f"{name}-{i}"), timeout=10)
                 for i in range(15) for client, name in ((a, "a"), (b, "b"))]
        await asyncio.gather(*sends)
        for inbox in (a_inbox, b_inbox):
            for i in range(15):
                await inbox.wait_for(f"a{i}")
                await inbox.wait_for(f"b{i}")
            assert inbox.offsets == sorted(set(inbox.offsets)) and len(inbox.offsets) == 30, inbox.offsets
        await a.disconnect()
        await b.disconnect()


async def test_a_row_whose_node_died_before_announcing_it_still_reaches_every_node(tmp_path: Path) -> None:
    """A row committed with no wake-up at all (its node killed between the commit and the publish) is sent
    by every node at its next poll."""
    async with two_nodes(tmp_path, profile="exactly-once") as (urls, _):
        (a, a_inbox), (b, b_inbox) = await _client(urls[0]), await _client(urls[1])
        with closing(sqlite3.connect(tmp_path / "chat.db", isolation_level=None)) as db:
            db.execute("INSERT INTO messages (content, client_offset) VALUES ('orphan', 'x-0')")
        await a_inbox.wait_for("orphan", timeout=3)
        await b_inbox.wait_for("orphan", timeout=3)
        await a.disconnect()
        await b.disconnect()


async def test_a_client_holding_a_row_this_node_has_not_sent_yet_does_not_get_it_again(tmp_path: Path) -> None:
    """A client failing over may hold a row its old node sent and this node's feed has not read yet (the
    old node died before announcing it): the connect catches the feed up first, so neither the replay
    nor the feed sends that row again. The next row comes after it in id order, so its arrival shows
    the first one was not sent."""
    async with two_nodes(tmp_path, profile="exactly-once") as (urls, _):
        sender, _ = await _client(urls[1])
        with closing(sqlite3.connect(tmp_path / "chat.db", isolation_level=None)) as db:
            db.execute("INSERT INTO messages (content, client_offset) VALUES ('held', 'x-0')")
        client = RecoveringAsyncClient(reconnection=False)
        inbox = Inbox(client)
        await client.connect(urls[0], transports=["websocket"], auth={"serverOffset": 1})
        await sender.call("chat message", ("next", "s-0"), timeout=10)
        await inbox.wait_for("next")
        assert inbox.contents == ["next"]
        await client.disconnect()
        await sender.disconnect()
