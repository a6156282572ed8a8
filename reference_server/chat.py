"""The tutorial's chat on python-socketio: the message path and the handshake, per the profile's switches.

Message path (`chat message` with `(content, clientOffset?)`): validate, store, broadcast
`(content, serverOffset)` to everyone, then acknowledge (when `ack` is on) by returning from the handler,
which python-socketio turns into the ACK packet. The ack therefore always follows the commit.

Handshake: the CONNECT goes out first (python-socketio's `always_connect`, as the Node.js server sends it
before its connection handler runs: events sent before a CONNECT wait in socket.io-client's receive buffer,
which outlives a cut, and would be shown again with the next attempt's; docs/findings/
catch-up-before-connect.md). Then the socket joins the broadcast room and, on a connection that was not
recovered by CSR, the rows with `id > auth.serverOffset` are sent to it alone (`replay`), all under the
lock below, so no broadcast comes between.

Ordering: one lock spans "insert + broadcast" and "replay + join the room". Without it two stores could
commit in one order and broadcast in the other (PostgreSQL), and a broadcast could reach a socket between
its replay query and the end of its replay, so it would see that message twice and out of order. The
lock makes the unmutated server clean under the harness's `reordered` and `redelivered` checkers; the
price is one write at a time, which SQLite imposes anyway.

With several nodes, the exactly-once profile broadcasts through a `RowFeed` (reference_server.feed):
a commit only wakes the feed, which sends this node's sockets every row in id order, and the replay
sends what the feed has already sent, so a socket gets each row once, from one or the other.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import socketio

from reference_server.feed import RowFeed
from reference_server.mutants import Mutant
from reference_server.profiles import Switches
from reference_server.storage import DuplicateOffset, Storage, StorageError
from reference_server.validation import BadMessage, RateLimit, parse_message, parse_server_offset

log = logging.getLogger("reference_server")

EVENT = "chat message"
ROOM = "chat"
"""Broadcasts go to this room rather than to the whole namespace: python-socketio counts a socket as
a recipient while its connect handler still runs, before its replay is done."""


class Outcome(enum.Enum):
    STORED = "stored"
    DUPLICATE = "duplicate"
    FAILED = "failed"


class ChatServer:
    """Handlers of one python-socketio AsyncServer, bound to a storage and a set of switches."""

    def __init__(self, sio: socketio.AsyncServer, storage: Storage, switches: Switches, *,
                 mutant: Mutant | None = None, max_content_bytes: int = 64 * 1024,
                 rate_limit: float = 500.0, rate_burst: float = 1000.0,
                 is_recovered: Callable[[str], bool] | None = None, feed: RowFeed | None = None,
                 announce: Callable[[], Awaitable[None]] | None = None) -> None:
        self.sio = sio
        self.storage = storage
        self.switches = switches
        self.mutant = mutant.name if mutant else None
        self.max_content_bytes = max_content_bytes
        self.rate_limit = rate_limit
        self.rate_burst = rate_burst
        self.is_recovered = is_recovered or (lambda sid: False)
        self.feed = feed
        self.announce = announce
        """Tells the other nodes a row was committed (the feed's wake-up); None on one node."""
        self._order = feed.lock if feed is not None else asyncio.Lock()
        self._limits: dict[str, RateLimit] = {}
        self._refused: set[str] = set()
        self._last_id = 0
        self._background: set[asyncio.Task[Outcome]] = set()

    async def start(self) -> None:
        """Register the handlers; reads the last id, which the broadcast-before-commit mutant guesses from."""
        if self.mutant == "broadcast-before-commit":
            self._last_id = await self.storage.last_id()
        self.sio.on("connect", self.on_connect)
        self.sio.on("disconnect", self.on_disconnect)
        self.sio.on(EVENT, self.on_chat_message)
        self._refuse_bad_handshakes()

    def _refuse_bad_handshakes(self) -> None:
        """Refuse a handshake whose `auth.serverOffset` is bad before python-socketio accepts it.

        The server runs with `always_connect` (reference_server.app): its CONNECT goes out before the
        connect handler, so that the catch-up follows it. A refusal from the handler would then be a
        CONNECT and a DISCONNECT; checked here first, it stays a CONNECT_ERROR with its reason, as
        without `always_connect`.
        """
        sio = self.sio
        accept = sio._handle_connect

        async def handle_connect(eio_sid: str, namespace: str | None, data: Any) -> None:
            try:
                parse_server_offset(data)
            except BadMessage as exc:
                await sio._send_packet(eio_sid, sio.packet_class(
                    socketio.packet.CONNECT_ERROR, data={"message": str(exc)}, namespace=namespace))
                return
            await accept(eio_sid, namespace, data)

        sio._handle_connect = handle_connect

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        try:
            offset = parse_server_offset(auth)
        except BadMessage as exc:
            raise socketio.exceptions.ConnectionRefusedError(str(exc)) from None
        async with self._order:
            if self.feed is not None:
                # The client may hold a row this node has not sent yet (its old node sent it, or died
                # before announcing it): caught up first, the replay covers it and the feed will not.
                await self.feed.catch_up()
            # In the room before the catch-up: the CONNECT has gone (always_connect), so a drop from here on
            # saves the session for recovery, and it must hold the room; no broadcast reaches the socket
            # before its catch-up is done, as broadcasts take this lock too.
            try:
                await self.sio.enter_room(sid, ROOM)
            except (KeyError, ValueError):
                log.info("%s left during its handshake", sid)
                return
            if self.switches.replay and self.mutant != "drop-replay" and not self.is_recovered(sid):
                await self._replay(sid, offset)

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        self._limits.pop(sid, None)
        self._refused.discard(sid)

    async def on_chat_message(self, sid: str, *args: Any) -> Any:
        """The return value is the ack's payload; `sio.not_handled` means "send no ack at all"."""
        # Made on first use, not in on_connect: a socket restored by connection state recovery may skip
        # the connect handler (skip_middlewares) and must not skip its limit with it.
        limit = self._limits.get(sid)
        if limit is None and self.rate_limit > 0:
            limit = self._limits[sid] = RateLimit(self.rate_limit, self.rate_burst)
        if limit is not None and not limit.allow():
            if sid not in self._refused:
                self._refused.add(sid)
                # Once per connection: a fire-and-forget client never sees the refusal, so the log is
                # the only trace of it (a flood lost 18,000 messages without one, docs/reliability.md).
                log.warning("%s: over the rate limit (%g/s, bursts of %g); refusing its messages until it "
                            "slows down", sid, self.rate_limit, self.rate_burst)
            return {"error": f"rate limit exceeded: at most {self.rate_limit:g} messages a second "
                             f"(bursts of {self.rate_burst:g})"}
        try:
            message = parse_message(args, self.max_content_bytes)
        except BadMessage as exc:
            return {"error": str(exc)}
        stored_offset = message.client_offset if self.switches.dedupe and self.mutant != "no-dedupe" else None
        if self.mutant == "ack-before-commit":
            task = asyncio.create_task(self._store_and_broadcast(message.content, stored_offset))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            return None
        outcome = await self._store_and_broadcast(message.content, stored_offset)
        if outcome is Outcome.STORED and self.announce is not None:
            await self.announce()
        return self._ack(outcome)

    def _ack(self, outcome: Outcome) -> Any:
        if not self.switches.ack:
            return self.sio.not_handled
        if outcome is Outcome.FAILED and self.mutant != "ack-on-db-error":
            # The tutorial's "nothing to do, just let the client retry".
            return self.sio.not_handled
        return None

    async def _store_and_broadcast(self, content: str, client_offset: str | None) -> Outcome:
        async with self._order:
            if self.mutant == "broadcast-before-commit":
                await self._broadcast(content, self._last_id + 1)
            try:
                row_id = await self.storage.insert(content, client_offset)
            except DuplicateOffset:
                return Outcome.DUPLICATE
            except StorageError as exc:
                # baseline and server-delivery drop the event here (the tutorial's "TODO handle the
                # failure"); the acking profiles send no ack, so the client retries.
                log.warning("store failed, message not stored: %s", exc)
                return Outcome.FAILED
            self._last_id = max(self._last_id, row_id)
            if self.feed is not None:
                await self.feed.catch_up()
            elif self.mutant != "broadcast-before-commit":
                await self._broadcast(content, row_id)
            return Outcome.STORED

    async def _broadcast(self, content: str, row_id: int) -> None:
        # Through sio.emit, so connection state recovery can record the packet and its offset.
        await self.sio.emit(EVENT, (content, row_id), to=ROOM)

    async def _replay(self, sid: str, offset: int) -> None:
        after = offset - 1 if self.mutant == "replay-off-by-one" else offset
        try:
            rows = await self.storage.rows_after(after)
        except StorageError as exc:
            # The tutorial's "something went wrong": the socket connects without its catch-up.
            log.warning("replay for %s failed: %s", sid, exc)
            return
        for row_id, content in rows:
            if self.feed is not None and row_id > self.feed.sent:
                break  # the feed sends these once the socket is in the room
            await self.sio.emit(EVENT, (content, row_id), to=sid)
