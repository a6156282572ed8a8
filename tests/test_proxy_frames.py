"""WebSocket frame parsing and Engine.IO / Socket.IO packet recognition, without sockets."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.proxy.frames import (
    BINARY,
    CLOSE,
    CONTINUATION,
    PING,
    PONG,
    TEXT,
    FrameParser,
    MessageAssembler,
    encode_frame,
)
from harness.proxy.packets import parse_sio, parse_ws_text

masks = st.one_of(st.none(), st.binary(min_size=4, max_size=4))


@st.composite
def conversations(draw):
    """Messages (text or binary, fragmented or not, masked or not) with control frames between fragments."""
    messages, wire = [], b""
    for _ in range(draw(st.integers(1, 4))):
        opcode = draw(st.sampled_from([TEXT, BINARY]))
        payload = draw(st.binary(max_size=300)) if opcode == BINARY else \
            draw(st.text(max_size=100)).encode()
        cuts = sorted(draw(st.lists(st.integers(0, len(payload)), max_size=3)))
        parts = [payload[a:b] for a, b in zip([0, *cuts], [*cuts, len(payload)])]
        for i, part in enumerate(parts):
            wire += encode_frame(opcode if i == 0 else CONTINUATION, part, fin=i == len(parts) - 1,
                                 mask=draw(masks))
            if draw(st.booleans()):
                wire += encode_frame(draw(st.sampled_from([PING, PONG])), draw(st.binary(max_size=10)),
                                     mask=draw(masks))
        messages.append((opcode, payload))
    return messages, wire


def _parse(wire: bytes, cuts: list[int]):
    parser, assembler = FrameParser(), MessageAssembler()
    frames, messages = [], []
    for a, b in zip([0, *cuts], [*cuts, len(wire)]):
        for frame in parser.feed(wire[a:b]):
            frames.append(frame)
            if not frame.is_control:
                message = assembler.add(frame)
                if message:
                    messages.append(message)
    return frames, messages


@settings(max_examples=200, deadline=None)
@given(conversations(), st.data())
def test_split_anywhere_gives_the_same_frames_and_messages(conversation, data):
    expected, wire = conversation
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=8)))
    frames, messages = _parse(wire, cuts)
    assert b"".join(f.raw for f in frames) == wire  # byte for byte
    assert [m.opcode for m in messages] == [op for op, _ in expected]
    assert [m.payload for m in messages if m.opcode == TEXT] == [p for op, p in expected if op == TEXT]


def test_every_byte_boundary_of_a_masked_fragmented_exchange():
    wire = (encode_frame(TEXT, b'42["chat', fin=False, mask=b"abcd")
            + encode_frame(PING, b"", mask=b"wxyz")
            + encode_frame(CONTINUATION, b' message","hi"]', mask=b"1234")
            + encode_frame(CLOSE, b"\x03\xe8"))
    for cut in range(len(wire) + 1):
        frames, messages = _parse(wire, [cut])
        assert b"".join(f.raw for f in frames) == wire
        assert [f.opcode for f in frames] == [TEXT, PING, CONTINUATION, CLOSE]
        assert [m.payload for m in messages] == [b'42["chat message","hi"]']


def test_long_lengths():
    for n in (125, 126, 65535, 65536, 70000):
        frames, _ = _parse(encode_frame(BINARY, b"z" * n, mask=b"\x00\xff\x00\xff"), [n // 2])
        assert len(frames) == 1 and frames[0].payload == b"z" * n


def test_socketio_packets():
    assert parse_ws_text(b"2") == ("PING", None)
    eio, sio = parse_ws_text(b'42["chat message","hello",1]')
    assert eio == "MESSAGE" and (sio.type, sio.event, sio.ack_id, sio.nsp) == ("EVENT", "chat message", None, "/")
    sio = parse_sio('2/admin,17["chat message","x"]')
    assert (sio.type, sio.nsp, sio.ack_id, sio.event) == ("EVENT", "/admin", 17, "chat message")
    sio = parse_sio("312[]")
    assert (sio.type, sio.ack_id, sio.event) == ("ACK", 12, None)
    sio = parse_sio('51-["upload",{"_placeholder":true,"num":0}]')
    assert (sio.type, sio.attachments, sio.event) == ("BINARY_EVENT", 1, "upload")
    assert parse_sio('0{"token":"x"}').type == "CONNECT"
    assert parse_sio("9") is None and parse_ws_text(b"\xff") is None
