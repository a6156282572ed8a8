"""The exactly-once profile's broadcast on several nodes (reference_server/feed.py), over a real database
written by other connections, as other nodes would write it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from server_support import db_url

from reference_server.feed import RowFeed
from reference_server.storage import DuplicateOffset, SQLiteStorage, Storage, open_storage

__all__ = ["db_url"]


class Sent:
    def __init__(self) -> None:
        self.rows: list[tuple[int, str]] = []
        self.changed = asyncio.Event()

    async def send(self, row_id: int, content: str) -> None:
        self.rows.append((row_id, content))
        self.changed.set()

    async def wait_for(self, count: int) -> None:
        while len(self.rows) < count:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), 5)


async def _storages(tmp_path: Path) -> tuple[SQLiteStorage, SQLiteStorage]:
    mine, other = (SQLiteStorage(tmp_path / "chat.db", busy_timeout=1) for _ in range(2))
    await mine.open()
    await other.open()
    return mine, other


async def test_rows_stored_elsewhere_are_sent_once_in_id_order_and_history_is_not(tmp_path: Path) -> None:
    mine, other = await _storages(tmp_path)
    await other.insert("history", None)
    sent = Sent()
    feed = RowFeed(mine, sent.send, asyncio.Lock(), poll=60)
    await feed.start()
    try:
        for i in range(5):
            await other.insert(f"m{i}", None)
        feed.wake()
        await sent.wait_for(5)
        await other.insert("m5", None)
        feed.wake()
        await sent.wait_for(6)
        assert sent.rows == [(i + 2, f"m{i}") for i in range(6)]
        assert feed.sent == 7
    finally:
        await feed.stop()
        await mine.close()
        await other.close()


async def test_a_row_nobody_announces_is_sent_at_the_next_poll(tmp_path: Path) -> None:
    mine, other = await _storages(tmp_path)
    sent = Sent()
    feed = RowFeed(mine, sent.send, asyncio.Lock(), poll=0.05)
    await feed.start()
    try:
        await other.insert("unannounced", None)
        await sent.wait_for(1)
        assert sent.rows == [(1, "unannounced")]
    finally:
        await feed.stop()
        await mine.close()
        await other.close()



async def test_rows_inserted_at_once_by_two_nodes_are_all_sent_in_order_while_the_feed_reads(db_url: str) -> None:
    """Ids in commit order (`commit_order`): a feed reading while two connections insert never sees id N+1
    before id N, so it skips none. On PostgreSQL without it, two inserts can draw 10 and 11 and commit 11
    first; a read between the two commits moves past 10 for good."""
    writers = [open_storage(db_url, busy_timeout=5, commit_order=True) for _ in range(2)]
    reader = open_storage(db_url, busy_timeout=5, commit_order=True)
    for storage in (*writers, reader):
        await storage.open()
    sent = Sent()
    feed = RowFeed(reader, sent.send, asyncio.Lock(), poll=0.001)
    await feed.start()
    try:
        async def write(storage: Storage, name: str) -> None:
            for i in range(40):
                await storage.insert(f"{name}{i}", f"{name}-{i}")

        await asyncio.gather(write(writers[0], "a"), write(writers[1], "b"))
        feed.wake()
        await sent.wait_for(80)
        ids = [row_id for row_id, _ in sent.rows]
        assert ids == sorted(set(ids)) and len(ids) == 80
        with pytest.raises(DuplicateOffset):
            await writers[1].insert("again", "a-0")
    finally:
        await feed.stop()
        for storage in (*writers, reader):
            await storage.close()
