"""Following HTTP/1.1 up to the WebSocket upgrade, without sockets: where the HTTP ends, every byte kept."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.proxy.frames import TEXT, encode_frame
from harness.proxy.http_follower import HttpFollower, is_upgrade, without_extension_offer

POLL = b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: h\r\n\r\n"
POST = b"POST /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n40{}x"
UPGRADE = (b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
           b"Connection: Upgrade\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n")
FRAMES = encode_frame(TEXT, b"2probe", mask=b"abcd") + encode_frame(TEXT, b"5", mask=b"abcd")
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
SWITCHING = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"


def _follow(stream: str, wire: bytes, cuts: list[int]) -> tuple[bytes, bytes, str]:
    follower, http, ws = HttpFollower(stream), b"", b""
    for a, b in zip([0, *cuts], [*cuts, len(wire)]):
        out, rest = follower.feed(wire[a:b]) if follower.state != "ws" else (b"", wire[a:b])
        http, ws = http + out, ws + rest
    return http, ws, follower.state


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_requests_then_the_upgrade_split_anywhere(data: st.DataObject) -> None:
    wire = POLL + POST + UPGRADE + FRAMES
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=6)))
    assert _follow("upstream", wire, cuts) == (POLL + POST + UPGRADE, FRAMES, "ws")


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_responses_then_the_101_split_anywhere(data: st.DataObject) -> None:
    frames = encode_frame(TEXT, b"3probe")
    wire = OK + SWITCHING + frames
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=6)))
    assert _follow("downstream", wire, cuts) == (OK + SWITCHING, frames, "ws")


@pytest.mark.parametrize(("stream", "wire"), [
    ("upstream", b"\x16\x03\x01\x02\x00 a TLS hello, not HTTP"),
    ("upstream", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    ("downstream", b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the close"),
])
def test_what_it_cannot_follow_is_passed_on_as_it_came(stream: str, wire: bytes) -> None:
    assert _follow(stream, wire, [3, 20]) == (wire, b"", "raw")


def test_the_extension_offer_is_removed_from_an_upgrade_and_nothing_else() -> None:
    assert is_upgrade(UPGRADE) and not is_upgrade(POLL)
    stripped = without_extension_offer(UPGRADE)
    assert b"Sec-WebSocket-Extensions" not in stripped
    assert stripped == UPGRADE.replace(b"Sec-WebSocket-Extensions: permessage-deflate\r\n", b"")
