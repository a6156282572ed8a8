"""The `replay` state reader: the server's own answer to a fresh client that asks for everything.

After the run a new client (no session to recover) connects with offset 0 in its auth, as described by the
target's protocol, and collects every message broadcast to it until none has come for `state.settle`
seconds. What a server with server delivery replays then is what it stored: a black box needs nothing
else. Ids are the replayed server offsets; the client offsets are unknown.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import socketio

from harness.errors import BackendUnavailableError
from harness.protocol import Protocol
from harness.targetfile import State

CONNECT_TIMEOUT = 10.0
REPLAY_TIMEOUT = 60.0
"""Upper bound on a whole replay; a server still sending after it is reported, not waited for."""


async def read_replay(url: str, protocol: Protocol, state: State) -> list[dict[str, Any]]:
    client = socketio.AsyncClient(reconnection=False, handle_sigint=False)
    records: dict[Any, dict[str, Any]] = {}
    last = time.monotonic()

    async def on_any(event: str, *args: Any) -> None:
        nonlocal last
        message = protocol.decode(event, list(args))
        if message is None or message.offset is None:
            return
        last = time.monotonic()
        # The same id twice is one stored row delivered twice; the state holds it once.
        records.setdefault(message.offset, {"id": message.offset, "content": message.content})

    client.on("*", on_any, namespace=protocol.namespace)
    # Offset 0 for integer ids; a server with string ids is asked with no offset at all.
    auth = protocol.auth_payload(0 if state.order == "integer" else None)
    # WebSocket whenever the target allows it: a polling replay of many messages was seen to end in
    # python-engineio's "Unexpected packet from server" (docs/targets.md, state).
    transports = ["websocket"] if not protocol.transports or "websocket" in protocol.transports \
        else list(protocol.transports)
    try:
        await asyncio.wait_for(client.connect(url, auth=auth, namespaces=[protocol.namespace],
                                              socketio_path=protocol.path, transports=transports,
                                              wait_timeout=CONNECT_TIMEOUT), CONNECT_TIMEOUT + 1)
    except (socketio.exceptions.ConnectionError, TimeoutError, OSError) as exc:
        await client.disconnect()
        raise BackendUnavailableError(f"state replay: cannot connect to {url}: {exc or type(exc).__name__}") from None
    try:
        start = last = time.monotonic()
        # Quiet is an absence of messages: polled, since no event announces it.
        while time.monotonic() - last < state.settle:
            if time.monotonic() - start > REPLAY_TIMEOUT:
                raise BackendUnavailableError(f"state replay: {url} was still replaying after "
                                              f"{REPLAY_TIMEOUT:g}s ({len(records)} messages so far)")
            await asyncio.sleep(0.05)
    finally:
        await client.disconnect()
    return list(records.values())
