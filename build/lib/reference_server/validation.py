"""What the server accepts from a client: the shape of `chat message` and how fast it may come.

Anything else is refused before it reaches the database, with a reason the client can read in the ack
(`{"error": "..."}`) when it asked for one. Nothing refused is stored, and nothing a client sends can
stop the server.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

MAX_CLIENT_OFFSET_CHARS = 256
MAX_SERVER_OFFSET = 2**63 - 1
"""Row ids are 64-bit in both databases; a larger offset would make the driver raise, not the query."""


class BadMessage(ValueError):
    """A `chat message` that does not have the tutorial's shape `(content: str, clientOffset?: str)`."""


@dataclass(frozen=True)
class Message:
    content: str
    client_offset: str | None


def parse_message(args: tuple[Any, ...], max_content_bytes: int) -> Message:
    """Check the arguments of one `chat message` event.

    The clientOffset is optional (the tutorial adds it only in its exactly-once step) and JSON null
    counts as absent, because the browser client turns `undefined` into null on the wire.
    """
    if not args:
        raise BadMessage("missing content: expected chat message (content, clientOffset?)")
    if len(args) > 2:
        raise BadMessage(f"expected chat message (content, clientOffset?), got {len(args)} arguments")
    content = args[0]
    if not isinstance(content, str):
        raise BadMessage(f"content must be a string, got {_json_type(content)}")
    _check_text("content", content)
    size = len(content.encode("utf-8"))
    if size > max_content_bytes:
        raise BadMessage(f"content is {size} bytes, over the limit of {max_content_bytes}")
    offset = args[1] if len(args) == 2 else None
    if offset is not None:
        if not isinstance(offset, str):
            raise BadMessage(f"clientOffset must be a string, got {_json_type(offset)}")
        _check_text("clientOffset", offset)
        if len(offset) > MAX_CLIENT_OFFSET_CHARS:
            raise BadMessage(f"clientOffset is {len(offset)} characters, over the limit of "
                             f"{MAX_CLIENT_OFFSET_CHARS}")
    return Message(content, offset)


def _check_text(name: str, value: str) -> None:
    # Both would be refused by a database later (lone surrogates cannot be encoded, PostgreSQL text
    # cannot hold NUL); refusing them here turns a retry loop into one clear error.
    if "\x00" in value:
        raise BadMessage(f"{name} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadMessage(f"{name} is not valid Unicode (lone surrogate)") from None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, (bytes, bytearray)):
        return "binary"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def parse_server_offset(auth: Any) -> int:
    """`auth.serverOffset` of a handshake: a non-negative integer, 0 when absent (the tutorial's `|| 0`).

    Raises BadMessage for anything else, which refuses the connection with that reason.
    """
    if auth is None:
        return 0
    if not isinstance(auth, dict):
        raise BadMessage(f"auth must be an object, got {_json_type(auth)}")
    offset = auth.get("serverOffset")
    if offset is None:
        return 0
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= MAX_SERVER_OFFSET:
        raise BadMessage(f"auth.serverOffset must be a non-negative integer, got {offset!r:.40}")
    return offset


class RateLimit:
    """A token bucket per connection: `rate` events a second on average, bursts up to `burst`.

    A flood from one client is refused event by event instead of queueing database work for everyone.
    """

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._last = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False
