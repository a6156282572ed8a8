"""A minimal python-socketio server for the recovery tests, run as its own process.

It is not the chat server: it exposes what the socket.io CSR tests need to observe and trigger.
HTTP control endpoints (JSON):
  GET  /health                      200 when up
  POST /emit {event, args, to?, skip_sid?, namespace?, volatile?, ack?, binary?}   the server emits
                                    (to: a sid or room names; binary: string arguments sent as bytes)
  GET  /calls                       every call of the connect handler: sid, auth, recovered
  GET  /stats                       recovery_stats(sio)
  GET  /wait-disconnect?sid=S       {reason} once S's disconnect handler has run (after its session was kept)
  POST /kick?sid=S                  close S's engine connection (socket.io's "forced close")
  POST /server-disconnect?sid=S     sio.disconnect(S) ("server namespace disconnect")
Any namespace is accepted; the handlers below are on `/` only (a disconnect is seen on every one).
Socket events: `join` room -> rooms; `set` key, value -> session data; `whoami` -> {sid, rooms, data,
recovered}; `arm` [emit specs] -> run those emits from the socket's disconnect handler, i.e. while the
client is away (a spec's `to` may be "self").
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import socketio
from aiohttp import web

from reference_server.recovery import emit_volatile, install_recovery, is_recovered, recovery_stats


def build(csr: bool, max_disconnection_duration: float, skip_middlewares: bool,
          max_packets: int, max_sessions: int, ping_interval: float, ping_timeout: float) -> web.Application:
    sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins="*", ping_interval=ping_interval,
                               ping_timeout=ping_timeout, namespaces="*")
    if csr:
        install_recovery(sio, max_disconnection_duration=max_disconnection_duration,
                         skip_middlewares=skip_middlewares, max_packets=max_packets,
                         max_sessions=max_sessions)
    calls: list[dict[str, Any]] = []
    disconnected: dict[str, asyncio.Event] = {}
    reasons: dict[str, str] = {}
    armed: dict[str, list[dict[str, Any]]] = {}

    async def do_emit(spec: dict[str, Any], self_sid: str | None = None) -> None:
        to = spec.get("to")
        if to == "self":
            to = self_sid
        args = tuple(a.encode() if spec.get("binary") and isinstance(a, str) else a
                     for a in spec.get("args", []))
        options = {"to": to, "skip_sid": spec.get("skip_sid"), "namespace": spec.get("namespace")}
        if spec.get("volatile"):
            await emit_volatile(sio, spec["event"], args, **options)
        elif spec.get("ack"):
            await sio.emit(spec["event"], args, callback=lambda *a: None, **options)
        else:
            await sio.emit(spec["event"], args, **options)

    @sio.event
    async def connect(sid: str, environ: dict, auth: Any) -> bool:
        calls.append({"sid": sid, "auth": auth, "recovered": is_recovered(sio, sid)})
        disconnected[sid] = asyncio.Event()
        return not (isinstance(auth, dict) and auth.get("reject"))

    @sio.event
    async def disconnect(sid: str, reason: str) -> None:
        reasons[sid] = reason
        for spec in armed.pop(sid, []):
            await do_emit(spec, sid)
        disconnected.setdefault(sid, asyncio.Event()).set()

    @sio.on("disconnect", namespace="*")
    async def disconnect_elsewhere(namespace: str, sid: str, reason: str) -> None:
        reasons[sid] = reason
        disconnected.setdefault(sid, asyncio.Event()).set()

    @sio.event
    async def join(sid: str, room: str) -> list[str]:
        await sio.enter_room(sid, room)
        return sorted(sio.rooms(sid))

    @sio.on("set")
    async def set_data(sid: str, key: str, value: Any) -> None:
        async with sio.session(sid) as session:
            session[key] = value

    @sio.event
    async def whoami(sid: str) -> dict[str, Any]:
        return {"sid": sid, "rooms": sorted(sio.rooms(sid)), "data": await sio.get_session(sid),
                "recovered": is_recovered(sio, sid)}

    @sio.event
    async def arm(sid: str, specs: list[dict[str, Any]]) -> int:
        armed[sid] = specs
        return len(specs)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def emit(request: web.Request) -> web.Response:
        await do_emit(await request.json())
        return web.json_response({"ok": True})

    async def get_calls(request: web.Request) -> web.Response:
        return web.json_response(calls)

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(recovery_stats(sio))

    async def wait_disconnect(request: web.Request) -> web.Response:
        sid = request.query["sid"]
        await asyncio.wait_for(disconnected.setdefault(sid, asyncio.Event()).wait(), 10)
        return web.json_response({"reason": reasons[sid]})

    async def kick(request: web.Request) -> web.Response:
        await sio.eio.disconnect(sio.manager.eio_sid_from_sid(request.query["sid"], "/"))
        return web.json_response({"ok": True})

    async def server_disconnect(request: web.Request) -> web.Response:
        await sio.disconnect(request.query["sid"])
        return web.json_response({"ok": True})

    app = web.Application()
    sio.attach(app)
    app.router.add_get("/health", health)
    app.router.add_post("/emit", emit)
    app.router.add_get("/calls", get_calls)
    app.router.add_get("/stats", stats)
    app.router.add_get("/wait-disconnect", wait_disconnect)
    app.router.add_post("/kick", kick)
    app.router.add_post("/server-disconnect", server_disconnect)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--no-csr", dest="csr", action="store_false")
    parser.add_argument("--max-disconnection-duration", type=float, default=120.0)
    parser.add_argument("--run-middlewares", dest="skip_middlewares", action="store_false")
    parser.add_argument("--max-packets", type=int, default=10_000)
    parser.add_argument("--max-sessions", type=int, default=10_000)
    parser.add_argument("--ping-interval", type=float, default=25.0)
    parser.add_argument("--ping-timeout", type=float, default=20.0)
    args = parser.parse_args()
    app = build(args.csr, args.max_disconnection_duration, args.skip_middlewares, args.max_packets,
                args.max_sessions, args.ping_interval, args.ping_timeout)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, handle_signals=True)


if __name__ == "__main__":
    main()
