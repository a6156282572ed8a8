"""Connection state recovery (CSR) for a python-socketio `AsyncServer`, wire-compatible with socket.io 4.8.

python-socketio has no CSR; the official JS client expects the socket.io 4.8 server's behaviour:

- the CONNECT reply carries a private session id: `40{"sid":"..","pid":".."}`;
- every stored EVENT gets an offset appended as its LAST argument (`42["chat message","hi",7,"PXmE3Ft"]`);
  events that ask for an ack, and volatile emits (`emit_volatile`), are neither stored nor offset;
- when the engine connection drops (transport close/error, ping timeout, forced close), the socket's
  sid, pid, rooms and session data are kept for `max_disconnection_duration` seconds;
- a CONNECT whose auth holds string `pid` and `offset` of a kept session gets the SAME sid, its rooms and
  data back, and every stored event after `offset` that was meant for it, sent BEFORE the CONNECT reply;
  anything else (unknown pid, expired session, offset no longer held) silently gets a fresh session.

Everything lives in this process's memory: a restart loses every session (the tutorial's own caveat).
Memory is bounded: per namespace at most `max_packets` stored events, none older than
`max_disconnection_duration`; at most `max_sessions` kept sessions, none older than that either.
Pruning is done on every store, persist and restore, so the bound holds without a timer.

Hook points, chosen to change as little of python-socketio as possible:

- the client manager is replaced by `RecoveryManager` (a plain `AsyncManager` subclass): it owns the
  packet log, the sessions and the sid -> pid table, and offsets every broadcast in `emit`;
- the engine's `disconnect` handler is re-registered through engineio's public `on()`, so the session is
  saved before python-socketio forgets the socket; only engine-level drops pass there, so a client's
  namespace DISCONNECT (`socket.disconnect()`) and a server `sio.disconnect(sid)` are never saved;
- two methods are replaced on the server *instance* (not its class), because the server object is
  built by the application before `install_recovery` sees it: `_handle_connect` (restore before the
  normal connect path, strip `pid`/`offset` from the auth) and `_send_packet` (add `pid` to CONNECT
  replies, which python-socketio builds inline as `{"sid": sid}`).
"""

from __future__ import annotations

import itertools
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import socketio
from socketio import packet

DEFAULT_MAX_PACKETS = 10_000
"""Stored events kept per namespace, whatever their age."""

DEFAULT_MAX_SESSIONS = 10_000
"""Disconnected sessions kept, whatever their age."""

RESERVED_AUTH_KEYS = ("pid", "offset")
"""Keys socket.io-client merges into the CONNECT auth; removed before the app's connect handler sees it."""

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_"


def _encode(number: int) -> str:
    digits = ""
    while True:
        digits = _ALPHABET[number % 64] + digits
        number //= 64
        if number == 0:
            return digits


class OffsetGenerator:
    """Offsets shaped like socket.io's `yeast()`: a base-64 millisecond timestamp, `.N` for repeats.

    Never goes backwards, even if the wall clock does, so offsets stay unique within the process.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._last_ms = 0
        self._repeat = 0

    def __call__(self) -> str:
        ms = max(int(self._clock() * 1000), self._last_ms)
        if ms != self._last_ms:
            self._last_ms, self._repeat = ms, 0
            return _encode(ms)
        offset = f"{_encode(ms)}.{_encode(self._repeat)}"
        self._repeat += 1
        return offset


@dataclass(frozen=True, slots=True)
class StoredPacket:
    """One offset EVENT as socket.io's SessionAwareAdapter keeps it."""

    seq: int
    offset: str
    emitted_at: float
    rooms: frozenset[str] | None
    """None: everyone in the namespace (socket.io's empty `rooms` set)."""
    excluded: frozenset[str]
    data: list[Any]
    """`[event, *args, offset]`, exactly what went on the wire."""

    def is_for(self, session_rooms: frozenset[str]) -> bool:
        """socket.io's `shouldIncludePacket`: addressed to one of the rooms, excluded from none."""
        if self.rooms is not None and not (self.rooms & session_rooms):
            return False
        return not (self.excluded & session_rooms)


class PacketLog:
    """The stored EVENTs of one namespace, oldest first, with O(1) lookup of an offset."""

    def __init__(self) -> None:
        self._packets: deque[StoredPacket] = deque()
        self._seq_of: dict[str, int] = {}
        self._next_seq = 0

    def __len__(self) -> int:
        return len(self._packets)

    def __iter__(self) -> Iterator[StoredPacket]:
        return iter(self._packets)

    def append(self, offset: str, emitted_at: float, rooms: frozenset[str] | None,
               excluded: frozenset[str], data: list[Any]) -> None:
        self._packets.append(StoredPacket(self._next_seq, offset, emitted_at, rooms, excluded, data))
        self._seq_of[offset] = self._next_seq
        self._next_seq += 1

    def prune(self, now: float, max_age: float, max_count: int) -> None:
        while self._packets and (len(self._packets) > max_count
                                 or now - self._packets[0].emitted_at > max_age):
            del self._seq_of[self._packets.popleft().offset]

    def after(self, offset: str) -> Iterator[StoredPacket] | None:
        """The packets stored after `offset`, or None when `offset` is not (or no longer) held."""
        seq = self._seq_of.get(offset)
        if seq is None:
            return None
        return itertools.islice(self._packets, seq - self._packets[0].seq + 1, None)


@dataclass(slots=True)
class Session:
    """What a dropped socket leaves behind: enough to give it back under the same sid."""

    sid: str
    pid: str
    namespace: str
    rooms: list[str]
    data: Any
    """The socket's python-socketio user session (`sio.session(sid)`), socket.io's `socket.data`."""
    disconnected_at: float
    tail: tuple[str, ...] = ()
    """The last offsets of its node's log when it dropped, in that node's order; set only where
    sessions move between nodes (reference_server.cluster), whose logs order events differently."""


def _args_of(data: Any) -> list[Any]:
    """python-socketio's emit convention: a tuple is several arguments, None is none, else one."""
    if isinstance(data, tuple):
        return list(data)
    if data is None:
        return []
    return [data]


def _rooms_of(target: Any) -> frozenset[str] | None:
    if not target:
        return None
    if isinstance(target, str):
        return frozenset([target])
    return frozenset(target)


def _excluded_of(skip_sid: Any) -> frozenset[str]:
    if skip_sid is None:
        return frozenset()
    if isinstance(skip_sid, str):
        return frozenset([skip_sid])
    return frozenset(s for s in skip_sid if s is not None)


class RecoveryManager(socketio.AsyncManager):
    """An in-memory `AsyncManager` that stores and offsets events and keeps dropped sessions."""

    def __init__(self, *, max_disconnection_duration: float, max_packets: int = DEFAULT_MAX_PACKETS,
                 max_sessions: int = DEFAULT_MAX_SESSIONS,
                 clock: Callable[[], float] = time.monotonic, **manager_options: Any) -> None:
        # `manager_options` reach the next manager in the MRO (reference_server.cluster puts a Redis
        # manager there); the plain in-memory manager takes none.
        super().__init__(**manager_options)
        self.max_disconnection_duration = max_disconnection_duration
        self.max_packets = max_packets
        self.max_sessions = max_sessions
        self._clock = clock
        self._next_offset = OffsetGenerator()
        self._logs: dict[str, PacketLog] = {}
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._pids: dict[tuple[str, str], str] = {}
        self._recovered: set[tuple[str, str]] = set()

    # --- queries -------------------------------------------------------------------------------

    def pid_of(self, sid: str, namespace: str) -> str | None:
        return self._pids.get((namespace, sid))

    def is_recovered(self, sid: str, namespace: str) -> bool:
        return (namespace, sid) in self._recovered

    def stats(self) -> dict[str, Any]:
        """Sizes of the recovery state, after pruning what has expired."""
        now = self._clock()
        for log in self._logs.values():
            log.prune(now, self.max_disconnection_duration, self.max_packets)
        self._prune_sessions(now)
        return {"packets": {ns: len(log) for ns, log in self._logs.items()},
                "sessions": len(self._sessions), "live": len(self._pids),
                "max_packets": self.max_packets, "max_sessions": self.max_sessions,
                "max_disconnection_duration": self.max_disconnection_duration}

    # --- outgoing events -----------------------------------------------------------------------

    async def emit(self, event: str, data: Any, namespace: str, room: Any = None, skip_sid: Any = None,
                   callback: Any = None, to: Any = None, volatile: bool = False, offset: str | None = None,
                   **kwargs: Any) -> None:
        """Store and offset the event (unless it asks for an ack or is volatile), then send it.

        It is stored even when nobody is connected: the one client that is away is who it is for.
        `offset` names the event instead of this node's next offset: the same name on every node
        (reference_server.feed), so that a session moves between nodes by it.
        """
        if callback is not None or volatile:
            await super().emit(event, data, namespace, room=room, skip_sid=skip_sid,
                               callback=callback, to=to, **kwargs)
            return
        offset = offset or self._next_offset()
        args = [*_args_of(data), offset]
        log = self._logs.setdefault(namespace, PacketLog())
        now = self._clock()
        log.append(offset, now, _rooms_of(to or room), _excluded_of(skip_sid), [event, *args])
        log.prune(now, self.max_disconnection_duration, self.max_packets)
        # Storing and computing the recipients happen in one synchronous step (the parent computes
        # them before its first await), so a socket being restored gets each event exactly once:
        # either from the log or live.
        await super().emit(event, tuple(args), namespace, room=room, skip_sid=skip_sid, to=to, **kwargs)

    # --- connections ---------------------------------------------------------------------------

    async def pre_connect(self, eio_sid: str, namespace: str) -> str | None:
        restored = self.sid_from_eio_sid(eio_sid, namespace)
        if restored is not None and self.is_pre_connected(restored, namespace) \
                and self.is_recovered(restored, namespace):
            # `restore` already registered this connection under its kept sid.
            return restored
        sid = await super().pre_connect(eio_sid, namespace)
        if sid is not None:
            self._pids[(namespace, sid)] = self.server.eio.generate_id()
        return sid

    async def restore(self, eio_sid: str, namespace: str, pid: str, offset: str) -> str | None:
        """Bring a kept session back on `eio_sid`: the old sid pre-connected, its rooms and data back,
        its missed events sent. Returns the sid, or None for a fresh session (nothing changed).

        A restored session is removed from the store: the next drop saves it again. (socket.io keeps
        it, which would let two connections claim the same sid.)
        """
        now = self._clock()
        self._prune_sessions(now)
        session = self._sessions.get(pid)
        log = self._logs.get(namespace)
        if session is None or session.namespace != namespace or log is None \
                or self.eio_sid_from_sid(session.sid, namespace) is not None \
                or self.sid_from_eio_sid(eio_sid, namespace) is not None:
            return None
        try:
            eio_session = await self.server.eio.get_session(eio_sid)
        except KeyError:
            return None  # the connection closed while its CONNECT was on the way: keep the session
        # From here to the last room joined nothing awaits: no event can be stored in between.
        log.prune(now, self.max_disconnection_duration, self.max_packets)
        after = self.missed_after(log, offset, session)
        if after is None:
            return None
        del self._sessions[pid]
        sid = session.sid
        session_rooms = frozenset([sid, *session.rooms])
        missed = [p.data for p in after if p.is_for(session_rooms)]
        # The same registration as BaseManager.pre_connect, under the kept sid instead of a new one.
        self.basic_enter_room(sid, namespace, None, eio_sid=eio_sid)
        self.basic_enter_room(sid, namespace, sid, eio_sid=eio_sid)
        for name in session.rooms:
            self.basic_enter_room(sid, namespace, name, eio_sid=eio_sid)
        self.pending_connect.setdefault(namespace, []).append(sid)
        self._pids[(namespace, sid)] = pid
        self._recovered.add((namespace, sid))
        if session.data is not None:
            eio_session[namespace] = session.data
        for data in missed:
            await self.server._send_packet(eio_sid, self.server.packet_class(
                packet.EVENT, namespace=namespace, data=data))
        return sid

    def missed_after(self, log: PacketLog, offset: str, session: Session) -> Iterable[StoredPacket] | None:
        """What a session whose last event was `offset` has not had, or None when `offset` is not held."""
        return log.after(offset)

    async def persist(self, eio_sid: str) -> list[Session]:
        """Keep the sessions of every namespace the dropped engine connection `eio_sid` was in; returns them."""
        now = self._clock()
        try:
            eio_session = await self.server.eio.get_session(eio_sid)
        except KeyError:
            eio_session = {}
        kept = []
        for namespace in list(self.get_namespaces()):
            sid = self.sid_from_eio_sid(eio_sid, namespace)
            pid = self.pid_of(sid, namespace) if sid else None
            if pid is None or not self.is_connected(sid, namespace):
                continue
            rooms = [r for r in self.get_rooms(sid, namespace) if r != sid]
            self._sessions.pop(pid, None)
            self._sessions[pid] = session = Session(sid, pid, namespace, rooms, eio_session.get(namespace), now)
            kept.append(session)
        self._prune_sessions(now)
        return kept

    async def disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        await super().disconnect(sid, namespace, **kwargs)
        self._pids.pop((namespace, sid), None)
        self._recovered.discard((namespace, sid))

    def _prune_sessions(self, now: float) -> None:
        # Sessions are ordered by disconnection time (persist re-inserts at the end), so the
        # expired ones are always at the front.
        while self._sessions:
            oldest = next(iter(self._sessions.values()))
            if len(self._sessions) <= self.max_sessions \
                    and now - oldest.disconnected_at <= self.max_disconnection_duration:
                break
            self._sessions.popitem(last=False)


def split_auth(data: Any) -> tuple[Any, str | None, str | None]:
    """(the user's auth without `pid`/`offset`, pid, offset); pid/offset are None unless strings."""
    if not isinstance(data, dict):
        return data, None, None
    pid, offset = data.get("pid"), data.get("offset")
    auth = {k: v for k, v in data.items() if k not in RESERVED_AUTH_KEYS}
    return (auth, pid if isinstance(pid, str) else None, offset if isinstance(offset, str) else None)


def install_recovery(sio: socketio.AsyncServer, *, max_disconnection_duration: float = 120.0,
                     skip_middlewares: bool = True, max_packets: int = DEFAULT_MAX_PACKETS,
                     max_sessions: int = DEFAULT_MAX_SESSIONS, manager: RecoveryManager | None = None) -> None:
    """Turn on connection state recovery on `sio`, before it accepts its first connection.

    `skip_middlewares=True` (socket.io's default): on a successful recovery the app's `connect`
    handler is NOT called (python-socketio has no `io.use()`; the connect handler is where an app
    checks auth). `False`: it is called as usual, `is_recovered(sio, sid)` is True inside it, and
    returning False refuses the recovered connection like any other.
    The auth the connect handler receives never contains `pid` or `offset`.
    `manager` replaces the in-memory RecoveryManager built from the limits (several nodes over Redis:
    reference_server.cluster.SharedRecoveryManager, built with its own limits).
    """
    if type(sio.manager) is not socketio.AsyncManager:
        raise TypeError(f"connection state recovery needs the default in-memory client manager, "
                        f"not {type(sio.manager).__name__}: sessions and the packet log live in this "
                        f"process (install it once, on a server built without client_manager=)")
    if sio.manager.rooms:
        raise RuntimeError("install_recovery() must run before the server accepts connections")
    if max_disconnection_duration <= 0 or max_packets < 1 or max_sessions < 1:
        raise ValueError("max_disconnection_duration must be > 0, max_packets and max_sessions >= 1")

    if manager is None:
        manager = RecoveryManager(max_disconnection_duration=max_disconnection_duration,
                                  max_packets=max_packets, max_sessions=max_sessions)
    sio.manager = manager
    manager.set_server(sio)

    original_connect = sio._handle_connect
    original_send = sio._send_packet
    original_engine_disconnect = sio._handle_eio_disconnect

    async def handle_connect(eio_sid: str, namespace: str | None, data: Any) -> None:
        ns = namespace or "/"
        auth, pid, offset = split_auth(data)
        sid = None
        if pid is not None and offset is not None:
            sid = await manager.restore(eio_sid, ns, pid, offset)
        if sid is not None and skip_middlewares:
            await sio._send_packet(eio_sid, sio.packet_class(packet.CONNECT, {"sid": sid}, namespace=ns))
            await manager.connect(sid, ns)
            return
        await original_connect(eio_sid, namespace, auth)

    async def send_packet(eio_sid: str, pkt: packet.Packet) -> None:
        if pkt.packet_type == packet.CONNECT and isinstance(pkt.data, dict) and "sid" in pkt.data:
            pid = manager.pid_of(pkt.data["sid"], pkt.namespace or "/")
            if pid is not None:
                pkt.data = {**pkt.data, "pid": pid}
        await original_send(eio_sid, pkt)

    async def handle_engine_disconnect(eio_sid: str, reason: str) -> None:
        # Every engine-level reason is one socket.io saves the session for (see docs/recovery.md);
        # namespace-level disconnects never reach this handler.
        await manager.persist(eio_sid)
        await original_engine_disconnect(eio_sid, reason)

    sio._handle_connect = handle_connect
    sio._send_packet = send_packet
    sio.eio.on("disconnect", handle_engine_disconnect)


def is_recovered(sio: socketio.AsyncServer, sid: str, namespace: str = "/") -> bool:
    """True for a socket that connection state recovery restored (same sid, rooms, data, missed events)."""
    manager = sio.manager
    return isinstance(manager, RecoveryManager) and manager.is_recovered(sid, namespace)


def recovery_stats(sio: socketio.AsyncServer) -> dict[str, Any] | None:
    """Sizes of the recovery state (packets per namespace, sessions); None when CSR is not installed."""
    manager = sio.manager
    return manager.stats() if isinstance(manager, RecoveryManager) else None


async def emit_volatile(sio: socketio.AsyncServer, event: str, data: Any = None, *, to: Any = None,
                        skip_sid: Any = None, namespace: str | None = None) -> None:
    """Emit without storing or offsetting (socket.io's `volatile` as far as CSR goes).

    Unlike socket.io it is not dropped when a transport is busy; it is only never replayed. Works with
    or without CSR installed.
    """
    await sio.manager.emit(event, data, namespace or "/", room=to, skip_sid=skip_sid, volatile=True)
