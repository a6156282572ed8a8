"""A chat with its own protocol on PostgreSQL: python-socketio on aiohttp, asyncpg.

Nothing here follows the tutorial's names, which is the point of the example:

- a client sends `message:send` with one object `{text, id}` (`id`: its own unique id for the message)
  and asks for an ack; the ack is `{ok: true, id, seq}` once the row is committed, `{ok: false, error}`
  for a malformed message, and no ack at all while the database is unavailable (the client retries when
  its ack timeout expires, as the tutorial's page does);
- everyone receives `message:new` with `{id, text, seq}`, `seq` being the row's BIGSERIAL number;
  the sequence starts just below 2**53, so ids soon pass what a JavaScript number holds exactly;
- a client reconnects with the handshake auth `{since: seq}` and first receives every message after it;
- the same `id` sent twice is stored once (UNIQUE) and acknowledged both times.

usage: DATABASE_URL=postgresql://... [PING_INTERVAL_MS=25000 PING_TIMEOUT_MS=20000] python3 app.py --port 8080
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import signal
from typing import Any

import asyncpg
import socketio
from aiohttp import web

FIRST_SEQ = 2**53 - 20
SCHEMA = f"""
CREATE SEQUENCE IF NOT EXISTS messages_seq START WITH {FIRST_SEQ};
CREATE TABLE IF NOT EXISTS messages (
    seq BIGINT PRIMARY KEY DEFAULT nextval('messages_seq'),
    client_id TEXT UNIQUE,
    body TEXT NOT NULL
);
"""
ROOM = "chat"
DB_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)


class Chat:
    def __init__(self, sio: socketio.AsyncServer, pool: asyncpg.Pool, last_seq: int) -> None:
        self.sio = sio
        self.pool = pool
        # One at a time: a row's commit and its broadcast, or a newcomer's catch-up and its joining the
        # room, so every client sees the messages in seq order, each once.
        self.order = asyncio.Lock()
        self.broadcast_up_to = last_seq
        """Every row up to this seq has been broadcast by this process (or was there before it started)."""

    async def connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        since = auth.get("since") if isinstance(auth, dict) else None
        async with self.order:
            if isinstance(since, int):
                try:
                    await self._catch_up()
                    rows = await self.pool.fetch(
                        "SELECT seq, client_id, body FROM messages WHERE seq > $1 AND seq <= $2 ORDER BY seq",
                        since, self.broadcast_up_to)
                except DB_ERRORS:
                    rows = []  # the client catches up on its next connection
                for row in rows:
                    await self.sio.emit("message:new", _message(row), to=sid)
            await self.sio.enter_room(sid, ROOM)

    async def _catch_up(self) -> None:
        """Broadcast every committed row not broadcast yet, in seq order (the caller holds `order`).

        Not only the row just inserted: an insert whose reply was lost with the database link may have
        committed, and its retry then finds the row already there. A newcomer runs it before its own
        replay, which then stops where the broadcasts stop, so it gets each row once.
        """
        rows = await self.pool.fetch("SELECT seq, client_id, body FROM messages WHERE seq > $1 ORDER BY seq",
                                     self.broadcast_up_to, timeout=2)
        for row in rows:
            await self.sio.emit("message:new", _message(row), to=ROOM)
            self.broadcast_up_to = row["seq"]

    async def send(self, sid: str, payload: Any = None) -> Any:
        if not isinstance(payload, dict) or not isinstance(payload.get("text"), str):
            return {"ok": False, "error": "expected {text, id}"}
        client_id = payload.get("id")
        async with self.order:
            try:
                seq = await self.pool.fetchval(
                    "INSERT INTO messages (client_id, body) VALUES ($1, $2) "
                    "ON CONFLICT (client_id) DO NOTHING RETURNING seq", client_id, payload["text"], timeout=2)
                if seq is None:
                    seq = await self.pool.fetchval("SELECT seq FROM messages WHERE client_id = $1",
                                                   client_id, timeout=2)
                await self._catch_up()
            except DB_ERRORS:
                return self.sio.not_handled  # no ack: the client retries
        return {"ok": True, "id": client_id, "seq": seq}


def _ping_interval(seconds: float) -> float | tuple[float, float]:
    """python-engineio's `ping_interval` argument for a ping every `seconds`.

    Its OPEN packet announces `int(interval + grace)` whole seconds, so a bare 0.25 would be announced as
    0 ms and every client would give up on the server between two pings; a grace that rounds the
    announcement up to the next whole second keeps the pings as asked.
    """
    whole = math.ceil(seconds)
    return seconds if whole == seconds else (seconds, whole - seconds + 1e-6)


def _message(row: asyncpg.Record) -> dict[str, Any]:
    return {"id": row["client_id"], "text": row["body"], "seq": row["seq"]}


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    args = parser.parse_args()
    pool = await asyncpg.create_pool(os.environ["DATABASE_URL"], min_size=1, max_size=4, timeout=2)
    await pool.execute(SCHEMA)
    last_seq = await pool.fetchval("SELECT coalesce(max(seq), 0) FROM messages")
    # Engine.IO's heartbeat, python-socketio's defaults unless set: how soon a half-open link is noticed.
    interval = float(os.environ.get("PING_INTERVAL_MS") or 25000) / 1000
    sio = socketio.AsyncServer(async_mode="aiohttp", ping_interval=_ping_interval(interval),
                               ping_timeout=float(os.environ.get("PING_TIMEOUT_MS") or 20000) / 1000)
    chat = Chat(sio, pool, last_seq)
    sio.on("connect", chat.connect)
    sio.on("message:send", chat.send)
    app = web.Application()
    sio.attach(app)
    app.router.add_get("/healthz", _health)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.port, reuse_address=True).start()
    print(f"pg-chat listening on 127.0.0.1:{args.port}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    # Closes every transport first: clients see "transport close" and reconnect, as after a restart.
    await sio.shutdown()
    await runner.cleanup()
    pool.terminate()


if __name__ == "__main__":
    asyncio.run(main())
