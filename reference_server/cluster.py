"""Several server processes as one chat: broadcasts shared through Redis, and where sessions are kept.

Each process (a *node*) builds its python-socketio server with `AsyncRedisManager`: an emit is
delivered to this node's sockets at once and published on one Redis channel, and every other node
delivers what it hears on that channel to its own sockets. The database is shared (one SQLite file or
one PostgreSQL database), so rows, ids and the serverOffset replay are the same on every node.

That is the tutorial's way to scale out (`--broadcast pubsub`). With `--broadcast feed` (the default
for the exactly-once profile) no row travels through Redis: a commit publishes only a wake-up
(`NodeRedisManager.announce`), and every node sends the rows from the database itself, in commit order
(reference_server.feed).

Two Redis addresses: `--redis` for publishing (and the session store), `--redis-subscribe` for the
subscription. In production they are the same server; the harness gives each its own proxy link so
that it can cut one node's subscription alone, the failure of python-socketio issue 1581 (one
worker's listener stops, its clients hear nothing from the others, nothing is logged as fatal).

Connection state recovery on several nodes (`--session-store`):

- `memory` (what `install_recovery` does on one node): a dropped session is kept in the memory of the
  node it was on. A client that fails over to another node gets a fresh session; only the serverOffset
  replay from the shared database brings it what it missed.
- `redis`: the session is also written to Redis when the connection drops, and a node that does not
  hold it reads (and removes) it there. Every node stores each broadcast it hears in its own packet log
  under the offset the emitting node gave it, so a client's last offset is known on every node that
  heard it. A SIGKILLed node saves nothing, so after a crash there is nothing to recover anywhere.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import socketio
from redis import asyncio as aioredis

from reference_server.feed import RowFeed
from reference_server.recovery import PacketLog, RecoveryManager, Session, StoredPacket

TAIL = 1000
"""Offsets of the node's log saved with a session: the reorder window between nodes is a Redis round trip,
far fewer events than this."""

SESSION_STORES = ("memory", "redis")


@dataclass(frozen=True)
class RedisSettings:
    """Where this node reaches Redis, and the names it uses there."""

    url: str
    subscribe_url: str
    channel: str = "socketio"
    """The pub/sub channel; the session keys are `<channel>:session:<pid>`."""
    session_store: str = "memory"


WAKE_UP = "rows"
"""The channel message (`method`) by which a node says it committed a row (reference_server.feed)."""


class NodeRedisManager(socketio.AsyncRedisManager):
    """`AsyncRedisManager` with the subscription on its own connection to `subscribe_url`, and the
    feed's wake-up on the same channel."""

    def __init__(self, *, redis_settings: RedisSettings, **options: Any) -> None:
        super().__init__(url=redis_settings.url, channel=redis_settings.channel, **options)
        self.settings = redis_settings
        self.feed: RowFeed | None = None
        """This node's feed when it broadcasts with `--broadcast feed`: woken by the other nodes' commits."""

    async def announce(self) -> None:
        """Wake the other nodes' feeds; python-socketio's publish retries once, then gives up (logged)."""
        await self._publish({"method": WAKE_UP, "host_id": self.host_id})

    async def _listen(self) -> AsyncIterator[Any]:
        async for raw in super()._listen():
            if self.feed is not None and _is_wake_up(raw, self.host_id):
                self.feed.wake()
                continue
            yield raw

    def _redis_connect(self) -> None:
        # python-socketio builds the pubsub from the publishing client; here it has its own client, so
        # its TCP connection is the only one to `subscribe_url`. Everything else is the parent's.
        super()._redis_connect()
        if self.settings.subscribe_url != self.settings.url:
            subscriber = aioredis.Redis.from_url(self.settings.subscribe_url, **self.redis_options)
            self.pubsub = subscriber.pubsub(ignore_subscribe_messages=True)


def _is_wake_up(raw: Any, host_id: str) -> bool:
    try:
        message = json.loads(raw)
    except (TypeError, ValueError):
        return False
    return isinstance(message, dict) and message.get("method") == WAKE_UP and message.get("host_id") != host_id


def _frozen(value: Any) -> frozenset[str]:
    if not value:
        return frozenset()
    return frozenset([value]) if isinstance(value, str) else frozenset(value)


class SharedRecoveryManager(RecoveryManager, NodeRedisManager):
    """Connection state recovery across nodes: offsets shared through the channel, sessions in Redis.

    The emitting node offsets and stores an event (RecoveryManager.emit) and publishes it with the
    offset as its last argument; a node hearing it stores it under that same offset before delivering
    it. With `session_store: redis`, a dropped session is also written to Redis (expiring after
    `max_disconnection_duration`), and `restore` on a node that does not hold it takes it from there.
    """

    async def _handle_emit(self, message: dict[str, Any]) -> None:
        data = message.get("data")
        if message.get("host_id") != self.host_id and message.get("callback") is None \
                and not message.get("binary") and isinstance(data, list) and data and isinstance(data[-1], str):
            namespace = message.get("namespace") or "/"
            log = self._logs.setdefault(namespace, PacketLog())
            now = self._clock()
            log.append(data[-1], now, _frozen(message.get("room")) or None, _frozen(message.get("skip_sid")),
                       [message["event"], *data])
            log.prune(now, self.max_disconnection_duration, self.max_packets)
        await super()._handle_emit(message)

    def _session_key(self, pid: str) -> str:
        return f"{self.settings.channel}:session:{pid}"

    async def persist(self, eio_sid: str) -> list[Session]:
        kept = await super().persist(eio_sid)
        if self.settings.session_store == "redis":
            for session in kept:
                log = self._logs.get(session.namespace)
                session.tail = tuple(p.offset for p in list(log)[-TAIL:]) if log is not None else ()
                await self._save(session)
        return kept

    def missed_after(self, log: PacketLog, offset: str, session: Session) -> Iterable[StoredPacket] | None:
        """On a node the session did not drop on, "after the offset" in this log's order is not what the
        client lacks: the nodes log events in the order they heard them. The session carries its node's
        order (`tail`); the client had everything there up to its offset, and lacks the rest."""
        if not session.tail or offset not in session.tail:
            return super().missed_after(log, offset, session)
        had = set(session.tail[:session.tail.index(offset) + 1])
        window = set(session.tail)
        packets = list(log)
        start = next((i for i, p in enumerate(packets) if p.offset in window), None)
        if start is None:
            return None
        return [p for p in packets[start:] if p.offset not in had]

    async def save_sessions(self) -> None:
        """Write every live session to Redis now (a graceful stop, before its connections close).

        The same session is written again when its connection drops, with the log's tail as it is then.
        """
        if self.settings.session_store != "redis":
            return
        for eio_sid in list(self.server.eio.sockets):
            for session in await self._live_sessions(eio_sid):
                await self._save(session)

    async def _live_sessions(self, eio_sid: str) -> list[Session]:
        now = self._clock()
        try:
            eio_session = await self.server.eio.get_session(eio_sid)
        except KeyError:
            return []
        out = []
        for namespace in list(self.get_namespaces()):
            sid = self.sid_from_eio_sid(eio_sid, namespace)
            pid = self.pid_of(sid, namespace) if sid else None
            if sid is None or pid is None or not self.is_connected(sid, namespace):
                continue
            log = self._logs.get(namespace)
            rooms = [r for r in self.get_rooms(sid, namespace) if r != sid]
            out.append(Session(sid, pid, namespace, rooms, eio_session.get(namespace), now,
                               tuple(p.offset for p in list(log)[-TAIL:]) if log is not None else ()))
        return out

    async def _save(self, session: Session) -> None:
        record = {"sid": session.sid, "namespace": session.namespace, "rooms": session.rooms,
                  "data": session.data, "tail": session.tail}
        try:
            if not self.connected:
                self._redis_connect()
            await self.redis.set(self._session_key(session.pid), json.dumps(record),
                                 px=int(self.max_disconnection_duration * 1000))
        except Exception as exc:  # not saved means a fresh session later, never a failed disconnect
            self._get_logger().warning("session %s not saved in Redis: %s", session.pid, exc)

    async def restore(self, eio_sid: str, namespace: str, pid: str, offset: str) -> str | None:
        if self.settings.session_store == "redis" and pid not in self._sessions:
            await self._load(pid)
        if self.feed is None:
            return await super().restore(eio_sid, namespace, pid, offset)
        # A session from another node may end at a row this node's feed has not read yet; caught up
        # first, that row is in this node's log (and sent from it), never sent again live.
        async with self.feed.lock:
            await self.feed.catch_up()
            return await super().restore(eio_sid, namespace, pid, offset)

    async def _load(self, pid: str) -> None:
        try:
            if not self.connected:
                self._redis_connect()
            raw = await self.redis.getdel(self._session_key(pid))
        except Exception as exc:
            self._get_logger().warning("session %s not read from Redis: %s", pid, exc)
            return
        if raw is None or pid in self._sessions:
            return
        record = json.loads(raw)
        self._sessions[pid] = Session(record["sid"], pid, record["namespace"], list(record["rooms"]),
                                      record["data"], self._clock(), tuple(record.get("tail", ())))


def build_manager(settings: RedisSettings, *, csr: bool, max_disconnection_duration: float) -> Any:
    """The client manager of one node: a RecoveryManager over Redis when CSR is on, else the Redis one."""
    if csr:
        return SharedRecoveryManager(redis_settings=settings, max_disconnection_duration=max_disconnection_duration)
    return NodeRedisManager(redis_settings=settings)
