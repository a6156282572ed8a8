"""The checker reads a history once, keeps no event, and checks files without a second read."""

from __future__ import annotations

import gc
import weakref
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from checkers_support import Story

from harness.checkers import check, check_files, records
from harness.checkers import files as checker_files
from harness.checkers.synthetic import write_synthetic
from harness.history import HistoryError


class Event(dict):
    """A history event that can be weakly referenced, to prove the checker lets it go."""

    __slots__ = ("__weakref__",)


def story() -> Story:
    s = Story().start("c1").start("c2")
    for i in range(1, 40):
        s.sent(f"c1:{i}", "c1", "c2")
    s.invoke("c2:1").ack("c2:1")
    return s.end("c1", "c2")


def test_the_history_is_iterated_once_and_no_event_outlives_its_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Events are converted a batch at a time: none is kept once the batch after its own is pulled."""
    s = story()
    batch = 3
    monkeypatch.setattr(records, "_BATCH", batch)
    alive: list[weakref.ref] = []
    pulled = Counter()

    def one_shot() -> Iterator[dict[str, Any]]:
        for raw in s.events:
            event = Event(raw)
            alive.append(weakref.ref(event))
            pulled["events"] += 1
            yield event
            del event
            # CPython frees at once what nothing refers to.
            if len(alive) > 2 * batch:
                assert alive[-2 * batch - 1]() is None, "the checker kept a history event"

    stream = one_shot()
    verdict = check(stream, s.rows)
    assert pulled["events"] == len(s.events)
    assert next(stream, None) is None
    gc.collect()
    assert all(ref() is None for ref in alive)
    assert verdict.counts["lost"] == 1 and verdict.events == len(s.events)


def write_story(tmp_path: Path, s: Story, tail: bytes = b"") -> tuple[Path, Path]:
    history, rows = tmp_path / "history.jsonl", tmp_path / "rows.jsonl"
    history.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in s.events) + tail)
    rows.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in s.rows))
    return history, rows


class CountingOrjson:
    """orjson with a counter on `loads`, to prove each history line is parsed exactly once."""

    JSONDecodeError = orjson.JSONDecodeError

    def __init__(self) -> None:
        self.calls = 0

    def loads(self, data: bytes) -> Any:
        self.calls += 1
        return orjson.loads(data)

    def dumps(self, obj: Any, **kw: Any) -> bytes:
        return orjson.dumps(obj, **kw)


def test_checking_a_file_parses_each_line_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = story()
    history, rows = write_story(tmp_path, s)
    counting = CountingOrjson()
    monkeypatch.setattr(checker_files, "orjson", counting)
    decoded: list[records.Record] = []
    monkeypatch.setattr(checker_files, "read_records", lambda fh: (decoded.append(r) or r
                                                                    for r in records.read_records(fh)))
    monkeypatch.setattr(checker_files, "read_history", None)  # the fallback, which would read it again
    verdict = check_files(history, rows)
    assert len(decoded) == len(s.events)  # every history line, once, straight to a record
    assert counting.calls == len(s.rows)
    assert verdict == check(s.events, s.rows)


def test_records_stream_a_chunk_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lines cut by a chunk boundary are decoded whole, and a long history is never read at once."""
    s = story()
    history, _ = write_story(tmp_path, s)
    monkeypatch.setattr(records, "_CHUNK", 7)  # shorter than any line
    reads: list[int] = []
    with open(history, "rb") as fh:
        real_read = fh.read
        spy = type("Spy", (), {"read": lambda _self, n: reads.append(n) or real_read(n)})()
        got = list(records.read_records(spy))
    assert got == list(records.from_events(s.events))
    assert set(reads) == {7}


def test_blank_lines_are_tolerated(tmp_path: Path) -> None:
    s = story()
    history, rows = write_story(tmp_path, s, b"\n\n")
    assert check_files(history, rows) == check(s.events, s.rows)


def test_a_torn_last_line_is_skipped_and_noted(tmp_path: Path) -> None:
    s = story()
    history, rows = write_story(tmp_path, s, b'{"t": 99999999999, "proc": "c1", "ty')
    verdict = check_files(history, rows)
    whole = check(s.events, s.rows)
    assert verdict.counts == whole.counts
    assert verdict.inconclusive == [f"history torn: 1 line skipped (line {len(s.events) + 1})"]
    assert "missed" in verdict.undecided and verdict.guarantees["exactly-once"] is None
    assert verdict.guarantees["at-most-once"] is True  # nothing a lost line hides can fake a copy


def test_a_complete_last_line_without_its_newline_is_kept(tmp_path: Path) -> None:
    s = story()
    history, rows = write_story(tmp_path, s)
    history.write_bytes(history.read_bytes().rstrip(b"\n"))
    assert check_files(history, rows) == check(s.events, s.rows)


def test_a_garbage_line_is_named_by_its_number(tmp_path: Path) -> None:
    s = story()
    history, rows = write_story(tmp_path, s)
    lines = history.read_bytes().splitlines(keepends=True)
    lines[4] = b"not json\n"
    history.write_bytes(b"".join(lines))
    with pytest.raises(HistoryError, match=r"history.jsonl:5: not a JSON line"):
        check_files(history, rows)


def test_a_missing_file_is_a_history_error(tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match="no such file"):
        check_files(tmp_path / "history.jsonl", tmp_path / "rows.jsonl")


def test_a_synthetic_run_written_to_disk_checks_like_in_memory(tmp_path: Path) -> None:
    synthetic = write_synthetic(tmp_path, clients=3, messages=120, seed=7, loss=0.05, duplicate=0.05)
    verdict = check_files(tmp_path / "history.jsonl", tmp_path / "rows.jsonl")
    assert verdict.events == synthetic.events
    assert verdict.counts["lost"] == synthetic.truth["lost"]
    assert verdict.counts["duplicated"] == synthetic.truth["duplicated"]
