"""The `frame` toxic: drop, delay, duplicate Socket.IO packets on the WebSocket transport, or cut the
connection right after one, chosen by packet type, event name and namespace, counted across connections.

It follows the HTTP exchange of its direction until the WebSocket upgrade (requests upstream, the
`101` response downstream; plain HTTP such as long-polling is passed through untouched), then parses
frames. A matching unit is one complete message (all fragments, control frames interleaved in it kept
in place) plus, for BINARY_EVENT / BINARY_ACK, its binary attachments. Everything else is forwarded
with its original bytes as soon as it is complete.
"""

from __future__ import annotations

import asyncio
import random
import re
from typing import TYPE_CHECKING, Any

from harness.proxy.apierror import ApiError
from harness.proxy.frames import BINARY, TEXT, FrameParser, MessageAssembler
from harness.proxy.packets import EIO_TYPES, SIO_TYPES, SioPacket, parse_ws_text
from harness.proxy.toxics import CloseLink, Emit, EmitEof, Stage, Toxic, ToxicType, int_attribute

if TYPE_CHECKING:
    from harness.proxy.link import Pipe

ACTIONS = ("drop", "delay", "duplicate", "cut")
_CONTENT_LENGTH = re.compile(rb"^content-length:\s*(\d+)\s*$", re.I | re.M)
_CHUNKED = re.compile(rb"^transfer-encoding:.*chunked", re.I | re.M)
_MAX_HEAD = 65536
_UPGRADE = re.compile(rb"^upgrade:\s*websocket\s*$", re.I | re.M)
_EXTENSIONS = re.compile(rb"^sec-websocket-extensions:[^\r\n]*\r\n", re.I | re.M)


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
        if len(self.head) > _MAX_HEAD:
            return False
        if self.stream == "downstream":
            return head.startswith(b"HTTP/1.") or b"HTTP/1.".startswith(head)
        method, space, _ = head.partition(b" ")
        return method.isalpha() and method.isupper() and (bool(space) or len(method) < 16)

    def _after(self, head: bytes) -> str:
        start = head.split(b"\r\n", 1)[0]
        if self.stream == "upstream" and _UPGRADE.search(head):
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


class FrameStage(Stage):
    def __init__(self, toxic: Toxic, rng: random.Random, pipe: Pipe) -> None:
        super().__init__(toxic, rng, pipe)
        self.http = HttpFollower(toxic.stream)
        self.raw = False
        self.parser = FrameParser()
        self.assembler = MessageAssembler()
        self.held: list[tuple[bytes, bool]] = []  # (frame bytes, is data) of the unit being read
        self.awaiting = 0  # binary attachments still to join the held unit

    def join_late(self) -> None:
        # Frame boundaries of a stream already under way are unknown: leave this connection alone.
        self.raw = True

    def applies(self) -> bool:
        # Per-chunk toxicity is drawn per matching packet instead (skipping chunks would lose framing).
        return self.active

    async def push(self, data: bytes, t: float, out: Emit) -> None:
        if self.raw:
            await out(data, t)
            return
        ready = []  # bytes to forward as they are, written in one go: fewer writes, same bytes
        if self.http.state != "ws":
            passthrough, data = self.http.feed(data)
            ready.append(passthrough)
            if self.http.state == "raw":
                self.raw = True
        for frame in self.parser.feed(data) if data else ():
            if frame.is_control:
                if self.held:
                    self.held.append((frame.raw, False))
                else:
                    ready.append(frame.raw)
                continue
            self.held.append((frame.raw, True))
            message = self.assembler.add(frame)
            if message is None:
                continue
            if self.awaiting:
                if message.opcode == BINARY:
                    self.awaiting -= 1
                    if self.awaiting:
                        continue
                else:
                    self.awaiting = 0
                await self._act(ready, t, out)
                continue
            packet = None
            if message.opcode == TEXT and not message.compressed:
                packet = parse_ws_text(message.payload)
            if packet is None or not self._matches(*packet) or not self._affected():
                ready.extend(raw for raw, _ in self.held)
                self.held = []
            elif packet[1] is not None and packet[1].attachments:
                self.awaiting = packet[1].attachments
            else:
                await self._act(ready, t, out)
        if any(ready):
            await out(b"".join(ready), t)

    def _matches(self, eio: str, sio: SioPacket | None) -> bool:
        a = self.toxic.attributes
        if a["eio_type"] and eio != a["eio_type"]:
            return False
        if a["sio_type"] or a["event"] or a["nsp"]:
            if sio is None:
                return False
            if a["sio_type"] and sio.type != a["sio_type"]:
                return False
            if a["event"] and sio.event != a["event"]:
                return False
            if a["nsp"] and sio.nsp != a["nsp"]:
                return False
        return True

    def _affected(self) -> bool:
        self.toxic.matched += 1
        k = self.toxic.matched
        nth, count = self.toxic.attributes["nth"], self.toxic.attributes["count"]
        if k < nth or (count and k >= nth + count):
            return False
        return self.toxic.toxicity_mode != "chunk" or self.draw()

    async def _act(self, ready: list[bytes], t: float, out: Emit) -> None:
        """Apply the action to the held unit, after forwarding what came before it."""
        if any(ready):
            await out(b"".join(ready), t)
        ready.clear()
        action = self.toxic.attributes["action"]
        self.toxic.fired += 1
        held, self.held = self.held, []
        if action == "drop":
            ready.extend(raw for raw, is_data in held if not is_data)
            return
        if action == "delay":
            await asyncio.sleep(self.toxic.attributes["delay"] / 1000)
        ready.extend(raw for raw, _ in held)
        if action == "duplicate":
            ready.extend(raw for raw, is_data in held if is_data)
        elif action == "cut":
            await out(b"".join(ready), t)
            raise CloseLink()


class OfferStripStage(Stage):
    """Removes the client's `Sec-WebSocket-Extensions` offer from its WebSocket upgrade request.

    Browsers and socket.io-client on Node offer permessage-deflate; a compressed message cannot be matched
    by a frame toxic. Without the offer the server never compresses, so every message on a connection that
    a frame toxic may inspect (in either direction) stays readable. It acts on the first request head only
    and passes everything after it through unchanged.
    """

    def __init__(self, toxic: Toxic, rng: random.Random, pipe: Pipe) -> None:
        super().__init__(toxic, rng, pipe)
        self.head: bytearray | None = bytearray()
        self.out: Emit | None = None

    def applies(self) -> bool:
        return True

    async def push(self, data: bytes, t: float, out: Emit) -> None:
        if self.head is None:
            await out(data, t)
            return
        self.head += data
        self.out = out
        end = self.head.find(b"\r\n\r\n")
        if end < 0:
            if len(self.head) > _MAX_HEAD:
                await self._release(t)
            return
        head, rest = bytes(self.head[:end + 4]), bytes(self.head[end + 4:])
        self.head = None
        if _UPGRADE.search(head):
            head = _EXTENSIONS.sub(b"", head)
        await out(head + rest, t)

    async def _release(self, t: float) -> None:
        held, self.head = bytes(self.head or b""), None
        if held and self.out is not None:
            await self.out(held, t)

    async def eof(self, out: EmitEof) -> None:
        await self._release(asyncio.get_running_loop().time())
        await out()


class FrameToxicType(ToxicType):
    def normalise(self, attrs: dict[str, Any]) -> dict[str, Any]:
        merged = {key: attrs.get(key, default) for key, default in self.defaults.items()}
        if merged["action"] not in ACTIONS:
            raise ApiError(400, f"attribute action must be one of {', '.join(ACTIONS)}, got {merged['action']!r}")
        if merged["sio_type"] and merged["sio_type"] not in SIO_TYPES:
            raise ApiError(400, f"attribute sio_type must be one of {', '.join(SIO_TYPES)}, "
                                f"got {merged['sio_type']!r}")
        if merged["eio_type"] and merged["eio_type"] not in EIO_TYPES.values():
            raise ApiError(400, f"attribute eio_type must be one of {', '.join(EIO_TYPES.values())}, "
                                f"got {merged['eio_type']!r}")
        for key in ("event", "nsp"):
            if not isinstance(merged[key], str):
                raise ApiError(400, f"attribute {key} must be a string, got {merged[key]!r}")
        for key, minimum in self.minimums.items():
            merged[key] = int_attribute(merged, key, minimum)
        return merged


FRAME_TOXIC = FrameToxicType(
    {"action": "drop", "eio_type": "", "sio_type": "", "event": "", "nsp": "", "nth": 1, "count": 1, "delay": 0},
    {"nth": 1, "count": 0, "delay": 0}, FrameStage)
