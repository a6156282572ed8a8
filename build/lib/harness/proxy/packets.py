"""Engine.IO / Socket.IO packets inside WebSocket messages, recognised well enough to filter on.

A text WebSocket message is one Engine.IO packet: its first character is the Engine.IO type
(`4` = message), and an Engine.IO message carries one Socket.IO packet:
`<type>[<attachments>-][<namespace>,][<ack id>][JSON]`. Binary messages are the attachments of a
preceding BINARY_EVENT / BINARY_ACK.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

EIO_TYPES = {"0": "OPEN", "1": "CLOSE", "2": "PING", "3": "PONG", "4": "MESSAGE", "5": "UPGRADE", "6": "NOOP"}
SIO_TYPES = ("CONNECT", "DISCONNECT", "EVENT", "ACK", "CONNECT_ERROR", "BINARY_EVENT", "BINARY_ACK")
_scan_string = json.decoder.scanstring  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class SioPacket:
    type: str
    nsp: str
    ack_id: int | None
    attachments: int
    event: str | None  # the event name of EVENT / BINARY_EVENT packets


def parse_sio(text: str) -> SioPacket | None:
    """Read a Socket.IO packet's header (and event name); None when it is not one."""
    if not text or not "0" <= text[0] <= "6":
        return None
    kind = SIO_TYPES[int(text[0])]
    i, n = 1, len(text)
    attachments = 0
    if kind in ("BINARY_EVENT", "BINARY_ACK"):
        j = text.find("-", i)
        if j < 0 or not text[i:j].isdigit():
            return None
        attachments = int(text[i:j])
        i = j + 1
    nsp = "/"
    if i < n and text[i] == "/":
        j = text.find(",", i)
        j = n if j < 0 else j
        nsp = text[i:j]
        i = j + 1
    j = i
    while j < n and text[j].isdigit():
        j += 1
    ack_id = int(text[i:j]) if j > i else None
    event = None
    if kind in ("EVENT", "BINARY_EVENT") and text.startswith('["', j):
        try:
            event = _scan_string(text, j + 2)[0]
        except ValueError:
            return None
    return SioPacket(kind, nsp, ack_id, attachments, event)


def parse_ws_text(payload: bytes) -> tuple[str, SioPacket | None] | None:
    """An Engine.IO packet from a text message: (Engine.IO type, Socket.IO packet if a MESSAGE)."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not text or text[0] not in EIO_TYPES:
        return None
    eio = EIO_TYPES[text[0]]
    return eio, (parse_sio(text[1:]) if eio == "MESSAGE" else None)
