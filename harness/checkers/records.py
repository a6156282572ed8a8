"""The delivery checker's typed view of a history event, decoded straight from a JSON line.

A history line is parsed once, by msgspec, into a `Record`: the five fields of the history's contract
(`harness.history`) and, of the value, only the fields some category reads. Decoding into a typed struct
skips building a dict per event and per value, which is most of what a general JSON parser spends on a
history; an event already in memory as a dict is converted to the same struct, so the checker has one
pass for both. Fields the checker does not read are ignored, so a history may carry more.

A `RecordError` (a line that is not JSON, or an event of the wrong shape) is msgspec's own error: the
caller falls back to the general reader to name the line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from itertools import chain, islice
from typing import Any, BinaryIO

import msgspec


class Value(msgspec.Struct, frozen=True, gc=False):
    """An event's value, as far as the checker reads it; every field is whatever JSON held, or None."""

    id: Any = None
    server_offset: Any = None
    content: Any = None
    tries: Any = None
    reason: Any = None
    connected: Any = None
    recovered: Any = None
    next: Any = None
    fault: Any = None
    target: Any = None
    pending: Any = None


NO_VALUE = Value()


class Record(msgspec.Struct, gc=False):
    """One history event. `t` must be an integer; the others are checked where they are read (a
    receipt or a send without a value is malformed, any other event may omit it)."""

    t: int
    proc: Any
    type: Any
    f: Any
    value: Value | None = None


RecordError = msgspec.DecodeError
"""Raised for a line that is not JSON or not an event (`msgspec.ValidationError` is one)."""

_CHUNK = 1 << 16  # bytes of history decoded per call: enough to amortise the call, small enough to stream
_BATCH = 1024  # events in memory converted per call
_decoder = msgspec.json.Decoder(Record)
_records = list[Record]


def read_records(fh: BinaryIO) -> Iterator[Record]:
    """Decode an open history file, every line of which is a complete JSON event, as it is read.

    Whole lines are decoded a chunk at a time (`decode_lines`), so memory stays that of one chunk.
    Raises `RecordError` at the first chunk holding a line that is not a valid event.
    """
    return chain.from_iterable(map(_decoder.decode_lines, _whole_lines(fh)))


def _whole_lines(fh: BinaryIO) -> Iterator[bytes]:
    rest = b""
    while chunk := fh.read(_CHUNK):
        chunk = rest + chunk
        cut = chunk.rfind(b"\n") + 1
        rest = chunk[cut:]
        if cut:
            yield chunk[:cut]
    if rest.strip():
        yield rest


def from_events(events: Iterable[Any]) -> Iterator[Record]:
    """Events in memory (mappings, as `harness.history` writes them) as `Record`s, converted a batch at a
    time. Raises `msgspec.ValidationError` for an event of the wrong shape; `batch_index` reads its
    position back from the error."""
    it = iter(events)
    return chain.from_iterable(map(_convert, iter(lambda: list(islice(it, _BATCH)), [])))


def _convert(batch: list[Any]) -> list[Record]:
    return msgspec.convert(batch, _records)


_AT = re.compile(r"^(?P<what>.*) - at `\$\[(?P<index>\d+)\](?P<path>[^`]*)`$", re.S)


def batch_index(error: msgspec.ValidationError) -> tuple[int, str]:
    """(index of the offending event in its batch, what is wrong with it) from a conversion error."""
    match = _AT.match(str(error))
    if match is None:
        return 0, str(error)
    path = match["path"].lstrip(".")
    return int(match["index"]), match["what"] + (f" at `{path}`" if path else "")
