"""A chat server that does NOT speak the tutorial's protocol, for the target-file tests (an exactly-once app).

    client -> server  `message:send {text, id}`, acknowledged with `{ok: true, id, seq}` once stored (no ack
                      while the database is away, so the page retries)
    server -> all     `message:new {id, text, seq}`
    reconnect         `auth.since` = the last seq seen; the server replays every seq > since

Stored in SQLite (`--db PATH`) or PostgreSQL (`--dsn URL`, seq from a BIGSERIAL started near 2**53),
the client id UNIQUE so a retry is acknowledged and not stored twice. `--dump` prints the stored messages
as JSON lines `{id, content, client_offset}` (the `command` state of a target file) and exits.

usage: python protocol_app.py --port PORT (--db PATH | --dsn URL) [--namespace /NS] [--path PATH]
       [--string-ids] [--dump]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sqlite3
from typing import Any

import socketio
from aiohttp import web

SQLITE_SCHEMA = "CREATE TABLE IF NOT EXISTS messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT, " \
                "client_id TEXT UNIQUE)"
POSTGRES_SCHEMA = "CREATE TABLE IF NOT EXISTS messages (seq BIGSERIAL PRIMARY KEY, body TEXT, client_id TEXT UNIQUE)"
NEAR_2_53 = 2**53 - 10


class Unavailable(Exception):
    """The database refused the write; the message is not acknowledged."""


class Store:
    async def insert(self, text: str, client_id: str | None) -> int | None:
        """The new seq, or None when the client id is already stored."""
        raise NotImplementedError

    async def since(self, seq: int) -> list[tuple[int, str, str | None]]:
        raise NotImplementedError


class SqliteStore(Store):
    def __init__(self, path: str) -> None:
        # Starting waits out a lock (a restart during an outage); then a short busy timeout, so that a
        # locked database fails the insert (no ack) instead of hanging it.
        self.db = sqlite3.connect(path, timeout=10, isolation_level=None)
        self.db.execute(SQLITE_SCHEMA)
        self.db.execute("PRAGMA busy_timeout = 200")

    async def insert(self, text: str, client_id: str | None) -> int | None:
        try:
            cursor = self.db.execute("INSERT INTO messages (body, client_id) VALUES (?, ?)", (text, client_id))
        except sqlite3.IntegrityError:
            return None
        return int(cursor.lastrowid or 0)

    async def since(self, seq: int) -> list[tuple[int, str, str | None]]:
        return list(self.db.execute("SELECT seq, body, client_id FROM messages WHERE seq > ? ORDER BY seq", (seq,)))


class PostgresStore(Store):
    def __init__(self, pool: Any) -> None:
        self.pool = pool

    @classmethod
    async def open(cls, dsn: str) -> PostgresStore:
        import asyncpg

        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4, timeout=5, command_timeout=2)
        async with pool.acquire() as conn:
            created = await conn.fetchval("SELECT to_regclass('messages') IS NULL")
            await conn.execute(POSTGRES_SCHEMA)
            if created:
                await conn.execute(f"ALTER SEQUENCE messages_seq_seq RESTART WITH {NEAR_2_53}")
        return cls(pool)

    async def insert(self, text: str, client_id: str | None) -> int | None:
        import asyncpg

        try:
            return int(await self.pool.fetchval(
                "INSERT INTO messages (body, client_id) VALUES ($1, $2) RETURNING seq", text, client_id))
        except asyncpg.UniqueViolationError:
            return None

    async def since(self, seq: int) -> list[tuple[int, str, str | None]]:
        rows = await self.pool.fetch("SELECT seq, body, client_id FROM messages WHERE seq > $1 ORDER BY seq", seq)
        return [(r["seq"], r["body"], r["client_id"]) for r in rows]


def string_id(seq: int) -> str:
    return f"s{seq:012d}"


def build(store: Store, namespace: str = "/", path: str = "socket.io", string_ids: bool = False) -> web.Application:
    """The app; with `string_ids` its offsets are strings (`s000000000042`), compared in their own order."""
    def offset(seq: int) -> int | str:
        return string_id(seq) if string_ids else seq

    sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins="*")
    app = web.Application()
    sio.attach(app, socketio_path=path)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app.router.add_get("/healthz", health)

    @sio.on("connect", namespace=namespace)
    async def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
        since = auth.get("since", 0) if isinstance(auth, dict) else 0
        try:
            rows = await store.since(int(since.lstrip("s")) if isinstance(since, str) else int(since))
        except Exception:  # the database is away: the client catches up on its next connection
            return
        for seq, text, client_id in rows:
            await sio.emit("message:new", {"id": client_id, "text": text, "seq": offset(seq)}, to=sid,
                           namespace=namespace)

    @sio.on("message:send", namespace=namespace)
    async def send(sid: str, message: Any) -> dict[str, Any]:
        if not isinstance(message, dict) or not isinstance(message.get("text"), str):
            return {"ok": False, "error": "bad message"}
        try:
            seq = await store.insert(message["text"], message.get("id"))
        except Exception as exc:
            # The tutorial's "let the client retry": no ack at all (python-socketio acks whatever a
            # handler returns, so the handler ends by raising).
            raise Unavailable(str(exc)) from exc
        if seq is None:
            return {"ok": True, "id": message.get("id"), "duplicate": True}
        await sio.emit("message:new", {"id": message.get("id"), "text": message["text"], "seq": offset(seq)},
                       namespace=namespace)
        return {"ok": True, "id": message.get("id"), "seq": offset(seq)}

    return app


def dump(path: str) -> None:
    db = sqlite3.connect(path)
    for seq, text, client_id in db.execute("SELECT seq, body, client_id FROM messages ORDER BY seq"):
        print(json.dumps({"id": seq, "content": text, "client_offset": client_id}))


async def serve(port: int, db: str | None, dsn: str | None, namespace: str, path: str, string_ids: bool) -> None:
    store: Store = await PostgresStore.open(dsn) if dsn else SqliteStore(db or "chat.db")
    runner = web.AppRunner(build(store, namespace, path, string_ids))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print(f"protocol app listening on 127.0.0.1:{port}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--db")
    parser.add_argument("--dsn")
    parser.add_argument("--dump", action="store_true")
    parser.add_argument("--namespace", default="/")
    parser.add_argument("--path", default="socket.io")
    parser.add_argument("--string-ids", action="store_true")
    args = parser.parse_args()
    if args.dump:
        dump(args.db)
        return
    asyncio.run(serve(args.port, args.db, args.dsn, args.namespace, args.path, args.string_ids))


if __name__ == "__main__":
    main()
