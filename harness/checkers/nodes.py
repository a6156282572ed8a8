"""Delivery per server node: which node each client was on, what it missed there, how fast clients came back.

A pure function over a multi-node run's history and its verdict (docs/multinode.md). A client's node
at time t is the `node` of its latest `connect` before t (the harness's balancer writes it there); a
message a client missed is charged to the node that client was on when the message was sent, so a
deaf node (it hears no other node) shows as missed deliveries on its own clients only. For each fault
on a node or on Redis, the recovery time is from the fault's start until every client whose
connection ended after it is connected again.

Histories without `node` on their connects (one server) give None.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.checkers.verdict import Verdict

NODE_FAULTS = ("node_crash", "node_restart", "node_pause", "redis_outage", "redis_restart", "deaf_node")


@dataclass
class NodeDelivery:
    """One node: the client lineages that were ever on it, their connects there, what they missed there."""

    clients: list[str] = field(default_factory=list)
    connects: int = 0
    missed: int = 0
    missed_by_client: dict[str, int] = field(default_factory=dict)


@dataclass
class FaultRecovery:
    """One node or Redis fault and how long its clients took to be connected again."""

    kind: str
    target: str
    started_ms: float
    """From the run's first event."""
    healed_ms: float | None
    disconnected: list[str]
    """Lineages whose connection ended between the fault's start and its heal."""
    recovered_ms: float | None
    """From the fault's start until the last of `disconnected` connected again; None when one never did
    or nobody was disconnected."""


@dataclass
class NodeReport:
    nodes: dict[str, NodeDelivery]
    faults: list[FaultRecovery]
    unplaced: int = 0
    """Missed deliveries of a client that had not connected anywhere yet when the message was sent."""

    def to_dict(self) -> dict[str, Any]:
        return {"nodes": {n: vars(d) for n, d in self.nodes.items()},
                "faults": [vars(f) for f in self.faults], "unplaced": self.unplaced}


def per_node(events: Iterable[Mapping[str, Any]], verdict: Verdict) -> NodeReport | None:
    """The per-node breakdown of a run, or None when its history names no node."""
    placements: dict[str, tuple[list[int], list[str]]] = {}
    sent_at: dict[str, int] = {}
    nodes: dict[str, NodeDelivery] = {}
    faults: list[dict[str, Any]] = []
    disconnects: list[tuple[int, str]] = []
    connects: list[tuple[int, str]] = []
    t0: int | None = None
    for e in events:
        t = e.get("t")
        if not isinstance(t, int):
            continue
        t0 = t if t0 is None else t0
        proc, f, ty, v = str(e.get("proc")), e.get("f"), e.get("type"), e.get("value") or {}
        if f == "connect" and ty == "ok":
            connects.append((t, proc))
            node = v.get("node")
            if isinstance(node, str):
                times, names = placements.setdefault(proc, ([], []))
                times.append(t)
                names.append(node)
                delivery = nodes.setdefault(node, NodeDelivery())
                delivery.connects += 1
                if proc not in delivery.clients:
                    delivery.clients.append(proc)
        elif f == "disconnect" or (f == "connect" and ty == "fail"):
            disconnects.append((t, proc))
        elif f == "send" and ty == "invoke" and isinstance(v.get("id"), str):
            sent_at.setdefault(v["id"], t)
        elif f in ("fault", "heal") and v.get("fault") in NODE_FAULTS:
            faults.append({"f": f, "t": t, **v})
    if not nodes or t0 is None:
        return None
    report = NodeReport(nodes=dict(sorted(nodes.items())), faults=_recoveries(faults, disconnects, connects, t0))
    for proc, per in verdict.server_to_client.items():
        for mid in per.get("missed", []):
            node = _node_at(placements.get(proc), sent_at.get(mid))
            if node is None:
                report.unplaced += 1
                continue
            delivery = report.nodes[node]
            delivery.missed += 1
            delivery.missed_by_client[proc] = delivery.missed_by_client.get(proc, 0) + 1
    return report


def _node_at(placement: tuple[list[int], list[str]] | None, t: int | None) -> str | None:
    if placement is None or t is None:
        return None
    times, names = placement
    i = bisect.bisect_right(times, t) - 1
    return names[i] if i >= 0 else None


def _recoveries(faults: list[dict[str, Any]], disconnects: list[tuple[int, str]],
                connects: list[tuple[int, str]], t0: int) -> list[FaultRecovery]:
    out = []
    starts = [f for f in faults if f["f"] == "fault"]
    for start in starts:
        heal = next((h for h in faults if h["f"] == "heal" and h.get("index") == start.get("index")
                     and h["t"] >= start["t"]), None)
        until = heal["t"] if heal else None
        cut = sorted({p for t, p in disconnects if t >= start["t"] and (until is None or t <= until)})
        back = []
        for proc in cut:
            first_cut = min(t for t, p in disconnects if p == proc and t >= start["t"])
            again = [t for t, p in connects if p == proc and t > first_cut]
            back.append(min(again) if again else None)
        recovered = None if not cut or None in back else (max(b for b in back if b is not None) - start["t"]) / 1e6
        out.append(FaultRecovery(kind=str(start.get("fault")), target=str(start.get("target")),
                                 started_ms=(start["t"] - t0) / 1e6,
                                 healed_ms=(until - t0) / 1e6 if until is not None else None,
                                 disconnected=cut, recovered_ms=recovered))
    return out
