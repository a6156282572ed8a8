"""Fault-window coverage: which protocol windows the faults of a run actually fell into.

A fault schedule says where a fault was *meant* to go; only the history says what the fault met. This
module reads a history (pure: events in, counts out) and, for each fault the nemesis started, asks which
of the message path's windows it hit (docs/explore.md explains each window and its evidence):

- `before-store`: from a send's invoke to the first broadcast of that message;
- `store-to-ack`: from that broadcast to the client's ack (or its last word on the message);
- `offset-replay`: from a reconnect that sent a `serverOffset` (not recovered) to its last receipt of a
  message stored before it;
- `csr-handshake`: a reconnect handshake completing (a `connect ok` after the client's first);
- `offline-buffer`: from a send made while the client was disconnected to its reconnect;
- `server-restart`: from a server (or node) stop or crash to the last client back after that server's
  (node's) next start.

The rows file has no timestamps, so a message's store time is bounded by its first broadcast: the
server broadcasts a row after storing it. A fault hits `before-store` or `store-to-ack` when the moment it
acts (its start, or for a frame fault the moment it dropped its frame) falls inside the window of a
message it can reach; it hits the other windows, which are phases, when the time it is active overlaps.
A fault aimed at a client (`target: cN`) reaches only that client's lineage; a server, database or proxy
fault reaches everyone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from harness.faults import KINDS as FAULT_KINDS
from harness.history import Event, lineage_root, message_id

WINDOWS: dict[str, tuple[str, str]] = {
    "before-store": ("in flight before the server stored it",
                     "no fault fell while a message was in flight before its store: lost sends were not explored"),
    "store-to-ack": ("between store and ack",
                     "no fault fell between store and ack: lost acks were not explored"),
    "offset-replay": ("during the offset replay",
                      "no fault fell during an offset replay: a replay cut short was not explored"),
    "csr-handshake": ("during the reconnect (CSR) handshake",
                      "no fault fell during a reconnect handshake: a broken recovery was not explored"),
    "offline-buffer": ("while a client buffered messages offline",
                       "no fault fell while a client buffered messages offline: the offline buffer was not explored"),
    "server-restart": ("during a server restart with clients reconnecting",
                       "no fault fell during a server restart with clients reconnecting: restarts were not explored"),
}
"""window -> (what it is, the sentence saying it was never hit)"""

Span = tuple[int, int]


@dataclass
class Coverage:
    """Faults started, and how many of them hit each window (one fault may hit several)."""

    faults: int = 0
    windows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(WINDOWS, 0))

    def add(self, other: Coverage) -> Coverage:
        """The sum of two coverages (of two runs, or two searches)."""
        return Coverage(self.faults + other.faults, {w: self.windows.get(w, 0) + other.windows.get(w, 0)
                                                     for w in WINDOWS})

    def missed(self) -> list[str]:
        """The sentences of the windows no fault hit."""
        return [WINDOWS[w][1] for w in WINDOWS if not self.windows.get(w)]

    def to_json(self) -> dict[str, object]:
        return {"faults": self.faults, "windows": dict(self.windows), "missed": self.missed()}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Coverage:
        windows = data.get("windows") or {}
        assert isinstance(windows, dict)
        return cls(int(str(data.get("faults", 0))), {w: int(windows.get(w, 0)) for w in WINDOWS})


@dataclass
class _Fault:
    kind: str
    target: str
    start: int
    end: int | None = None
    acted: int | None = None
    """For a frame fault: when it dropped its frame (its heal says it fired)."""


@dataclass
class _Message:
    lineage: str
    invoke: int
    stored: int | None = None
    settled: int | None = None
    """The ack, or the client's last word on it (gave up, failed)."""


def fault_windows(events: Iterable[Event]) -> Coverage:
    """The coverage of one run's history (any order of events)."""
    faults: dict[object, _Fault] = {}
    messages: dict[str, _Message] = {}
    receipts: dict[str, list[tuple[int, str]]] = {}
    connects: dict[str, list[tuple[int, bool, bool, int]]] = {}
    """proc -> (t, ok, recovered, server_offset)"""
    disconnects: dict[str, list[int]] = {}
    invokes: dict[str, list[int]] = {}
    server: list[tuple[int, str, str]] = []
    """(t, start/stop/crash, node): the node is empty on one server"""
    last = 0
    for e in events:
        t, proc, f, value = e["t"], e["proc"], e["f"], e.get("value") or {}
        last = max(last, t)
        if proc == "nemesis":
            key = value.get("index", len(faults))
            if f == "fault":
                faults[key] = _Fault(value.get("fault", "?"), str(value.get("target", "")), t)
            elif f == "heal" and key in faults:
                faults[key].end = t
                if value.get("fired"):
                    faults[key].acted = t
        elif proc == "server":
            server.append((t, f, str(value.get("node", ""))))
        elif f == "send" and "id" in value:
            msg = messages.setdefault(value["id"], _Message(lineage_root(proc), t))
            if e["type"] == "invoke":
                msg.invoke = t
                invokes.setdefault(proc, []).append(t)
            elif msg.settled is None or e["type"] == "ok":
                msg.settled = t
        elif f == "recv":
            msg_id = value.get("id") or message_id(value.get("content"))
            if msg_id:
                receipts.setdefault(proc, []).append((t, msg_id))
                first = messages.setdefault(msg_id, _Message(lineage_root(msg_id.split(":")[0]), t))
                first.stored = t if first.stored is None else min(first.stored, t)
        elif f == "connect":
            connects.setdefault(proc, []).append((t, e["type"] == "ok", bool(value.get("recovered")),
                                                  int(value.get("server_offset") or 0)))
        elif f == "disconnect":
            disconnects.setdefault(proc, []).append(t)

    spans = _spans(messages, receipts, connects, disconnects, invokes, server, last)
    coverage = Coverage(faults=len(faults))
    for fault in faults.values():
        end = fault.end if fault.end is not None else last
        frame = FAULT_KINDS[fault.kind].needs_frames if fault.kind in FAULT_KINDS else False
        instant = fault.acted if frame else fault.start
        for window, owned in spans.items():
            reach = [span for lineage, span in owned if _reaches(fault.target, lineage)]
            if window in ("before-store", "store-to-ack"):
                hit = instant is not None and any(a <= instant <= b for a, b in reach)
            else:
                hit = any(a <= end and fault.start <= b for a, b in reach)
            coverage.windows[window] += hit
    return coverage


def _reaches(target: str, lineage: str) -> bool:
    return not lineage or not target.startswith("c") or lineage_root(target) == lineage


def _spans(messages: dict[str, _Message], receipts: dict[str, list[tuple[int, str]]],
           connects: dict[str, list[tuple[int, bool, bool, int]]], disconnects: dict[str, list[int]],
           invokes: dict[str, list[int]], server: list[tuple[int, str, str]],
           last: int) -> dict[str, list[tuple[str, Span]]]:
    """Each window's open spans, with the lineage they belong to."""
    spans: dict[str, list[tuple[str, Span]]] = {w: [] for w in WINDOWS}
    for msg in messages.values():
        until = msg.stored if msg.stored is not None else (msg.settled if msg.settled is not None else last)
        spans["before-store"].append((msg.lineage, (msg.invoke, until)))
        if msg.stored is not None and (msg.settled is None or msg.settled > msg.stored):
            spans["store-to-ack"].append((msg.lineage, (msg.stored, msg.settled or last)))
    for proc, seen in connects.items():
        lineage = lineage_root(proc)
        ok = sorted(c for c in seen if c[1])
        for t, _, recovered, offset in ok[1:]:
            spans["csr-handshake"].append((lineage, (t, t)))
            if recovered or not offset:
                continue
            replayed = [r for r, msg_id in receipts.get(proc, ())
                        if r >= t and (messages[msg_id].stored or r) < t]
            if replayed:
                spans["offset-replay"].append((lineage, (t, max(replayed))))
        for gone in disconnects.get(proc, ()):
            back = next((c[0] for c in ok if c[0] > gone), last)
            sent = [i for i in invokes.get(proc, ()) if gone < i < back]
            if sent:
                spans["offline-buffer"].append((lineage, (min(sent), back)))
    server.sort()
    for i, (t, f, node) in enumerate(server):
        if f not in ("stop", "crash") or i == len(server) - 1:
            continue
        up = next((s for s, g, n in server[i + 1:] if g == "start" and n == node), None)
        if up is None:
            continue
        returns = [next((c[0] for c in sorted(seen) if c[1] and c[0] > up), None) for seen in connects.values()]
        returned = [r for r in returns if r is not None]
        if returned:
            spans["server-restart"].append(("", (t, max(returned))))
    return spans
