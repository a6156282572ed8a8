"""Following one direction's HTTP/1.1 messages up to the WebSocket upgrade, without changing a byte.

A frame toxic has to know where the HTTP exchange of a connection ends and WebSocket frames begin: the
upgrade request (upstream) and the `101` response (downstream). The heads are read by hand rather than
with an HTTP library because the proxy forwards every byte exactly as it arrived (header case, order,
whitespace, how the bytes were split): a parser that hands back parsed events (h11, httptools) does not
say where each message ended in the byte stream, and writing its events out again would change bytes.
Only what Engine.IO needs is followed: heads, `Content-Length` bodies, the upgrade; anything else
(chunked bodies, responses delimited by the close, non-HTTP traffic) turns the direction into plain bytes.
"""

from __future__ import annotations

import re

MAX_HEAD = 65536
_CONTENT_LENGTH = re.compile(rb"^content-length:\s*(\d+)\s*$", re.I | re.M)
_CHUNKED = re.compile(rb"^transfer-encoding:.*chunked", re.I | re.M)
_UPGRADE = re.compile(rb"^upgrade:\s*websocket\s*$", re.I | re.M)
_EXTENSIONS = re.compile(rb"^sec-websocket-extensions:[^\r\n]*\r\n", re.I | re.M)


def is_upgrade(head: bytes) -> bool:
    """Whether a request head asks for the WebSocket upgrade."""
    return _UPGRADE.search(head) is not None


def without_extension_offer(head: bytes) -> bytes:
    """The request head with its `Sec-WebSocket-Extensions` lines removed (everything else as it was)."""
    return _EXTENSIONS.sub(b"", head)


class HttpFollower:
    """Walks one direction's HTTP/1.1 messages until that direction turns into WebSocket frames."""

    def __init__(self, stream: str) -> None:
        self.stream = stream
        self.head = bytearray()
        self.body_left = 0
        self.state = "head"  # head -> body -> head ... -> ws | raw

    def feed(self, data: bytes) -> tuple[bytes, bytes]:
        """Returns (bytes to forward as HTTP, bytes that already belong to the WebSocket)."""
        out = bytearray()
        while data and self.state in ("head", "body"):
            if self.state == "body":
                n = min(self.body_left, len(data))
                out += data[:n]
                data = data[n:]
                self.body_left -= n
                if not self.body_left:
                    self.state = "head"
                continue
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                if self._looks_like_http():
                    return bytes(out), b""
                self.state = "raw"
                out += self.head
                self.head.clear()
                return bytes(out), b""
            head, data = bytes(self.head[:end + 4]), bytes(self.head[end + 4:])
            self.head.clear()
            out += head
            self.state = self._after(head)
        if self.state == "raw":
            return bytes(out) + data, b""
        return bytes(out), data

    def _looks_like_http(self) -> bool:
        """Whether the head read so far can still become an HTTP/1.1 request or response head."""
        head = bytes(self.head[:16])
        if len(self.head) > MAX_HEAD:
            return False
        if self.stream == "downstream":
            return head.startswith(b"HTTP/1.") or b"HTTP/1.".startswith(head)
        method, space, _ = head.partition(b" ")
        return method.isalpha() and method.isupper() and (bool(space) or len(method) < 16)

    def _after(self, head: bytes) -> str:
        start = head.split(b"\r\n", 1)[0]
        if self.stream == "upstream" and is_upgrade(head):
            return "ws"
        if self.stream == "downstream" and start[9:12] == b"101":
            return "ws"
        if _CHUNKED.search(head):
            return "raw"  # not needed by Engine.IO; forward the rest of the connection as is
        length = _CONTENT_LENGTH.search(head)
        if length and int(length.group(1)):
            self.body_left = int(length.group(1))
            return "body"
        if self.stream == "downstream" and not length and start[9:12] not in (b"204", b"304"):
            return "raw"  # a response delimited by the close of the connection
        return "head"
