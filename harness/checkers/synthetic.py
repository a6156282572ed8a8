"""A synthetic but realistic run: a history and final rows with anomalies planted at known places.

Used by the checker's tests (the planted counts are the truth the checker must find), by the checker
benchmark (a million events without starting a server) and to look at reports. Nothing here talks to a
network. The run is a chat with `clients` pages sending `messages` in turn; every stored message is
broadcast to every connected page; one fault window partitions one client (it neither sends nor receives,
then reconnects and is replayed what it missed); one page may be refreshed (a new lineage replayed from
offset 0); one page (`c4`) may be disconnected at the end. Anomalies are planted with the given
probabilities, on any page for the categories that need no final sync (the refreshed page's first
lineage and the page disconnected at the end included), `missed` only on pages judged at the end:

| knob | what happens | category it makes |
|---|---|---|
| `loss` | acknowledged, never stored | lost |
| `duplicate` | stored twice (a retry after a lost ack) | duplicated |
| `indeterminate` | the ack times out (`info`), stored once | recovered |
| `abandon` | the ack times out (`info`), never stored | indeterminate |
| `miss` | one page connected at the end never receives it | missed |
| `redeliver` | one page receives the same row twice | redelivered |
| `reorder` | one page receives it after the next message | out_of_order |
| `phantom` | broadcast, never stored, the send times out | phantom (per page) and indeterminate |
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from harness.history import Event, make_content
from harness.runfolder import RunFolder

_MS = 1_000_000
_HORIZON = 3_000 * _MS  # no event is scheduled further than this after the message that causes it


@dataclass
class Synthetic:
    """The run's final rows and the counts the planted anomalies must produce."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    truth: dict[str, int] = field(default_factory=dict)
    events: int = 0


@dataclass
class _Page:
    slot: str
    proc: str
    last: int = 0  # last receipt time, so receipts of one page keep row order unless planted


def synthetic_history(synthetic: Synthetic, *, clients: int = 5, messages: int = 200, seed: int = 0,
                      interval_ms: float = 2.0, loss: float = 0.0, duplicate: float = 0.0,
                      indeterminate: float = 0.0, abandon: float = 0.0, miss: float = 0.0,
                      redeliver: float = 0.0, reorder: float = 0.0, phantom: float = 0.0,
                      fault: bool = True, refresh: bool = True, disconnect: bool = True,
                      text: str = "hello") -> Iterator[Event]:
    """Yield the events of one synthetic run in time order; fill `synthetic` as it goes.

    `synthetic.rows` and `synthetic.truth` are complete once the iterator is exhausted. Memory is
    bounded by the events of a few seconds of simulated time, not by the run's length.
    """
    rng = random.Random(seed)
    truth = dict.fromkeys(("lost", "indeterminate", "duplicated", "recovered", "missed", "redelivered",
                           "out_of_order", "phantom"), 0)
    synthetic.truth = truth
    rows = synthetic.rows
    heap: list[tuple[int, int, Event]] = []
    seq = 0

    def emit(t: int, proc: str, type_: str, f: str, value: dict[str, Any]) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(heap, (t, seq, {"t": t, "proc": proc, "type": type_, "f": f, "value": value}))

    t0 = 1_000 * _MS
    pages = {f"c{i}": _Page(f"c{i}", f"c{i}") for i in range(1, clients + 1)}
    counters = dict.fromkeys(pages, 0)
    emit(t0, "server", "info", "start", {"pid": 4242})
    for page in pages.values():
        emit(t0 + _MS, page.proc, "ok", "start", {"lineage": page.proc, "server_offset": 0})
        emit(t0 + 3 * _MS, page.proc, "ok", "connect", {"sid": f"sid-{page.proc}", "recovered": False,
                                                          "server_offset": 0})
    span = int(messages * interval_ms * _MS)
    start = t0 + 10 * _MS
    victim = "c2" if clients >= 2 else "c1"
    fault_at, heal_at = start + int(span * 0.4), start + int(span * 0.5)
    back_at = heal_at + min(400 * _MS, span // 10)
    refresh_slot = "c3" if clients >= 3 else None
    gone_slot = "c4" if disconnect and clients >= 4 else None
    refresh_at = start + int(span * 0.7)
    faulted = healed = refreshed = False
    pending_dup: tuple[str, str] | None = None

    def deliver(row_id: int, mid: str, content: str, at: int, page: _Page, replay: bool) -> None:
        t = max(at + (0 if replay else int(rng.uniform(0.5, 6) * _MS)), page.last + 1000)
        page.last = t
        emit(t, page.proc, "ok", "recv", {"id": mid, "server_offset": row_id,
                                          "csr_offset": None, "content": content})

    def store(mid: str, content: str) -> int:
        row_id = len(rows) + 1
        rows.append({"id": row_id, "client_offset": f"{mid}-off", "content": content})
        return row_id

    def offline(page: _Page) -> bool:
        return page.slot == victim and faulted and not back

    def judged_at_end(page: _Page) -> bool:
        return not (refresh and page.proc == refresh_slot) and page.slot != gone_slot

    def broadcast(row_id: int, mid: str, content: str, at: int, plant: bool) -> None:
        eligible = [p for p in pages.values() if p.slot != victim and p.proc not in delayed_for]
        target = rng.choice(eligible) if plant and eligible else None
        roll = rng.random()
        for page in pages.values():
            if offline(page):
                continue
            if page is target and roll < miss:
                if judged_at_end(page):
                    truth["missed"] += 1
                    continue
                roll = 1.0  # a miss where nobody can see it: plant nothing instead
            if page is target and roll < miss + reorder:
                # Held back until after the next row this page receives: overtaken once.
                truth["out_of_order"] += 1
                delayed_for[page.proc] = (row_id, mid, content)
                continue
            deliver(row_id, mid, content, at, page, False)
            held = delayed_for.pop(page.proc, None)
            if held is not None and held[0] != row_id:
                deliver(held[0], held[1], held[2], at, page, False)
            elif held is not None:
                delayed_for[page.proc] = held
            if page is target and roll < miss + reorder + redeliver:
                truth["redelivered"] += 1
                deliver(row_id, mid, content, at, page, False)

    delayed_for: dict[str, tuple[int, str, str]] = {}
    back = False
    seen_at_fault = 0

    for i in range(messages):
        now = start + int(i * interval_ms * _MS)
        while heap and heap[0][0] < now - _HORIZON:
            synthetic.events += 1
            yield heapq.heappop(heap)[2]
        if fault and not faulted and now >= fault_at:
            faulted = True
            seen_at_fault = len(rows)
            emit(fault_at, "nemesis", "info", "fault", {"fault": "partition", "target": victim})
            emit(fault_at + 2 * _MS, pages[victim].proc, "info", "disconnect",
                 {"reason": "transport close"})
        if faulted and not healed and now >= heal_at:
            healed = True
            emit(heal_at, "nemesis", "info", "heal", {"fault": "partition", "target": victim})
        if healed and not back and now >= back_at:
            back = True
            page = pages[victim]
            seen = seen_at_fault
            emit(back_at, page.proc, "ok", "connect", {"sid": "sid-back", "recovered": False,
                                                       "server_offset": seen})
            page.last = max(page.last, back_at)
            for row in rows[seen:]:
                deliver(row["id"], _mid(row), row["content"], back_at, page, True)
        if refresh and refresh_slot and not refreshed and now >= refresh_at:
            refreshed = True
            old = pages[refresh_slot]
            new = _Page(refresh_slot, f"{refresh_slot}.1", last=refresh_at + 30 * _MS)
            emit(refresh_at, old.proc, "info", "refresh", {"next": new.proc})
            emit(refresh_at + 10 * _MS, new.proc, "ok", "start",
                 {"lineage": new.proc, "server_offset": 0})
            emit(refresh_at + 20 * _MS, new.proc, "ok", "connect",
                 {"sid": "sid-fresh", "recovered": False, "server_offset": 0})
            if delayed_for.pop(old.proc, None) is not None:
                truth["out_of_order"] -= 1  # the held-back row dies with the page: never overtaken
            pages[refresh_slot] = new
            counters[new.proc] = 0
            for row in rows:
                deliver(row["id"], _mid(row), row["content"], refresh_at + 30 * _MS, new, True)
        if pending_dup is not None:
            mid, content = pending_dup
            pending_dup = None
            row_id = store(mid, content)
            broadcast(row_id, mid, content, now, False)
        senders = [p for p in pages.values() if not offline(p)]
        page = senders[i % len(senders)]
        counters[page.proc] = counters.get(page.proc, 0) + 1
        mid = f"{page.proc}:{counters[page.proc]}"
        content = make_content(mid, text)
        emit(now, page.proc, "invoke", "send", {"id": mid, "client_offset": f"{mid}-off"})
        ack_at = now + int(rng.lognormvariate(0.7, 0.5) * _MS)
        roll = rng.random()
        if roll < loss:
            truth["lost"] += 1
            emit(ack_at, page.proc, "ok", "send", {"id": mid, "tries": 1})
            continue
        roll -= loss
        if roll < abandon:
            truth["indeterminate"] += 1
            emit(now + 1_000 * _MS, page.proc, "info", "send", {"id": mid, "reason": "gave-up"})
            continue
        roll -= abandon
        if roll < phantom:
            truth["indeterminate"] += 1
            truth["phantom"] += sum(1 for p in pages.values() if not offline(p))
            emit(now + 1_000 * _MS, page.proc, "info", "send", {"id": mid, "reason": "gave-up"})
            for target in pages.values():
                if not offline(target):
                    emit(ack_at, target.proc, "ok", "recv",
                         {"id": mid, "server_offset": len(rows) + 10_000_000, "csr_offset": None,
                          "content": content})
            continue
        roll -= phantom
        row_id = store(mid, content)
        if roll < indeterminate:
            truth["recovered"] += 1
            emit(now + 1_000 * _MS, page.proc, "info", "send", {"id": mid, "reason": "timeout"})
        elif roll < indeterminate + duplicate:
            truth["duplicated"] += 1
            pending_dup = (mid, content)
            emit(ack_at + 1_000 * _MS, page.proc, "ok", "send", {"id": mid, "tries": 2})
        else:
            emit(ack_at, page.proc, "ok", "send", {"id": mid, "tries": 1})
        # A page that misses one copy of a duplicated message still shows it: plant nothing there.
        broadcast(row_id, mid, content, now, pending_dup is None)
    end = start + span + 50 * _MS
    if pending_dup is not None:
        mid, content = pending_dup
        row_id = store(mid, content)
        broadcast(row_id, mid, content, end, False)
    for proc, (rid, mid, content) in delayed_for.items():
        # Nothing newer reached this page after the held-back row: it arrives in order after all.
        truth["out_of_order"] -= 1
        deliver(rid, mid, content, end, next(p for p in pages.values() if p.proc == proc), False)
    for page in pages.values():
        emit(end + 1_100 * _MS, page.proc, "ok", "end", {"connected": page.slot != gone_slot})
    while heap:
        synthetic.events += 1
        yield heapq.heappop(heap)[2]


def _mid(row: dict[str, Any]) -> str:
    return row["content"].split(" ", 1)[0]


def write_synthetic(run_dir: Path, **knobs: Any) -> Synthetic:
    """Write `history.jsonl` and `rows.jsonl` of a synthetic run into `run_dir`; return its truth."""
    run_dir.mkdir(parents=True, exist_ok=True)
    synthetic = Synthetic()
    with open(RunFolder(run_dir).history, "wb") as fh:
        for event in synthetic_history(synthetic, **knobs):
            fh.write(orjson.dumps(event) + b"\n")
    with open(RunFolder(run_dir).rows, "wb") as fh:
        for row in synthetic.rows:
            fh.write(orjson.dumps(row) + b"\n")
    return synthetic
