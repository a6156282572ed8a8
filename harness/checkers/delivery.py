"""The delivery checker: one pass over a history plus the final rows, to a `Verdict`.

Every category of docs/checkers.md is decided here. They share one pass because a history can hold
millions of events and reading it is the cost that matters; each category's contract is stated on the
function that decides it.

Vocabulary. A *message* is a logical message, named by the id `<proc>:<seq>` that leads its content.
An *attempt* is a `send` `invoke` (or any `send` completion, should the invoke be missing). The outcome of
an attempt is the strongest completion seen: `ok` (acknowledged) over `info` (unknown: it may or may not
have taken effect, as in Jepsen) over `fail` (it certainly never left the client); no completion at all
counts as `info`. A *lineage* is one page's life under one process name (`c1`, then `c1.1` after a
refresh); its *initial offset* is the `server_offset` of its `start` event (else of its first `connect`,
else 0). A *row* is one stored database row; its id is the server offset clients receive. Row ids are
integers (1 .. 2**63-1) or strings; each is mapped once to a dense *position*, 1 .. rows, in the
server's order (integer order for integers, the order the rows were read for strings), so memory
follows the number of rows, never the size of an id.
"""

from __future__ import annotations

import bisect
import re
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from itertools import accumulate, chain
from typing import Any

import msgspec

from harness.checkers.records import NO_VALUE, Record, Value, batch_index, from_events
from harness.checkers.verdict import (
    CATEGORIES,
    Expectations,
    Histogram,
    LatencyStats,
    Recovery,
    Verdict,
    judge,
)
from harness.expectations import RECOVERABLE_REASONS
from harness.history import Event, HistoryError, lineage_root, message_id

_FAIL, _INFO = 1, 2
_MAX_ID = 2**63 - 1
_DIGITS = re.compile(r"(\d+)")
_CLIENT = re.compile(r"^c\d+(?:\.\d+)?$")
_HIST_EDGES_MS = [0.0] + [round(0.1 * 2 ** (i / 2), 3) for i in range(0, 37)]  # 0.1 ms .. ~26 s

TORN_HIDES = ("lost", "abandoned", "indeterminate", "unexpected", "missed")
"""What a skipped history line can fake: a lost ack, invoke, receipt or `end` turns into these."""


class _Rows:
    """The final database contents, indexed for the pass: row id -> position -> message id."""

    def __init__(self, rows: Iterable[Mapping[str, Any]]) -> None:
        rows = rows if isinstance(rows, list) else list(rows)
        try:
            ids = [row["id"] for row in rows]
            contents = [row.get("content") for row in rows]
        except (KeyError, TypeError, AttributeError, IndexError) as exc:
            raise HistoryError(f"a row is not an object with an 'id': {exc!r}") from exc
        kinds = set(map(type, ids))
        if kinds - {int, str}:
            bad = next(rid for rid in ids if type(rid) not in (int, str))
            raise HistoryError(f"a row id must be an integer or a string, got {bad!r}")
        if len(kinds) > 1:
            raise HistoryError("row ids mix integers and strings")
        self.integer = kinds != {str}
        if self.integer and ids and not 0 < min(ids) <= max(ids) <= _MAX_ID:
            bad = next(rid for rid in ids if not 0 < rid <= _MAX_ID)
            raise HistoryError(f"an integer row id must be in 1 .. 2**63-1, got {bad!r}")
        if self.integer and ids != sorted(ids):
            order = sorted(range(len(ids)), key=ids.__getitem__)
            ids, contents = [ids[i] for i in order], [contents[i] for i in order]
        self.ids: list[Any] = [None, *ids]  # position -> row id; position 0 is "before every row"
        self.pos: dict[Any, int] = dict(zip(ids, range(1, len(ids) + 1)))
        if len(self.pos) != len(ids):
            raise HistoryError("two rows share an id")
        mids = list(map(message_id, contents))
        self.count = len(ids)
        self.msg: list[Any] = [None, *mids]
        # A lineage's receipt counters start as a copy of this: position 0 is pre-set to 1 so that
        # "never received" is simply a zero byte, found at C speed by bytearray.find.
        self.template = b"\x01" + bytes(len(ids))
        self.sent = [-1] * (len(ids) + 1)  # position -> send time of its message, filled in the pass
        # Built backwards so that the first position of each message is the one kept.
        positions = range(1, len(ids) + 1)
        self.first: dict[str, int] = dict(zip(reversed(mids), reversed(positions)))  # type: ignore[arg-type]
        self.first.pop(None, None)  # type: ignore[call-overload]
        self.foreign = [p for p, mid in zip(positions, mids) if mid is None]
        self.extra: dict[str, list[int]] = {}
        if len(self.first) + len(self.foreign) != len(ids):
            for p, mid in zip(positions, mids):
                if mid is not None and self.first[mid] != p:
                    self.extra.setdefault(mid, []).append(p)

    def label(self, p: int) -> str:
        mid = self.msg[p]
        return mid if isinstance(mid, str) else f"row:{self.ids[p]}"

    def position(self, offset: Any) -> int | None:
        """The position a client's offset stands for: the rows at or before it, None if unknown."""
        if offset is None or (type(offset) is int and offset == 0):
            return 0
        if type(offset) is int and self.integer:
            return bisect.bisect_right(self.ids, offset, 1) - 1
        if type(offset) is str:
            return self.pos.get(offset)
        return None


class _Lineage:
    __slots__ = (
        "acks",
        "connect_offset",
        "connected",
        "deliveries",
        "got",
        "max_off",
        "next",
        "out_of_order",
        "phantom",
        "proc",
        "recoverable",
        "redelivered",
        "root",
        "sends",
        "start_offset",
        "start_t",
    )

    def __init__(self, proc: str, template: bytes, acks: array, deliveries: array) -> None:
        self.proc = proc
        self.root = proc.split(".", 1)[0]
        self.start_offset: Any = None
        self.connect_offset: Any = None
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
        self.next: str | None = None  # the page that replaced this one after a refresh
        self.recoverable = False  # its last disconnect left a session the server should restore

    def receive_row(self, p: int, t: int, sent: int) -> None:
        """Count one receipt of the row at position `p` (the slow path; `check` inlines the same)."""
        got = self.got
        c = got[p]
        if c == 0:
            got[p] = 1
            if p < self.max_off:
                self.out_of_order.append(p)
            else:
                self.max_off = p
            if sent >= self.start_t:
                self.deliveries.append((t - sent) // 1000)
        elif c < 255:
            got[p] = c + 1
            if c == 1:
                self.redelivered.append(p)


class _Lineages:
    """proc -> lineage, created on first sight; latency series (microseconds) are per client slot
    (lineage root).

    Also holds the run-level evidence the history carries: the harness's `quiet` event."""

    def __init__(self, template: bytes) -> None:
        self.by_proc: dict[str, _Lineage] = {}
        self.template = template
        self.acks: dict[str, array] = {}
        self.deliveries: dict[str, array] = {}
        self.quiet: Value | None = None  # the value of an `info` quiet event
        self.reconnects = {"recovered": 0, "not_recovered": 0}

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
        self.waiting: dict[str, list[tuple[int, list[int | None]]]] = {}

    def fault(self, value: Value, t: int) -> None:
        key = (str(value.fault), str(value.target))
        self.open.setdefault(key, []).append(t)

    def heal(self, value: Value, t: int) -> None:
        key = (str(value.fault), str(value.target))
        starts = self.open.get(key)
        started = starts.pop(0) if starts else None
        slot: list[int | None] = [None]
        self.recoveries.append((key[0], key[1], started, t, slot))
        target = lineage_root(key[1]) if _CLIENT.match(key[1]) else "*"
        self.waiting.setdefault(target, []).append((t, slot))

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
    """Judge one run's delivery from events in memory (mappings, as `harness.history` writes them).

    The same judgement as `check_records`, to which each event is handed as its typed `Record`.
    """
    return check_records(from_events(history), rows, expected)


def check_records(history: Iterable[Record], rows: Iterable[Mapping[str, Any]],
                  expected: Expectations | Iterable[str] | None = None) -> Verdict:
    """Judge one run's delivery: every category of docs/checkers.md, latencies and recoveries.

    Property: see the category functions below (`_client_to_server`, `_server_to_client`); each
    guarantee of `GUARANTEES` is False when a category breaking it was found, None (inconclusive) when
    one of its categories could not be judged (`Verdict.inconclusive` says why), else True.

    Precondition: `history` is in the order it was written (one clock, `t` non-decreasing per process);
    `rows` is the complete final content of `messages`, captured after the last event (after the heal
    and the final sync), so that a message not stored then is not stored at all. `missed` is decided
    for lineages whose `end` event says `connected: true` (and for gaps a refreshed page's successor
    skipped); every other category on every lineage.

    Complexity: one pass over `history`, O(1) work per event (a few dict operations); memory
    O(rows x lineages) bytes plus O(messages), never O(events) nor O(largest row id). The closing
    phase counts latencies (to the microsecond), O(d) for d deliveries plus O(v log v) for the v
    distinct values. `rows` is read first and fully.
    """
    expectations = Expectations.of(expected)
    store = _Rows(rows)
    row_msg = store.msg
    row_sent = store.sent
    row_pos = store.pos
    first, extra = store.first, store.extra
    lineages = _Lineages(store.template)
    by_proc = lineages.by_proc
    new_lineage = lineages.new
    faults = _Faults()
    waiting = faults.waiting
    sent_t: dict[str, int] = {}
    acked: set[str] = set()
    retried: set[str] = set()
    outcome: dict[str, int] = {}  # only sends never acknowledged matter here: info beats fail

    events: Iterator[Record] = iter(history)
    count = 0  # the events judged so far, for the error message of a malformed one
    e: Record | None = None
    try:
        head = next(events, None)
        if head is None:
            return _verdict(expectations, store, lineages, faults, sent_t, acked, retried, outcome, 0, 0, 0)
        t0 = head.t
        # A list iterator drops its list once exhausted, so even the first event is not held past its step.
        stream = chain(iter([head]), events)
        del head
        for count, e in enumerate(stream, 1):  # noqa: B007 (count is read after the loop)
            f = e.f
            if f == "recv":
                if e.type != "ok":
                    continue  # an attempt to receive that failed is not a receipt
                # The hot path: a broadcast whose offset names a stored row carrying the same id.
                # Inlined copy of _Lineage.receive_row, because this branch runs for most events;
                # rare shapes (no offset, an offset naming no row) take the slow path.
                v = e.value
                off = v.server_offset  # type: ignore[union-attr]  # no value: AttributeError, malformed
                try:
                    ln = by_proc[e.proc]
                except KeyError:
                    ln = new_lineage(e.proc)
                try:
                    p = row_pos[off]
                except (KeyError, TypeError):
                    p = 0
                if p and row_msg[p] == v.id and off is not True:  # type: ignore[union-attr]
                    got = ln.got
                    c = got[p]
                    if c == 0:
                        got[p] = 1
                        if p < ln.max_off:
                            ln.out_of_order.append(p)
                        else:
                            ln.max_off = p
                        ts = row_sent[p]
                        if ts >= ln.start_t:
                            ln.deliveries.append((e.t - ts) // 1000)
                    elif c < 255:
                        got[p] = c + 1
                        if c == 1:
                            ln.redelivered.append(p)
                else:
                    _recv_slow(ln, e, v, store)  # type: ignore[arg-type]
                if waiting:
                    faults.progress(ln.root, e.t)
            elif f == "send":
                v = e.value
                mid = v.id  # type: ignore[union-attr]
                if type(mid) is not str:
                    raise TypeError(f"a send's id must be a string, got {mid!r}")
                ty = e.type
                if ty == "invoke":
                    if mid not in sent_t:
                        t = sent_t[mid] = e.t
                        try:
                            by_proc[e.proc].sends.append(mid)
                        except KeyError:
                            new_lineage(e.proc).sends.append(mid)
                        p = first.get(mid, 0)
                        if p:
                            row_sent[p] = t
                            for p in extra.get(mid, ()):
                                row_sent[p] = t
                elif ty == "ok":
                    if mid not in acked:
                        acked.add(mid)
                        tries = v.tries  # type: ignore[union-attr]
                        if type(tries) is int and tries > 1:
                            retried.add(mid)
                        ln = lineages[e.proc]
                        invoked = sent_t.get(mid)
                        if invoked is not None:
                            ln.acks.append((e.t - invoked) // 1000)
                        if waiting:
                            faults.progress(ln.root, e.t)
                elif ty == "info":
                    outcome[mid] = _INFO
                elif ty == "fail":
                    if mid not in outcome:
                        outcome[mid] = _FAIL
            else:
                _other(e, f, lineages, faults)
    except msgspec.ValidationError as exc:
        # Events are converted a batch at a time, and every batch before this one was judged whole.
        index, what = batch_index(exc)
        raise HistoryError(f"history event #{count + 1 + index} is malformed ({what})") from exc
    except (KeyError, TypeError, AttributeError) as exc:
        raise HistoryError(f"history event #{count + 1} is malformed ({exc}): {e!r}") from exc
    assert e is not None  # the loop ran at least once: for the head
    return _verdict(expectations, store, lineages, faults, sent_t, acked, retried, outcome, count,
                    t0, e.t)


def _recv_slow(ln: _Lineage, e: Record, v: Value, store: _Rows) -> None:
    """A receipt whose offset does not name a row holding its message: find the row, or a phantom."""
    off = v.server_offset
    mid = v.id
    if mid is None:
        mid = message_id(v.content)
    if off is None and isinstance(mid, str) and mid in store.first:
        # No offset travelled (a server that omits it): the message's first copy not yet received.
        positions = [store.first[mid], *store.extra.get(mid, ())]
        p = next((q for q in positions if ln.got[q] == 0), positions[0])
        ln.receive_row(p, e.t, store.sent[p])
        return
    if isinstance(mid, str):
        ln.phantom[mid] = None
    elif type(off) in (int, str):
        ln.phantom[f"offset:{off}"] = None
    else:
        ln.phantom[f"content:{str(v.content)[:60]}"] = None


def _offset(value: Any) -> Any:
    """A `server_offset` as sent: an integer or a string; anything else (a boolean, null) is none."""
    return value if type(value) in (int, str) else None


def _other(e: Record, f: str, lineages: _Lineages, faults: _Faults) -> None:
    """Everything but sends and receipts: lineage starts and ends, connects, faults, heals, quiet."""
    v = e.value or NO_VALUE
    if f == "fault":
        faults.fault(v, e.t)
    elif f == "heal":
        faults.heal(v, e.t)
    elif f == "quiet" and e.proc == "harness":
        lineages.quiet = None if e.type == "ok" else v
    elif not isinstance(e.proc, str) or not _CLIENT.match(e.proc):
        return
    elif f == "start":
        ln = lineages[e.proc]
        ln.start_t = e.t
        ln.start_offset = _offset(v.server_offset)
    elif f == "end":
        lineages[e.proc].connected = bool(v.connected)
    elif f == "refresh":
        following = v.next
        lineages[e.proc].next = following if isinstance(following, str) else ""
    elif f == "disconnect":
        lineages[e.proc].recoverable = v.reason in RECOVERABLE_REASONS
    elif f == "connect" and e.type == "ok":
        ln = lineages[e.proc]
        if ln.connect_offset is None:
            ln.connect_offset = _offset(v.server_offset)
        if ln.recoverable:
            lineages.reconnects["recovered" if v.recovered is True else "not_recovered"] += 1
            ln.recoverable = False


def _client_to_server(store: _Rows, lineages: _Lineages, sent_t: Mapping[str, int], acked: set[str],
                      outcome: Mapping[str, int]) -> dict[str, list[str]]:
    """Client -> server categories, per message m, after Jepsen's total-queue.

    - lost: m was acknowledged (`ok`), yet no row holds it.
    - abandoned: m's send definitely failed (`fail`: it never left the page), and no row holds it.
    - indeterminate: m was attempted, its outcome is unknown (`info`, or no completion), and no row
      holds it: it may have reached the server and been dropped there, or never left.
    - duplicated: more than one row holds m (whatever its outcome, attempted or not).
    - unexpected: a row holds m, yet m was never attempted or its send definitely failed (`fail`);
      a row carrying no harness id at all is unexpected as `row:<id>`.
    - recovered: m's outcome is unknown (`info` or none), and exactly one row holds it (Jepsen's
      recovered: an indeterminate operation that took effect; never lost).
    - reordered: m was overtaken: a message its sender attempted after m is stored in a row before
      m's first row in the server's order. Only stored messages take part; the sender is the lineage.

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
    abandoned: list[str] = []
    indeterminate: list[str] = []
    for mid in unacked - stored:
        (abandoned if outcome.get(mid) == _FAIL else indeterminate).append(mid)
    reordered = []
    for ln in lineages.by_proc.values():
        positions = list(map(first.get, ln.sends))
        present = [p for p in positions if p is not None]
        if present == sorted(present):
            continue
        floor = None
        for mid, p in zip(reversed(ln.sends), reversed(positions)):
            if p is None:
                continue
            if floor is not None and floor < p:
                reordered.append(mid)
            else:
                floor = p
    out = {"lost": list(acked - stored), "abandoned": abandoned, "indeterminate": indeterminate,
           "duplicated": list(extra), "unexpected": unexpected, "recovered": recovered,
           "reordered": reordered}
    for ids in out.values():
        ids.sort(key=_id_key)
    unexpected.extend(f"row:{store.ids[p]}" for p in store.foreign)
    return out


def _missing(store: _Rows, got: bytearray, after: int, upto: int) -> list[str]:
    """Messages with a row at a position in (after, upto] of which `got` holds no copy."""
    missed: dict[str, None] = {}
    p = got.find(0, max(after, 0) + 1, upto + 1)
    while p != -1:
        mid = store.msg[p]
        copies = [store.first[mid], *store.extra[mid]] if mid in store.extra else ()
        if not any(got[q] for q in copies):
            missed[store.label(p)] = None
        p = got.find(0, p + 1, upto + 1)
    return list(missed)


def _server_to_client(store: _Rows, lineages: _Lineages, quiet: bool
                      ) -> tuple[dict[str, dict[str, list[str]]], dict[str, str], list[str]]:
    """Server -> client categories, per lineage L.

    - missed: a message with a row after L's initial offset of which L received no copy. Decided
      for L connected at the end (after its final sync, and only if the run became quiet), and, for a
      page refreshed into a successor that resumed at offset o, for the rows up to min(o, the last row
      L received): the successor will never ask for them again.
    - redelivered: a row L received more than once (the same server offset twice).
    - out_of_order: a row L received for the first time after a row later in the server's order
      (L's receipts overtook it); the server->client `reordered`.
    - phantom: L received a message no row holds under that offset (broadcast before a commit that
      failed, or an offset naming another message's row).

    The last three need no final sync and are judged on every lineage. Returns the categories per
    lineage, the lineages not judged for `missed` at the end (with the reason), and the lineages that
    never ended (no `end`, no refresh).
    Complexity: O(rows x lineages) at C speed (bytearray scans) plus O(anomalies).
    """
    judged: dict[str, dict[str, list[str]]] = {}
    skipped: dict[str, str] = {}
    unended: list[str] = []
    for proc in sorted(lineages.by_proc, key=_id_key):
        ln = lineages.by_proc[proc]
        initial = store.position(ln.start_offset if ln.start_offset is not None else ln.connect_offset)
        missed: list[str] = []
        if initial is None:
            skipped[proc] = "its initial offset names no row"
        elif ln.next is not None:
            successor = lineages.by_proc.get(ln.next)
            resumed = None if successor is None else store.position(
                successor.start_offset if successor.start_offset is not None else successor.connect_offset)
            if resumed:
                missed = _missing(store, ln.got, initial, min(resumed, ln.max_off))
            skipped[proc] = "refreshed (judged for missed up to its successor's offset)"
        elif ln.connected is None:
            skipped[proc] = "no end event"
            unended.append(proc)
        elif not ln.connected:
            skipped[proc] = "not connected at the end"
        elif not quiet:
            skipped[proc] = "the run did not become quiet"
        else:
            missed = _missing(store, ln.got, initial, store.count)
        judged[proc] = {
            "missed": missed,
            "redelivered": [store.label(p) for p in ln.redelivered],
            "out_of_order": [store.label(p) for p in ln.out_of_order],
            "phantom": list(ln.phantom),
        }
    return judged, skipped, unended


def _id_key(name: str) -> tuple[Any, ...]:
    """Natural order for ids and process names: c2:9 < c2:10 < c10:1, c3 < c3.1 < c4."""
    return tuple(int(part) if part.isdigit() else part for part in _DIGITS.split(name))


class _Distribution:
    """One latency series as a count per distinct microsecond value: the series of a run hold far fewer
    distinct values than samples, so counting them (at C speed) and sorting only the distinct values
    beats sorting every sample, and merging clients is adding their counts."""

    def __init__(self, counts: Counter[int]) -> None:
        self.values = sorted(counts)
        self.cumulative = list(accumulate(map(counts.__getitem__, self.values)))
        self.count = self.cumulative[-1]

    def percentile(self, q: float) -> int:
        """The nearest-rank q-quantile."""
        rank = max(1, int(-(-q * self.count // 1)))
        return self.values[bisect.bisect_left(self.cumulative, rank)]

    def stats(self) -> LatencyStats:
        return LatencyStats(count=self.count, p50_ms=self.percentile(0.50) / 1e3,
                            p95_ms=self.percentile(0.95) / 1e3, p99_ms=self.percentile(0.99) / 1e3,
                            max_ms=self.values[-1] / 1e3)

    def below(self, edge_us: float) -> int:
        """How many samples are below `edge_us`."""
        i = bisect.bisect_left(self.values, edge_us)
        return self.cumulative[i - 1] if i else 0


def _latencies(per_client: Mapping[str, array]) -> tuple[dict[str, LatencyStats], Histogram]:
    """Per client slot and over all of them: nearest-rank percentiles and the bucket counts."""
    stats: dict[str, LatencyStats] = {}
    overall: Counter[int] = Counter()
    for client in sorted(per_client, key=_id_key):
        values = per_client[client]
        if values:
            counts = Counter(values)
            stats[client] = _Distribution(counts).stats()
            overall.update(counts)
    buckets = [0] * len(_HIST_EDGES_MS)
    if overall:
        whole = _Distribution(overall)
        below = [whole.below(edge * 1e3) for edge in _HIST_EDGES_MS[1:]] + [whole.count]
        buckets = [below[0], *(b - a for a, b in zip(below, below[1:]))]
        stats["all"] = whole.stats()
    return stats, Histogram(edges_ms=list(_HIST_EDGES_MS), counts=buckets)


def _verdict(expectations: Expectations, store: _Rows, lineages: _Lineages, faults: _Faults,
             sent_t: Mapping[str, int], acked: set[str], retried: set[str],
             outcome: Mapping[str, int], events: int, t0: int, t_end: int) -> Verdict:
    quiet = lineages.quiet is None
    c2s = _client_to_server(store, lineages, sent_t, acked, outcome)
    s2c, skipped, unended = _server_to_client(store, lineages, quiet)
    ack_stats, ack_hist = _latencies(lineages.acks)
    delivery_stats, delivery_hist = _latencies(lineages.deliveries)
    inconclusive: list[str] = []
    undecided: set[str] = set()
    if not events:
        inconclusive.append("the history is empty")
        undecided.update(CATEGORIES)
    elif not any(ln.connected and ln.next is None and proc not in unended
                 and skipped.get(proc) in (None, "the run did not become quiet")
                 for proc, ln in lineages.by_proc.items()):
        inconclusive.append("no client judged at the end")
        undecided.add("missed")
    if not quiet:
        pending = (lineages.quiet or NO_VALUE).pending
        inconclusive.append("the run did not become quiet"
                            + (f" (pending: {pending})" if pending else ""))
        undecided.update(("missed", "indeterminate"))
    for proc in unended:
        inconclusive.append(f"lineage {proc} never ended")
        undecided.add("missed")
    notes = []
    phantom_like = sorted({store.label(p) for per in lineages.by_proc.values() for p in per.redelivered
                           if store.msg[p] in retried}, key=_id_key)
    if phantom_like:
        notes.append("redelivered rows of retried messages (" + ", ".join(phantom_like[:12])
                     + "): the history cannot tell a redelivery from a phantom broadcast whose retry "
                       "later committed at the same id")
    recoveries = [
        Recovery(fault=kind, target=target,
                 started_ms=None if started is None else (started - t0) / 1e6,
                 healed_ms=(healed - t0) / 1e6,
                 recovery_ms=None if slot[0] is None else slot[0] / 1e6)
        for kind, target, started, healed, slot in faults.recoveries]
    verdict = Verdict(
        expected=list(expectations.guarantees),
        expected_violations=dict(expectations.violations),
        expected_absent=list(expectations.absent),
        guarantees={},
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
        inconclusive=inconclusive,
        undecided=[c for c in CATEGORIES if c in undecided],
        reconnects=dict(lineages.reconnects),
        expected_recovery=None if expectations.recovery is None else dict(expectations.recovery),
    )
    verdict.guarantees = judge(verdict.counts, verdict.undecided)
    return verdict
