"""Broadcasts read from the shared database in commit order, with Redis only as the wake-up.

The tutorial's way to scale out (python-socketio's `AsyncRedisManager`) broadcasts each row from the node
that stored it: to its own sockets at once, to the other nodes' a Redis round trip later. Clients then
see rows out of id order, and the tutorial's page keeps the offset of the LAST row it received as
serverOffset, so the replay after a failover repeats or skips rows; and a node killed between its
commit and its publish leaves a committed row that no other node ever broadcasts (docs/multinode.md).

Here every node broadcasts every row itself, to its own sockets only, in id order: after a commit (its
own, or another node's announced on the Redis channel) and every `poll` seconds, it reads the rows
after the last one it broadcast and sends them. Ids are in commit order (SQLite has one writer;
PostgreSQL inserts under one advisory lock, `storage.PostgresStorage`), so a row that becomes visible
later always has a higher id than every row already sent, and each socket sees every row once, in
order, whoever stored it. A lost wake-up (the storing node died before publishing, Redis was away, the
subscription went deaf) delays a row by one poll at most; it never loses it.

With connection state recovery every node offsets a row's broadcast by the row's id (`row_offset`),
so the nodes' packet logs hold the same offsets in the same order and a session restored on another
node is matched exactly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from reference_server.storage import Storage, StorageError

log = logging.getLogger("reference_server")

DEFAULT_POLL = 0.2
"""Seconds between two reads when no wake-up came: the longest a row whose wake-up was lost waits."""


def row_offset(row_id: int) -> str:
    """The CSR offset of a row's broadcast on every node."""
    return f"row:{row_id}"


class RowFeed:
    """This node's broadcast of the shared table, in id order, from where it started.

    `lock` is the chat's ordering lock: a catch-up and a connecting socket's "replay, then join the
    room" never interleave, so a socket gets each row either from its replay (`sent`) or live.
    """

    def __init__(self, storage: Storage, send: Callable[[int, str], Awaitable[None]], lock: asyncio.Lock, *,
                 poll: float = DEFAULT_POLL) -> None:
        self.storage = storage
        self.send = send
        self.lock = lock
        self.poll = poll
        self.sent = 0
        """The highest id broadcast by this node (or stored before it started)."""
        self._poller: asyncio.Task[None] | None = None
        self._woken = asyncio.Event()

    async def start(self) -> None:
        """Start after the rows already stored: those are history, for the replay."""
        self.sent = await self.storage.last_id()
        self._poller = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
            self._poller = None

    def wake(self) -> None:
        """Another node committed a row: read now rather than at the next poll."""
        self._woken.set()

    async def catch_up(self) -> None:
        """Broadcast every row after `sent`, in id order. The caller holds `lock`."""
        try:
            rows = await self.storage.rows_after(self.sent)
        except StorageError as exc:
            # Nothing is skipped: the next wake-up or poll reads from the same place.
            log.warning("reading the rows to broadcast failed: %s", exc)
            return
        for row_id, content in rows:
            await self.send(row_id, content)
            self.sent = row_id

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._woken.wait(), self.poll)
            except TimeoutError:
                pass
            self._woken.clear()
            try:
                async with self.lock:
                    await self.catch_up()
            except Exception:
                # A poller that dies leaves this node's clients deaf with nothing said (python-socketio
                # 1581's failure, here): log it and read again at the next turn.
                log.exception("broadcasting the stored rows failed")
