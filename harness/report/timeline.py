"""The run's timeline as an inline SVG: one lane per client lineage, the server, the database, the proxy.

Built from one pass over the saved history. Up to `MARK_LIMIT` sends, acks and receipts are drawn one
by one; beyond that each lane shows them aggregated into time buckets (darker = more), and the page says
so. Faults are shaded from start to heal; offending messages are drawn on top in every mode, so a lost
or missed message is never hidden by aggregation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html import escape
from typing import Any

from harness.checkers.verdict import CLIENT_TO_SERVER, Verdict
from harness.faults import KINDS

MARK_LIMIT = 4000
BUCKETS = 240
SHADES = 5
WIDTH, LABEL_W, LANE_H, AXIS_H = 1200, 120, 30, 26
_CLIENT = re.compile(r"^c\d+(?:\.\d+)?$")
SERVER, DATABASE, PROXY = "server", "database", "proxy / nemesis"
_KINDS = ("send", "ack", "recv")
ANOMALY_STYLE = {
    "lost": "#d62728", "abandoned": "#ff7f0e", "duplicated": "#9467bd", "unexpected": "#8c564b",
    "recovered": "#7f7f7f", "reordered": "#e377c2", "missed": "#d62728", "redelivered": "#9467bd",
    "out_of_order": "#e377c2", "phantom": "#8c564b",
}


@dataclass
class Lane:
    name: str
    marks: list[tuple[int, str]] = field(default_factory=list)
    buckets: dict[str, list[int]] = field(default_factory=dict)
    connected: list[tuple[int, int | None]] = field(default_factory=list)
    anomalies: list[tuple[int, str, str]] = field(default_factory=list)  # t, category, message id
    notes: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class Timeline:
    t0: int
    t1: int
    lanes: dict[str, Lane]
    faults: list[tuple[int, int | None, str, str]]  # start, heal, kind, target
    aggregated: bool
    events: int
    rows: int


def build(events: Iterable[Mapping[str, Any]], verdict: Verdict) -> Timeline:
    """Read the history once into lanes, marks (or buckets), connection spans, faults and anomalies."""
    lanes: dict[str, Lane] = {name: Lane(name) for name in (PROXY, SERVER, DATABASE)}
    c2s_flags = {mid: cat for cat in CLIENT_TO_SERVER if cat != "recovered"
                 for mid in verdict.client_to_server.get(cat, [])}
    s2c_flags = {(proc, mid): cat for proc, per in verdict.server_to_client.items()
                 for cat, ids in per.items() if cat != "missed" for mid in ids}
    missed = {mid: [proc for proc, per in verdict.server_to_client.items() if mid in per["missed"]]
              for per in verdict.server_to_client.values() for mid in per.get("missed", [])}
    open_faults: dict[tuple[str, str], list[int]] = {}
    faults: list[tuple[int, int | None, str, str]] = []
    t0: int | None = None
    t1 = 0
    span = max(int(verdict.duration_ms * 1e6), 1)
    width = span / BUCKETS
    total = 0
    aggregated = False
    count = 0
    for e in events:
        count += 1
        t = e.get("t")
        if not isinstance(t, int):
            continue
        if t0 is None:
            t0 = t
        t1 = max(t1, t)
        proc, f, ty = str(e.get("proc")), e.get("f"), e.get("type")
        v = e.get("value") or {}
        if f in ("fault", "heal"):
            key = (str(v.get("fault")), str(v.get("target")))
            if f == "fault":
                open_faults.setdefault(key, []).append(t)
            else:
                starts = open_faults.get(key)
                faults.append((starts.pop(0) if starts else t, t, key[0], key[1]))
            lanes[PROXY].notes.append((t, f"{f}: {key[0]} {key[1]}"))
            continue
        if proc == "server":
            lanes[SERVER].notes.append((t, str(f)))
            continue
        if not _CLIENT.match(proc):
            continue
        lane = lanes.get(proc) or lanes.setdefault(proc, Lane(proc))
        kind = None
        if f == "send":
            kind = "send" if ty == "invoke" else "ack" if ty == "ok" else None
            mid = v.get("id")
            if ty == "invoke" and mid in c2s_flags:
                lane.anomalies.append((t, c2s_flags[mid], str(mid)))
            if ty == "invoke" and mid in missed:
                for receiver in missed[mid]:
                    lanes.setdefault(receiver, Lane(receiver)).anomalies.append((t, "missed", str(mid)))
        elif f == "recv":
            kind = "recv"
            flag = s2c_flags.get((proc, str(v.get("id"))))
            if flag:
                lane.anomalies.append((t, flag, str(v.get("id"))))
        elif f == "connect" and ty == "ok":
            if not lane.connected or lane.connected[-1][1] is not None:
                lane.connected.append((t, None))
        elif f in ("disconnect", "refresh", "end") and lane.connected and lane.connected[-1][1] is None:
            if f != "end" or not v.get("connected"):
                lane.connected[-1] = (lane.connected[-1][0], t)
        if kind is None:
            continue
        slot = min(BUCKETS - 1, int((t - t0) / width))
        lane.buckets.setdefault(kind, [0] * BUCKETS)[slot] += 1
        if not aggregated:
            lane.marks.append((t, kind))
            total += 1
            if total > MARK_LIMIT:
                aggregated = True
                for each in lanes.values():
                    each.marks.clear()
    for (kind, target), starts in open_faults.items():
        faults.extend((start, None, kind, target) for start in starts)
    return Timeline(t0=t0 or 0, t1=max(t1, (t0 or 0) + 1), lanes=_ordered(lanes), faults=faults,
                    aggregated=aggregated, events=count, rows=verdict.rows)


def _ordered(lanes: dict[str, Lane]) -> dict[str, Lane]:
    def key(name: str) -> tuple[int, ...]:
        if not _CLIENT.match(name):
            return (-1, (PROXY, SERVER, DATABASE).index(name))
        parts = name[1:].split(".")
        return (int(parts[0]), int(parts[1]) if len(parts) > 1 else -1)
    return {name: lanes[name] for name in sorted(lanes, key=key)}


def svg(tl: Timeline) -> str:
    """The timeline as an inline SVG element (no script, every label escaped)."""
    names = list(tl.lanes)
    height = AXIS_H + LANE_H * len(names) + 8
    plot_w = WIDTH - LABEL_W - 10
    span = tl.t1 - tl.t0

    def x(t: int) -> float:
        return LABEL_W + (t - tl.t0) / span * plot_w

    out = [f'<svg class="timeline" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
           f'aria-label="timeline" xmlns="http://www.w3.org/2000/svg">']
    for i in range(0, 11):
        t = tl.t0 + span * i // 10
        out.append(f'<line x1="{x(t):.1f}" y1="{AXIS_H - 6}" x2="{x(t):.1f}" y2="{height}" class="grid"/>'
                   f'<text x="{x(t):.1f}" y="{AXIS_H - 10}" class="axis">{(t - tl.t0) / 1e9:.2f} s</text>')
    row = {name: AXIS_H + i * LANE_H for i, name in enumerate(names)}
    for i, name in enumerate(names):
        y = row[name]
        out.append(f'<rect x="0" y="{y}" width="{WIDTH}" height="{LANE_H}" class="lane{i % 2}"/>'
                   f'<text x="6" y="{y + LANE_H / 2 + 4}" class="lanelabel">{escape(name)}</text>')
        if name == DATABASE:
            out.append(f'<text x="{WIDTH - 12}" y="{y + LANE_H / 2 + 4}" class="axis" '
                       f'text-anchor="end">{tl.rows:,} rows at the end</text>')
    for start, heal, kind, target in tl.faults:
        x0, x1 = x(start), x(heal if heal is not None else tl.t1)
        label = escape(f"{kind} on {target}" + ("" if heal is not None else " (never healed)"))
        out.append(f'<rect x="{x0:.1f}" y="{AXIS_H}" width="{max(x1 - x0, 2):.1f}" '
                   f'height="{height - AXIS_H}" class="fault"><title>{label}</title></rect>')
        for name in _fault_lanes(kind, target, names):
            out.append(f'<rect x="{x0:.1f}" y="{row[name] + 2}" width="{max(x1 - x0, 2):.1f}" '
                       f'height="{LANE_H - 4}" class="faulthit"><title>{label}</title></rect>')
    for name, lane in tl.lanes.items():
        y = row[name]
        for start, stop in lane.connected:
            x1 = x(stop if stop is not None else tl.t1)
            out.append(f'<line x1="{x(start):.1f}" y1="{y + LANE_H - 4}" x2="{x1:.1f}" '
                       f'y2="{y + LANE_H - 4}" class="conn"/>')
        if tl.aggregated:
            out.extend(_buckets(lane, y, plot_w))
        else:
            for t, kind in lane.marks:
                out.append(_mark(kind, x(t), y))
        for t, note in lane.notes:
            out.append(f'<path d="M{x(t):.1f} {y + 4} l4 8 l-8 0 z" class="note">'
                       f'<title>{escape(note)} at {(t - tl.t0) / 1e9:.3f} s</title></path>')
        for t, category, mid in lane.anomalies:
            colour = ANOMALY_STYLE.get(category, "#d62728")
            out.append(f'<circle cx="{x(t):.1f}" cy="{y + LANE_H / 2}" r="5" fill="none" '
                       f'stroke="{colour}" stroke-width="2.5"><title>{escape(category)}: '
                       f'{escape(mid)} at {(t - tl.t0) / 1e9:.3f} s</title></circle>')
    out.append("</svg>")
    return "".join(out)


def _fault_lanes(kind: str, target: str, names: list[str]) -> list[str]:
    """The lanes a fault is shaded on: its kind's (a kind this version does not know: by its target)."""
    known = KINDS.get(kind)
    lane = known.lane if known else "server" if target == "server" else "client"
    if lane == "database":
        return [DATABASE]
    if lane == "server":
        return [SERVER]
    slot = target.split(".", 1)[0]
    hits = [name for name in names if name.split(".", 1)[0] == slot and _CLIENT.match(name)]
    return hits or [PROXY]


def _mark(kind: str, x: float, y: int) -> str:
    if kind == "send":
        return f'<line x1="{x:.1f}" y1="{y + 4}" x2="{x:.1f}" y2="{y + 12}" class="send"/>'
    if kind == "ack":
        return f'<line x1="{x:.1f}" y1="{y + 10}" x2="{x:.1f}" y2="{y + 18}" class="ack"/>'
    return f'<circle cx="{x:.1f}" cy="{y + 21}" r="1.6" class="recv"/>'


def _buckets(lane: Lane, y: int, plot_w: float) -> list[str]:
    """Each band as a few paths, one per shade: the page stays small however long the run."""
    out = []
    step = plot_w / BUCKETS
    for band, kind in enumerate(_KINDS):
        counts = lane.buckets.get(kind)
        if not counts:
            continue
        peak = max(counts)
        shades: dict[int, list[str]] = {}
        for i, n in enumerate(counts):
            if n:
                level = min(SHADES - 1, n * SHADES // (peak + 1))
                shades.setdefault(level, []).append(
                    f"M{LABEL_W + i * step:.1f} {y + 3 + band * 8}h{step + 0.3:.1f}v7h-{step + 0.3:.1f}z")
        for level, parts in sorted(shades.items()):
            out.append(f'<path d="{"".join(parts)}" class="{kind}agg" '
                       f'fill-opacity="{0.2 + 0.8 * (level + 1) / SHADES:.2f}"/>')
    return out
