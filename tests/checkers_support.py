"""Hand-built histories for the checker tests: a few lines per scenario, times in milliseconds."""

from __future__ import annotations

from typing import Any

from harness.history import make_content, message_id

MS = 1_000_000


class Story:
    """A history and its final rows, written step by step; each step advances the clock 1 ms."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.rows: list[dict[str, Any]] = []
        self.t = 0

    def at(self, ms: float) -> Story:
        self.t = int(ms * MS)
        return self

    def ev(self, proc: str, type_: str, f: str, **value: Any) -> Story:
        self.t += MS
        self.events.append({"t": self.t, "proc": proc, "type": type_, "f": f, "value": value})
        return self

    def start(self, proc: str, offset: int = 0) -> Story:
        self.ev(proc, "ok", "start", lineage=proc, server_offset=offset)
        return self.ev(proc, "ok", "connect", sid=f"sid-{proc}", recovered=False, server_offset=offset)

    def invoke(self, mid: str) -> Story:
        return self.ev(mid.split(":")[0], "invoke", "send", id=mid, client_offset=None)

    def ack(self, mid: str) -> Story:
        return self.ev(mid.split(":")[0], "ok", "send", id=mid, tries=1)

    def info(self, mid: str, reason: str = "timeout") -> Story:
        return self.ev(mid.split(":")[0], "info", "send", id=mid, reason=reason)

    def fail(self, mid: str) -> Story:
        return self.ev(mid.split(":")[0], "fail", "send", id=mid, reason="refresh")

    def store(self, mid: str | None, content: str | None = None) -> int:
        rid = len(self.rows) + 1
        text = content if content is not None else make_content(mid or "", "hi")
        self.rows.append({"id": rid, "client_offset": None, "content": text})
        return rid

    def recv(self, proc: str, rid: int | None, mid: str | None = None, **extra: Any) -> Story:
        if mid is None and rid is not None:
            content = self.rows[rid - 1]["content"]
            mid = message_id(content)
        else:
            content = make_content(mid or "", "hi")
        return self.ev(proc, "ok", "recv", id=mid, server_offset=rid, csr_offset=None,
                       content=content, **extra)

    def sent(self, mid: str, *receivers: str) -> int:
        """The happy path: sent, stored, acknowledged, broadcast to `receivers`."""
        self.invoke(mid)
        rid = self.store(mid)
        self.ack(mid)
        for proc in receivers:
            self.recv(proc, rid)
        return rid

    def end(self, *procs: str, connected: bool = True) -> Story:
        for proc in procs:
            self.ev(proc, "ok", "end", connected=connected)
        return self
