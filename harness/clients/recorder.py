"""What a page observed, as history events: one recorder per page (lineage), shared by every driver.

A driver reports raw observations (a submit, a packet written to the transport, an ack callback, a
connect, a broadcast); the recorder turns them into the events of `harness.history` and decides each
send's one terminal outcome, by the same rules whichever Socket.IO client sits underneath:

| outcome | when |
|---|---|
| `ok` | the ack callback reported success (`tries` = times the packet was written) |
| `info` `no-ack` | fire and forget (no callback): the moment the packet is first written to the transport |
| `info` `timeout` / `disconnect` | the callback failed (ack timeout, or disconnect with a timeout set) after a write |
| `info` `disconnect` | a plain callback (no timeout) was dropped by a disconnect after a write, or the page closed |
| `info` `gave-up` | the `retries` queue discarded the packet after `retries` + 1 tries |
| `info` `refresh` | the page was thrown away after the packet was written at least once |
| `fail` `timeout` / `refresh` / `closed` | the same, but the packet never left the page's buffer |

Every invoked send ends with exactly one of these, at the latest when the page is refreshed or closed,
so a checker can always classify it. Memory is bounded by the sends in flight.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.history import HistoryWriter, OpType, lineage_root, message_id
from harness.scenario import ClientSettings

MANUAL_RETRY_TIMEOUT = 5.0
"""The tutorial's `socket.timeout(5000)` for the manual retry, used when the scenario sets no ack_timeout."""


@dataclass(frozen=True)
class SendPolicy:
    """How the page emits `chat message`, derived once from the client settings."""

    observe_ack: bool
    """A callback is attached to every emit (always in the `queue` and `manual` modes)."""
    queued: bool
    """socket.io-client's `retries` queue is on (it is only when retries > 0, as in the JS client)."""
    plain_callback: bool
    """The callback has no timeout: a disconnect drops it silently once its packet was written."""
    manual_timeout: float | None
    """The per-emit `socket.timeout()` of the manual retry mode, else None."""

    @classmethod
    def of(cls, settings: ClientSettings) -> SendPolicy:
        if settings.retry_mode == "manual":
            return cls(True, False, False, settings.ack_timeout or MANUAL_RETRY_TIMEOUT)
        queued = settings.retry_mode == "queue" and settings.retries > 0
        observe = settings.ack or settings.retry_mode == "queue"
        return cls(observe, queued, observe and not queued and settings.ack_timeout is None, None)


class _Send:
    __slots__ = ("tries",)

    def __init__(self) -> None:
        self.tries = 0


class PageRecorder:
    """Turns one page's observations into history events under its process name."""

    def __init__(self, history: HistoryWriter, proc: str, policy: SendPolicy) -> None:
        self.history = history
        self.proc = proc
        self.policy = policy
        self._sends: dict[str, _Send] = {}
        self.closed = False

    @property
    def pending(self) -> int:
        return len(self._sends)

    def begin(self, server_offset: int | str) -> None:
        self._append("ok", "start", {"lineage": lineage_root(self.proc), "server_offset": server_offset})

    def invoke(self, msg_id: str, client_offset: str | None) -> None:
        self._sends[msg_id] = _Send()
        self._append("invoke", "send", {"id": msg_id, "client_offset": client_offset})

    def written(self, content: Any) -> None:
        """A `chat message` carrying `content` was handed to the transport (one try)."""
        msg_id = message_id(content)
        send = self._sends.get(msg_id) if msg_id is not None else None
        if msg_id is None or send is None or self.closed:
            return
        send.tries += 1
        if not self.policy.observe_ack:
            self._settle(msg_id, "info", reason="no-ack")

    def acked(self, msg_id: str) -> None:
        send = self._sends.get(msg_id)
        if send is not None and not self.closed:
            self._settle(msg_id, "ok", tries=send.tries)

    def failed(self, msg_id: str, reason: str) -> None:
        """The callback reported an error: indeterminate if the packet was written, else certainly lost."""
        send = self._sends.get(msg_id)
        if send is not None and not self.closed:
            self._settle(msg_id, "info" if send.tries else "fail", reason=reason)

    def connected(self, sid: str, recovered: bool, server_offset: int | str) -> None:
        self._append("ok", "connect", {"sid": sid, "recovered": recovered, "server_offset": server_offset})

    def connect_failed(self, reason: str) -> None:
        self._append("fail", "connect", {"reason": reason})

    def disconnected(self, reason: str) -> None:
        if self.closed:
            return
        self._append("info", "disconnect", {"reason": reason})
        if self.policy.plain_callback:
            for msg_id in [m for m, s in self._sends.items() if s.tries]:
                self._settle(msg_id, "info", reason="disconnect")

    def received(self, args: list[Any]) -> None:
        """A tutorial `chat message` broadcast: `(content, serverOffset[, CSR offset])` as the listener sees it."""
        content = args[0] if args else None
        server_offset = args[1] if len(args) > 1 and _is_int(args[1]) else None
        csr_offset = args[-1] if len(args) > 1 and isinstance(args[-1], str) else None
        self.received_message(content, server_offset, csr_offset)

    def received_message(self, content: Any, server_offset: int | str | None, csr_offset: str | None) -> None:
        """A broadcast of a stored message, decoded by the target's protocol (`harness.protocol`)."""
        self._append("ok", "recv", {"id": message_id(content), "server_offset": server_offset,
                                    "csr_offset": csr_offset, "content": content})

    def refresh(self, next_proc: str) -> None:
        """The page is thrown away; its unsettled sends end here."""
        self._settle_all("refresh", "refresh")
        self._append("info", "refresh", {"next": next_proc})
        self.closed = True

    def end(self, connected: bool) -> None:
        """The run is over for this page: settle what is left, then record the final state."""
        self._settle_all("disconnect", "closed")
        self._append("ok", "end", {"connected": connected})
        self.closed = True

    def _settle_all(self, info_reason: str, fail_reason: str) -> None:
        for msg_id, send in list(self._sends.items()):
            if send.tries:
                self._settle(msg_id, "info", reason=info_reason)
            else:
                self._settle(msg_id, "fail", reason=fail_reason)

    def _settle(self, msg_id: str, type_: OpType, **value: Any) -> None:
        del self._sends[msg_id]
        self._append(type_, "send", {"id": msg_id, **value})

    def _append(self, type_: OpType, f: str, value: dict[str, Any]) -> None:
        if not self.closed:
            self.history.append(self.proc, type_, f, value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
