"""The delivery checker: one pass over a history plus the final rows, to a `Verdict`.

Every category of DESIGN.md section 8 is decided here. They share one pass because a history can hold
millions of events and reading it is the cost that matters; each category's contract is stated on the
function that decides it.

Vocabulary. A *message* is a logical message, named by the id `<proc>:<seq>` that leads its content.
An *attempt* is a `send` `invoke` (or any `send` completion, should the invoke be missing). The outcome of
an attempt is the strongest completion seen: `ok` (acknowledged) over `info` (unknown: it may or may not
have taken effect, as in Jepsen) over `fail` (it certainly never left the client); no completion at all
counts as `info`. A *lineage* is one page's life under one process name (`c1`, then `c1.1` after a
refresh); its *initial offset* is the `server_offset` of its `start` event (else of its first `connect`,
else 0). A *row* is one stored database row; its id is the server offset clients receive.
"""

from __future__ import annotations

import bisect
import re
from array import array
from collections.abc import Iterable, Iterator, Mapping
from itertools import chain
from typing import Any

from harness.checkers.verdict import (
    GUARANTEES,
    Expectations,
    Histogram,
    LatencyStats,
    Recovery,
    Verdict,
)
from harness.history import Event, HistoryError, lineage_root, message_id

_FAIL, _INFO = 1, 2
_GAP = object()  # row_msg entry for a row id with no row: equal to no message id, not even None
_DIGITS = re.compile(r"(\d+)")
_CLIENT = re.compile(r"^c\d+(?:\.\d+)?$")
_HIST_EDGES_MS = [0.0] + [round(0.1 * 2 ** (i / 2), 3) for i in range(0, 37)]  # 0.1 ms .. ~26 s


class _Rows:
    """The final database contents, indexed for the pass: row id -> message id, message -> rows."""

    def __init__(self, rows: Iterable[Mapping[str, Any]]) -> None:
        rows = rows if isinstance(rows, list) else list(rows)
        try:
            ids = [row["id"] for row in rows]
            contents = [row.get("content") for row in rows]
        except (KeyError, TypeError, AttributeError, IndexError) as exc:
            raise HistoryError(f"a row is not an object with an 'id': {exc!r}") from exc
        for rid in ids:
            if type(rid) is not int or rid <= 0:
                raise HistoryError(f"a row id must be a positive integer, got {rid!r}")
        if len(set(ids)) != len(ids):
            raise HistoryError("two rows share an id")
        if ids != sorted(ids):
            order = sorted(range(len(ids)), key=ids.__getitem__)
            ids, contents = [ids[i] for i in order], [contents[i] for i in order]
        mids = list(map(message_id, contents))
        size = (ids[-1] if ids else 0) + 1
        self.count = len(ids)
        self.msg: list[Any] = [_GAP] * size
        # A lineage's receipt counters start as a copy of this: ids with no row are pre-set to 1 so
        # that "never received" is simply a zero byte, found at C speed by bytearray.find.
        self.template = bytearray(b"\x01") * size
        self.sent = [-1] * size  # row id -> send time of its message, filled in during the pass
        msg, template = self.msg, self.template
        for rid, mid in zip(ids, mids):
            msg[rid] = mid
            template[rid] = 0
        # Built backwards so that the smallest row id of each message is the one kept.
        self.first: dict[str, int] = dict(zip(reversed(mids), reversed(ids)))
        self.first.pop(None, None)  # type: ignore[call-overload]
        self.foreign = [rid for rid, mid in zip(ids, mids) if mid is None]
        self.content = {rid: contents[i] for i, rid in enumerate(ids) if mids[i] is None}
        self.extra: dict[str, list[int]] = {}
        if len(self.first) + len(self.foreign) != len(ids):
            for rid, mid in zip(ids, mids):
                if mid is not None and self.first[mid] != rid:
                    self.extra.setdefault(mid, []).append(rid)

    def label(self, rid: int) -> str:
        mid = self.msg[rid]
        return mid if isinstance(mid, str) else f"row:{rid}"

    def stored(self, mid: str) -> int:
        if mid not in self.first:
            return 0
        return 1 + len(self.extra.get(mid, ()))


class _Lineage:
    __slots__ = (
        "acks",
        "connect_offset",
        "connected",
        "deliveries",
        "got",
        "max_off",
        "out_of_order",
        "phantom",
        "proc",
        "redelivered",
        "root",
        "sends",
        "start_offset",
        "start_t",
    )

    def __init__(self, proc: str, template: bytearray, acks: array, deliveries: array) -> None:
        self.proc = proc
        self.root = proc.split(".", 1)[0]
        self.start_offset: int | None = None
        self.connect_offset: int | None = None
        self.start_t = 0  # a message sent before the page opened has no delivery latency to it
        self.got = bytearray(template)
        self.max_off = 0
        self.redelivered: list[int] = []
        self.out_of_order: list[int] = []
        self.phantom: dict[str, None] = {}
        self.sends: list[str] = []
        self.acks = acks
        self.deliveries = deliveries
        self.connected: bool | None = None

    def receive_row(self, rid: int, t: int, sent: int) -> None:
        """Count one receipt of row `rid` (the slow path; `check` inlines the same steps)."""
        got = self.got
        c = got[rid]
        if c == 0:
            got[rid] = 1
            if rid < self.max_off:
                self.out_of_order.append(rid)
            else:
                self.max_off = rid
            if sent >= self.start_t:
                self.deliveries.append(t - sent)
        elif c < 255:
            got[rid] = c + 1
            if c == 1:
                self.redelivered.append(rid)


class _Lineages:
    """proc -> lineage, created on first sight; latency series are per client slot (lineage root)."""

    def __init__(self, template: bytearray) -> None:
        self.by_proc: dict[str, _Lineage] = {}
        self.template = template
        self.acks: dict[str, array] = {}
        self.deliveries: dict[str, array] = {}

    def __getitem__(self, proc: str) -> _Lineage:
        lineage = self.by_proc.get(proc)
        return self.new(proc) if lineage is None else lineage

    def new(self, proc: str) -> _Lineage:
        if not isinstance(proc, str):
            raise HistoryError(f"an event's 'proc' must be a string, got {proc!r}")
        root = proc.split(".", 1)[0]
        acks = self.acks.setdefault(root, array("q"))
        deliveries = self.deliveries.setdefault(root, array("q"))
        lineage = self.by_proc[proc] = _Lineage(proc, self.template, acks, deliveries)
        return lineage


class _Faults:
    """Fault windows and the recoveries awaited after each heal."""

    def __init__(self) -> None:
        self.open: dict[tuple[str, str], list[int]] = {}
        self.recoveries: list[tuple[str, str, int | None, int, list[int | None]]] = []
        self.waiting: dict[str, list[list[int | None]]] = {}

    def fault(self, value: Mapping[str, Any], t: int) -> None:
        key = (str(value.get("fault")), str(value.get("target")))
        self.open.setdefault(key, []).append(t)

    def heal(self, value: Mapping[str, Any], t: int) -> None:
        key = (str(value.get("fault")), str(value.get("target")))
        starts = self.open.get(key)
        started = starts.pop(0) if starts else None
        slot: list[int | None] = [None]
        self.recoveries.append((key[0], key[1], started, t, slot))
        target = lineage_root(key[1]) if _CLIENT.match(key[1]) else "*"
        self.waiting.setdefault(target, []).append([t, slot])  # type: ignore[list-item]

    def progress(self, root: str, t: int) -> None:
        """A client made progress at `t`: every heal waiting on it (or on anyone) has recovered."""
        waiting = self.waiting
        for key in ("*", root):
            pending = waiting.pop(key, None)
            if pending:
                for healed, slot in pending:
                    slot[0] = t - healed


def check(history: Iterable[Event], rows: Iterable[Mapping[str, Any]],
          expected: Expectations | Iterable[str] | None = None) -> Verdict:
    """Judge one run's delivery: every category of DESIGN.md section 8, latencies and recoveries.

    Property: see the category functions below (`_client_to_server`, `_server_to_client`); the verdict
    holds each guarantee of `GUARANTEES` whose categories are all empty, and passes when `expected`
    (default exactly-once) is met.

    Precondition: `history` is in the order it was written (one clock, `t` non-decreasing per process);
    `rows` is the complete final content of `messages`, captured after the last event (after the heal
    and the final sync), so that a message not stored then is not stored at all. Server->client
    categories are only decided for lineages whose `end` event says `connected: true`.

    Complexity: one pass over `history`, O(1) work per event (a few dict operations); memory
    O(messages + rows x lineages) bytes, never O(events): no event is kept after its step. The closing
    phase sorts latencies, O(d log d) for d deliveries. `rows` is read first and fully.
    """
    expectations = Expectations.of(expected)
    store = _Rows(rows)
    row_msg = store.msg
    row_sent = store.sent
    first, extra = store.first, store.extra
    lineages = _Lineages(store.template)
    by_proc = lineages.by_proc
    new_lineage = lineages.new
    faults = _Faults()
    waiting = faults.waiting
    sent_t: dict[str, int] = {}
    acked: set[str] = set()
    outcome: dict[str, int] = {}  # only sends never acknowledged matter here: info beats fail

    events: Iterator[Event] = iter(history)
    first_event = next(events, None)
    if first_event is None:
        return _verdict(expectations, store, lineages, faults, sent_t, acked, outcome, 0, 0, 0)
    t0 = _time(first_event)
    count = 0
    e: Event = first_event
    # A list iterator drops its list once exhausted, so even the first event is not held past its step.
    stream = chain(iter([first_event]), events)
    del first_event
    try:
        for count, e in enumerate(stream, 1):
            f = e["f"]
            if f == "recv":
                # The hot path: a broadcast whose offset names a stored row carrying the same id.
                # Inlined copy of _Lineage.receive_row, because this branch runs for most events;
                # rare shapes (no offset, an offset past the last row) raise and take the slow path.
                v = e["value"]
                off = v["server_offset"]
                try:
                    ln = by_proc[e["proc"]]
                except KeyError:
                    ln = new_lineage(e["proc"])
                try:
                    known = row_msg[off] == v["id"] and off > 0
                except (IndexError, TypeError):
                    known = False
                if known:
                    got = ln.got
                    c = got[off]
                    if c == 0:
                        got[off] = 1
                        if off < ln.max_off:
                            ln.out_of_order.append(off)
                        else:
                            ln.max_off = off
                        ts = row_sent[off]
                        if ts >= ln.start_t:
                            ln.deliveries.append(e["t"] - ts)
                    elif c < 255:
                        got[off] = c + 1
                        if c == 1:
                            ln.redelivered.append(off)
                else:
                    _recv_slow(ln, e, v, store)
                if waiting:
                    faults.progress(ln.root, e["t"])
            elif f == "send":
                v = e["value"]
                mid = v["id"]
                ty = e["type"]
                if ty == "invoke":
                    if mid not in sent_t:
                        t = sent_t[mid] = e["t"]
                        try:
                            by_proc[e["proc"]].sends.append(mid)
                        except KeyError:
                            new_lineage(e["proc"]).sends.append(mid)
                        rid = first.get(mid)
                        if rid is not None:
                            row_sent[rid] = t
                            for rid in extra.get(mid, ()):
                                row_sent[rid] = t
                elif ty == "ok":
                    if mid not in acked:
                        acked.add(mid)
                        ln = lineages[e["proc"]]
                        ts = sent_t.get(mid)
                        if ts is not None:
                            ln.acks.append(e["t"] - ts)
                        if waiting:
                            faults.progress(ln.root, e["t"])
                elif ty == "info":
                    outcome[mid] = _INFO
                elif ty == "fail":
                    if mid not in outcome:
                        outcome[mid] = _FAIL
            else:
                _other(e, f, lineages, faults)
    except (KeyError, TypeError, AttributeError) as exc:
        raise HistoryError(f"history event #{count + 1} is malformed ({exc!r}): {e!r}") from exc
    t_end = _time(e)
    return _verdict(expectations, store, lineages, faults, sent_t, acked, outcome, count, t0, t_end)


def _time(e: Event) -> int:
    t = e.get("t") if isinstance(e, Mapping) else None
    if not isinstance(t, int):
        raise HistoryError(f"a history event has no integer 't': {e!r}")
    return t


def _recv_slow(ln: _Lineage, e: Event, v: Mapping[str, Any], store: _Rows) -> None:
    """A receipt whose offset does not name a row holding its message: find the row, or a phantom."""
    off = v.get("server_offset")
    mid = v.get("id")
    if mid is None:
        mid = message_id(v.get("content"))
    if off is None and isinstance(mid, str) and mid in store.first:
        # No offset travelled (a server that omits it): the message's first copy not yet received.
        rids = [store.first[mid], *store.extra.get(mid, ())]
        rid = next((r for r in rids if ln.got[r] == 0), rids[0])
        ln.receive_row(rid, e["t"], store.sent[rid])
        return
    if isinstance(mid, str):
        ln.phantom[mid] = None
    elif isinstance(off, int):
        ln.phantom[f"offset:{off}"] = None
    else:
        ln.phantom[f"content:{str(v.get('content'))[:60]}"] = None


def _other(e: Event, f: str, lineages: _Lineages, faults: _Faults) -> None:
    """Everything but sends and receipts: lineage starts and ends, connects, faults, heals."""
    v = e.get("value") or {}
    if f == "fault":
        faults.fault(v, e["t"])
    elif f == "heal":
        faults.heal(v, e["t"])
    elif f == "start" and _CLIENT.match(e["proc"]):
        ln = lineages[e["proc"]]
        ln.start_t = e["t"]
        if isinstance(v.get("server_offset"), int):
            ln.start_offset = v["server_offset"]
    elif f == "end" and _CLIENT.match(e["proc"]):
        lineages[e["proc"]].connected = bool(v.get("connected"))
    elif f == "connect" and e["type"] == "ok" and _CLIENT.match(e["proc"]):
        ln = lineages[e["proc"]]
        if ln.connect_offset is None and isinstance(v.get("server_offset"), int):
            ln.connect_offset = v["server_offset"]


def _client_to_server(store: _Rows, lineages: _Lineages, sent_t: Mapping[str, int], acked: set[str],
                      outcome: Mapping[str, int]) -> dict[str, list[str]]:
    """Client -> server categories, per message m, after Jepsen's total-queue.

    - lost: m was acknowledged (`ok`), yet no row holds it.
    - abandoned: m was attempted, never acknowledged (`fail`, `info`, no completion), no row holds it.
    - duplicated: more than one row holds m (whatever its outcome, attempted or not).
    - unexpected: a row holds m, yet m was never attempted or its send definitely failed (`fail`);
      a row carrying no harness id at all is unexpected as `row:<id>`.
    - recovered: m's outcome is unknown (`info` or none), and exactly one row holds it (Jepsen's
      recovered: an indeterminate operation that took effect; never lost).
    - reordered: m was overtaken: a message its sender attempted after m is stored in a row with a
      smaller id than m's first row. Only stored messages take part; the sender is the lineage.

    Precondition: rows are final. Complexity: O(messages + rows), mostly set algebra at C speed.
    """
    first, extra = store.first, store.extra
    stored = first.keys()
    attempted = sent_t.keys() | acked | outcome.keys()
    unacked = attempted - acked
    unexpected = list(stored - attempted)
    recovered = []
    for mid in unacked & stored:
        if outcome.get(mid) == _FAIL:
            unexpected.append(mid)
        elif mid not in extra:
            recovered.append(mid)
    reordered = []
    for ln in lineages.by_proc.values():
        rids = list(map(first.get, ln.sends))
        present = [rid for rid in rids if rid is not None]
        if present == sorted(present):
            continue
        floor = None
        for mid, rid in zip(reversed(ln.sends), reversed(rids)):
            if rid is None:
                continue
            if floor is not None and floor < rid:
                reordered.append(mid)
            else:
                floor = rid
    out = {"lost": list(acked - stored), "abandoned": list(unacked - stored),
           "duplicated": list(extra), "unexpected": unexpected, "recovered": recovered,
           "reordered": reordered}
    for ids in out.values():
        ids.sort(key=_id_key)
    unexpected.extend(f"row:{rid}" for rid in store.foreign)
    return out


def _server_to_client(store: _Rows, lineages: _Lineages
                      ) -> tuple[dict[str, dict[str, list[str]]], dict[str, str]]:
    """Server -> client categories, per lineage L whose `end` event says it is connected.

    - missed: a message with a row id above L's initial offset of which L received no copy.
    - redelivered: a row L received more than once (the same server offset twice).
    - out_of_order: a row L received for the first time after a row with a larger id (L's receipts
      overtook it); section 8's server->client `reordered`.
    - phantom: L received a message no row holds under that offset (broadcast before a commit that
      failed, or an offset naming another message's row).

    Precondition: rows are final and L synced after the last heal. Lineages not connected at the end
    (or without an `end` event) are not judged and are returned with the reason.
    Complexity: O(rows x lineages) at C speed (bytearray scans) plus O(anomalies).
    """
    judged: dict[str, dict[str, list[str]]] = {}
    skipped: dict[str, str] = {}
    for proc in sorted(lineages.by_proc, key=_id_key):
        ln = lineages.by_proc[proc]
        if ln.connected is None:
            skipped[proc] = "no end event"
            continue
        if not ln.connected:
            skipped[proc] = "not connected at the end"
            continue
        initial = ln.start_offset if ln.start_offset is not None else (ln.connect_offset or 0)
        got = ln.got
        missed: dict[str, None] = {}
        rid = got.find(0, max(initial, 0) + 1)
        while rid != -1:
            mid = store.msg[rid]
            copies = [store.first[mid], *store.extra[mid]] if mid in store.extra else ()
            if not any(got[r] for r in copies):
                missed[store.label(rid)] = None
            rid = got.find(0, rid + 1)
        judged[proc] = {
            "missed": list(missed),
            "redelivered": [store.label(r) for r in ln.redelivered],
            "out_of_order": [store.label(r) for r in ln.out_of_order],
            "phantom": list(ln.phantom),
        }
    return judged, skipped


def _id_key(name: str) -> tuple[Any, ...]:
    """Natural order for ids and process names: c2:9 < c2:10 < c10:1, c3 < c3.1 < c4."""
    return tuple(int(part) if part.isdigit() else part for part in _DIGITS.split(name))


def _percentile(ordered: list[int], q: float) -> int:
    return ordered[max(0, min(len(ordered) - 1, int(-(-q * len(ordered) // 1)) - 1))]


def _stats(ordered: list[int]) -> LatencyStats:
    return LatencyStats(count=len(ordered), p50_ms=_percentile(ordered, 0.50) / 1e6,
                        p95_ms=_percentile(ordered, 0.95) / 1e6,
                        p99_ms=_percentile(ordered, 0.99) / 1e6, max_ms=ordered[-1] / 1e6)


def _overall(series: list[list[int]], q: float, total: int) -> int:
    """The nearest-rank q-quantile of the union of sorted series, without merging them."""
    rank = max(1, int(-(-q * total // 1)))
    lo, hi = min(s[0] for s in series), max(s[-1] for s in series)
    while lo < hi:
        mid = (lo + hi) // 2
        if sum(bisect.bisect_right(s, mid) for s in series) >= rank:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _latencies(per_client: Mapping[str, array]) -> tuple[dict[str, LatencyStats], Histogram]:
    stats: dict[str, LatencyStats] = {}
    series = []
    for client in sorted(per_client, key=_id_key):
        values = per_client[client]
        if values:
            ordered = sorted(values)
            stats[client] = _stats(ordered)
            series.append(ordered)
    edges_ns = [int(edge * 1e6) for edge in _HIST_EDGES_MS]
    counts = [0] * len(edges_ns)
    for ordered in series:
        prev = 0
        for i, edge in enumerate(edges_ns[1:]):
            pos = bisect.bisect_left(ordered, edge)
            counts[i] += pos - prev
            prev = pos
        counts[-1] += len(ordered) - prev
    if series:
        total = sum(len(s) for s in series)
        stats["all"] = LatencyStats(
            count=total, p50_ms=_overall(series, 0.50, total) / 1e6,
            p95_ms=_overall(series, 0.95, total) / 1e6, p99_ms=_overall(series, 0.99, total) / 1e6,
            max_ms=max(s[-1] for s in series) / 1e6)
    return stats, Histogram(edges_ms=list(_HIST_EDGES_MS), counts=counts)


def _verdict(expectations: Expectations, store: _Rows, lineages: _Lineages, faults: _Faults,
             sent_t: Mapping[str, int], acked: set[str], outcome: Mapping[str, int], events: int,
             t0: int, t_end: int) -> Verdict:
    c2s = _client_to_server(store, lineages, sent_t, acked, outcome)
    s2c, skipped = _server_to_client(store, lineages)
    ack_stats, ack_hist = _latencies(lineages.acks)
    delivery_stats, delivery_hist = _latencies(lineages.deliveries)
    flat = {name: len(ids) for name, ids in c2s.items()}
    for per in s2c.values():
        for name, ids in per.items():
            flat[name] = flat.get(name, 0) + len(ids)
    guarantees = {name: not any(flat.get(c, 0) for c in cats) for name, cats in GUARANTEES.items()}
    notes = []
    if not s2c:
        notes.append("no lineage was connected at the end: server->client delivery was not judged")
    recoveries = [
        Recovery(fault=kind, target=target,
                 started_ms=None if started is None else (started - t0) / 1e6,
                 healed_ms=(healed - t0) / 1e6,
                 recovery_ms=None if slot[0] is None else slot[0] / 1e6)
        for kind, target, started, healed, slot in faults.recoveries]
    return Verdict(
        expected=list(expectations.guarantees),
        expected_violations=dict(expectations.violations),
        guarantees=guarantees,
        client_to_server=c2s,
        server_to_client=s2c,
        unchecked_lineages=skipped,
        latency={"ack": ack_stats, "delivery": delivery_stats},
        histograms={"ack": ack_hist, "delivery": delivery_hist},
        recoveries=recoveries,
        events=events,
        messages=len(sent_t.keys() | acked | outcome.keys() | store.first.keys()),
        rows=store.count,
        duration_ms=(t_end - t0) / 1e6,
        notes=notes,
    )
