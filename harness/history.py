"""The history: what every client, the server and the nemesis observed, one JSON object per line.

This module is the contract between the writers (client drivers, nemesis, runner) and the readers
(checkers, reports). It is shaped after Jepsen's histories:

    {"t": <ns, monotonic>, "proc": "c3", "type": "invoke"|"ok"|"fail"|"info", "f": "send", "value": {...}}

`ok` took effect, `fail` certainly did not, `info` is unknown (a timeout, a disconnect). Timestamps come from
one clock, `time.monotonic_ns()`, in the harness process. The history is streamed to disk as it is made and
read back as a stream, so neither side ever holds it whole.

Operations (`f`) and their values:

| proc | f | type | value |
|---|---|---|---|
| client | `send` | `invoke` | `{"id": msg id, "client_offset": str or null}` |
| client | `send` | `ok` | `{"id": msg id, "tries": n}` the server acknowledged |
| client | `send` | `fail` | `{"id": msg id, "reason": str}` never left the client (dropped from its buffer) |
| client | `send` | `info` | `{"id": msg id, "reason": "timeout"|"gave-up"|"no-ack"|"refresh"|"disconnect"}` |
| client | `recv` | `ok` | `{"id": msg id or null, "server_offset": id, "csr_offset": str or null, "content": str}` |
| client | `connect` | `ok` | `{"sid": str, "recovered": bool, "server_offset": int}` (the offset sent in auth) |
| client | `connect` | `fail` | `{"reason": str}` |
| client | `disconnect` | `info` | `{"reason": str}` |
| client | `start` | `ok` | `{"lineage": str, "server_offset": int}` a client (or a refreshed page) begins |
| client | `refresh` | `info` | `{"next": proc of the fresh client}` the page is thrown away |
| client | `end` | `ok` | `{"connected": bool}` written once per live client after the final sync |
| client | `shown` | `info` | `{"items": n, "not_shown": [msg id]}` browser driver: the page's `<li>` list as it goes |
| nemesis | `fault` / `heal` | `info` | `{"fault": kind, "target": str, ...}` |
| server | `start` / `stop` / `crash` / `pause` / `resume` | `info` | `{"pid": int}` |
| harness | `route` | `info` | `{"client": slot, "node": str, "from": str}` a client's link re-pointed |

With several nodes (docs/multinode.md) a client's `connect` also carries `"node": "n2"`, the node its
link pointed at, and each `server` event the node it concerns.

Client process names are `c<N>`; the fresh client after a page refresh of `c<N>` is `c<N>.<k>`
(`c2.1`, `c2.2`, ...). A message id is `<proc>:<seq>` and leads the message content, followed by one
space and the user text, so an id is recognised in a stored row and in a received broadcast alike.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, Literal

import orjson

from harness.errors import HarnessError

OpType = Literal["invoke", "ok", "fail", "info"]
Event = dict[str, Any]

_ID_RE = re.compile(r"^(c\d+(?:\.\d+)?:\d+)(?: |$)")


class HistoryError(HarnessError, ValueError):
    """A history or rows file is missing or malformed: not JSON, or an event missing a field.

    A `ValueError` too, so code that caught orjson's decode error (a ValueError) keeps working.
    """


def now_ns() -> int:
    """The one clock every history event is stamped with."""
    return time.monotonic_ns()


def make_content(msg_id: str, text: str = "") -> str:
    """Message content carrying its id so stored rows and broadcasts can be traced back."""
    return f"{msg_id} {text}" if text else msg_id


def message_id(content: Any) -> str | None:
    """The harness id leading `content`, or None for content the harness did not write."""
    if not isinstance(content, str):
        return None
    match = _ID_RE.match(content)
    return match.group(1) if match else None


def lineage_root(proc: str) -> str:
    """`c2.3` -> `c2`: the client slot a refreshed page belongs to."""
    return proc.split(".", 1)[0]


class HistoryWriter:
    """Appends events as JSON lines; each line reaches the OS before `append` returns.

    A killed run therefore leaves a file readable up to its last full line. Memory is constant: nothing is
    kept after the write. Use as a context manager or call `close()`.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[bytes] = open(self.path, "ab", buffering=0)
        self.count = 0
        self.annotate: Callable[[str, str, str, dict[str, Any]], dict[str, Any]] | None = None
        """Called with (proc, type, f, value) before each write; returns the value to write (the
        topology adds the serving node to a client's `connect`, see docs/multinode.md)."""
        self._received: dict[str, int] = {}
        self._receive_waiters: list[tuple[str, int, asyncio.Future[None]]] = []

    def append(self, proc: str, type_: OpType, f: str, value: dict[str, Any] | None = None,
               t: int | None = None) -> Event:
        value = value or {}
        if self.annotate is not None:
            value = self.annotate(proc, type_, f, value)
        event: Event = {"t": now_ns() if t is None else t, "proc": proc, "type": type_, "f": f,
                        "value": value}
        # One write call per line: an unbuffered O_APPEND write is never interleaved or half-kept by
        # a crash of this process, which is what makes the file crash-safe.
        self._fh.write(orjson.dumps(event) + b"\n")
        self.count += 1
        if f == "recv" and type_ == "ok":
            self._count_received(proc.split(".", 1)[0])
        return event

    def received(self, slot: str) -> int:
        """Broadcasts received so far by client `slot`, over all its lineages (its refreshed pages too)."""
        return self._received.get(slot, 0)

    async def wait_received(self, slot: str, n: int, timeout: float) -> bool:
        """Wait until client `slot` has received `n` broadcasts; False if `timeout` passed first."""
        if self.received(slot) >= n:
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._receive_waiters.append((slot, n, waiter))
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            self._receive_waiters = [w for w in self._receive_waiters if w[2] is not waiter]

    def _count_received(self, slot: str) -> None:
        self._received[slot] = count = self._received.get(slot, 0) + 1
        for waiting_slot, n, waiter in self._receive_waiters:
            if waiting_slot == slot and count >= n and not waiter.done():
                waiter.set_result(None)

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()

    def __enter__(self) -> HistoryWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_history(path: str | os.PathLike[str], skipped: list[int] | None = None) -> Iterator[Event]:
    """Stream events from a history file; an unterminated last line is kept when it parses.

    A killed writer can leave a strict prefix of its last line, which never parses: that line is
    skipped and its number appended to `skipped` (the checker notes it as a torn history). A complete
    last line that merely lacks its newline is an event like any other. Any other line that is not
    JSON raises `HistoryError` naming the file and line number.
    """
    with open(path, "rb") as fh:
        for number, line in enumerate(fh, 1):
            if not line.endswith(b"\n"):
                if line.strip():
                    try:
                        event = orjson.loads(line)
                    except orjson.JSONDecodeError:
                        if skipped is not None:
                            skipped.append(number)
                        return
                    yield event
                return
            if line.strip():
                yield _parse(line, path, number)


def _parse(line: bytes, path: str | os.PathLike[str], number: int) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise HistoryError(f"{path}:{number}: not a JSON line ({exc})") from exc


def write_rows(path: str | os.PathLike[str], rows: Iterator[dict[str, Any]] | list[dict[str, Any]]) -> int:
    """Save the final database rows (`{"id", "client_offset", "content"}`) as JSON lines."""
    n = 0
    with open(path, "wb") as fh:
        for row in rows:
            fh.write(orjson.dumps(row) + b"\n")
            n += 1
    return n


def read_rows(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Stream the saved database rows; a line that is not JSON raises `HistoryError`."""
    with open(path, "rb") as fh:
        for number, line in enumerate(fh, 1):
            if line.strip():
                yield _parse(line, path, number)
