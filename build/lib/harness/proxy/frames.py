"""WebSocket framing (RFC 6455) as seen on the wire by a proxy: frames, and messages made of frames.

The parser is incremental: feed it bytes as TCP delivers them (split anywhere) and it returns the
frames completed so far, each with its exact original bytes (`raw`) so a proxy can forward it
unchanged, and its unmasked payload so a proxy can read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def unmask(key: bytes, payload: bytes) -> bytes:
    """XOR `payload` with the 4-byte masking `key`, done as one big-integer operation (fast in CPython)."""
    n = len(payload)
    if not n:
        return payload
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(stream, "little")).to_bytes(n, "little")


@dataclass(slots=True)
class Frame:
    fin: bool
    rsv1: bool
    opcode: int
    raw: bytes
    start: int  # where the payload begins in `raw`
    key: bytes | None  # the client's masking key

    @property
    def is_control(self) -> bool:
        return self.opcode >= 0x8

    @property
    def payload(self) -> bytes:
        """The unmasked payload, computed on demand: a proxy only reads the frames it must classify."""
        data = self.raw[self.start:]
        return unmask(self.key, data) if self.key else data


class FrameParser:
    """Bytes in, complete frames out; keeps any incomplete tail for the next call."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        self.buffer += data
        buf = self.buffer
        frames = []
        pos = 0
        while True:
            frame, end = self._parse_one(buf, pos)
            if frame is None:
                break
            frames.append(frame)
            pos = end
        if pos:
            del buf[:pos]
        return frames

    @staticmethod
    def _parse_one(buf: bytearray, pos: int) -> tuple[Frame | None, int]:
        avail = len(buf) - pos
        if avail < 2:
            return None, pos
        b0, b1 = buf[pos], buf[pos + 1]
        length = b1 & 0x7F
        head = 2
        if length == 126:
            head = 4
            if avail < head:
                return None, pos
            length = int.from_bytes(buf[pos + 2:pos + 4], "big")
        elif length == 127:
            head = 10
            if avail < head:
                return None, pos
            length = int.from_bytes(buf[pos + 2:pos + 10], "big")
        masked = b1 & 0x80
        if masked:
            head += 4
        end = pos + head + length
        if len(buf) < end:
            return None, pos
        key = bytes(buf[pos + head - 4:pos + head]) if masked else None
        return Frame(bool(b0 & 0x80), bool(b0 & 0x40), b0 & 0x0F, bytes(buf[pos:end]), head, key), end


@dataclass(slots=True)
class Message:
    """A data message: its frames' original bytes and, for text messages, the joined payload."""

    opcode: int
    compressed: bool
    payload: bytes
    raws: list[bytes] = field(default_factory=list)


class MessageAssembler:
    """Frames in, complete data messages out (fragmented messages joined; control frames are not data)."""

    def __init__(self) -> None:
        self.current: Message | None = None
        self.frames: list[Frame] = []

    @property
    def in_progress(self) -> bool:
        return self.current is not None

    def add(self, frame: Frame) -> Message | None:
        """Add a data frame; returns the message when this frame completes it."""
        if self.current is None:
            self.current = Message(frame.opcode, frame.rsv1, b"")
            self.frames = []
        self.current.raws.append(frame.raw)
        self.frames.append(frame)
        if not frame.fin:
            return None
        message, self.current = self.current, None
        if message.opcode == TEXT:  # binary payloads are never read: skip unmasking them
            message.payload = b"".join(f.payload for f in self.frames)
        self.frames = []
        return message


def encode_frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bytes | None = None) -> bytes:
    """Build one frame (used by tests and tools; the proxy only forwards what it received)."""
    n = len(payload)
    head = bytearray([(0x80 if fin else 0) | opcode])
    mask_bit = 0x80 if mask else 0
    if n < 126:
        head.append(mask_bit | n)
    elif n < 1 << 16:
        head.append(mask_bit | 126)
        head += n.to_bytes(2, "big")
    else:
        head.append(mask_bit | 127)
        head += n.to_bytes(8, "big")
    if mask:
        return bytes(head) + mask + unmask(mask, payload)
    return bytes(head) + payload
