"""The server process: the aiohttp application around the chat, its routes, and its lifetime.

Routes: `/socket.io/` (Engine.IO), `/` (the tutorial's chat page), `/socket.io/socket.io.js` (the official
client bundle from the project's node_modules, as the tutorial's Node server serves it) and `/health`
(JSON: profile, switches, mutant, pid; the harness's readiness probe).

Lifetime: SIGTERM or SIGINT closes every Engine.IO connection (clients see "transport close" and
reconnect, as after a Node server's `io.close()`), stops listening and closes the database, all within
a fraction of a second. SIGKILL is a crash: rows are committed before they are acked, and the listening
socket uses SO_REUSEADDR, so a new process can bind the same port at once.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import math
import os
import signal
from pathlib import Path
from types import ModuleType

import socketio
from aiohttp import web

from reference_server.chat import EVENT, ROOM, ChatServer
from reference_server.config import ServerConfig
from reference_server.errors import BackendUnavailableError, PortInUseError, ServerError
from reference_server.feed import RowFeed, row_offset
from reference_server.storage import Storage, StorageError, open_storage

log = logging.getLogger("reference_server")

STATIC = Path(__file__).resolve().parent / "static"
CLIENT_BUNDLE = (Path(__file__).resolve().parent.parent / "node_modules" / "socket.io-client" / "dist"
                 / "socket.io.min.js")
SHUTDOWN_BUDGET = 0.5
"""Seconds a graceful stop may take before the process exits regardless."""


def engineio_ping_interval(seconds: float) -> float | tuple[float, float]:
    """python-engineio's `ping_interval` for pinging every `seconds`, so that the pingInterval its OPEN
    packet advertises is never shorter than the interval it keeps.

    python-engineio advertises `int(interval + grace) * 1000` ms: whole seconds, truncated, so 0.25 s goes
    out as 0 ms. Clients (socket.io-client and python-engineio alike) then give the server pingInterval +
    pingTimeout = 0.25 s from each ping to send the next, which always comes 0.25 s plus a round trip
    later: every idle connection dies with "transport error" (docs/reliability.md). The grace period,
    which only the advertisement adds, rounds it up to the next whole second instead: clients wait a
    little longer than needed for a dead server, never less than the pings take.
    """
    whole = math.ceil(seconds)
    if whole == seconds:
        return seconds
    # A hair over, so that float rounding cannot truncate interval + grace to the second below.
    return seconds, whole - seconds + 1e-6


async def serve(config: ServerConfig, recovery: ModuleType | None = None) -> None:
    """Run until SIGTERM/SIGINT. `recovery` is reference_server.recovery when the csr switch is on."""
    # Signals are caught from the first moment, so a stop during startup is a stop, not a traceback.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    fed = config.redis_url is not None and config.broadcast == "feed"
    storage = open_storage(config.db, busy_timeout=config.db_busy_timeout, timeout=config.db_timeout,
                           commit_order=fed)
    try:
        await storage.open()
    except StorageError as exc:
        raise BackendUnavailableError(f"database {storage.describe()} is not usable: {exc}") from None
    try:
        manager = _cluster_manager(config)
        sio = socketio.AsyncServer(
            async_mode="aiohttp", always_connect=config.connect_first,
            ping_interval=engineio_ping_interval(config.ping_interval),
            ping_timeout=config.ping_timeout,
            max_http_buffer_size=max(1_000_000, 2 * config.max_content_bytes + 4096),
            client_manager=None if recovery is not None else manager)
        is_recovered = None
        if recovery is not None:
            recovery.install_recovery(sio, max_disconnection_duration=config.max_disconnection_duration,
                                      skip_middlewares=not config.csr_run_middlewares, manager=manager)
            is_recovered = lambda sid: recovery.is_recovered(sio, sid)  # noqa: E731
        feed = _feed(sio, storage, csr=recovery is not None) if fed else None
        chat = ChatServer(sio, storage, config.switches, mutant=config.mutant,
                          max_content_bytes=config.max_content_bytes, rate_limit=config.rate_limit,
                          rate_burst=config.rate_burst, is_recovered=is_recovered, feed=feed,
                          announce=sio.manager.announce if feed is not None else None)
        await chat.start()
        if feed is not None:
            sio.manager.feed = feed
            await feed.start()
        if manager is not None:
            # python-socketio subscribes on the first connection; a node must hear the channel from the
            # start, so that its packet log (CSR) and its readiness do not depend on having clients.
            sio.manager_initialized = True
            sio.manager.initialize()
        app = build_app(sio, config, storage.describe())
        try:
            await _run_until(stop, app, sio, config)
        finally:
            if feed is not None:
                await feed.stop()
    finally:
        await storage.close()


def _feed(sio: socketio.AsyncServer, storage: Storage, *, csr: bool) -> RowFeed:
    """This node's broadcast of the table (reference_server.feed): each row to this node's sockets only,
    never published (the other nodes send it themselves), under the same CSR offset on every node."""

    async def send(row_id: int, content: str) -> None:
        named = {"offset": row_offset(row_id)} if csr else {}
        await sio.manager.emit(EVENT, (content, row_id), "/", room=ROOM, ignore_queue=True, **named)

    return RowFeed(storage, send, asyncio.Lock())


def _cluster_manager(config: ServerConfig) -> socketio.AsyncManager | None:
    if config.redis_url is None:
        return None
    from reference_server.cluster import RedisSettings, build_manager

    settings = RedisSettings(url=config.redis_url, subscribe_url=config.redis_subscribe_url or config.redis_url,
                             channel=config.redis_channel, session_store=config.session_store)
    return build_manager(settings, csr=config.switches.csr,
                         max_disconnection_duration=config.max_disconnection_duration)


def build_app(sio: socketio.AsyncServer, config: ServerConfig, db_description: str) -> web.Application:
    app = web.Application()
    sio.attach(app)
    health = {
        "status": "ok",
        "profile": config.profile,
        "switches": config.switches.as_dict(),
        "mutant": config.mutant.name if config.mutant else None,
        "db": db_description,
        "pid": os.getpid(),
        "node": config.node,
        "redis": config.redis_url is not None,
        "session_store": config.session_store if config.redis_url else "memory",
    }

    async def health_route(request: web.Request) -> web.Response:
        return web.json_response(health)

    async def index_route(request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html")

    async def durable_route(request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "durable.html")

    async def client_bundle_route(request: web.Request) -> web.StreamResponse:
        if not CLIENT_BUNDLE.exists():
            return web.Response(status=404, text=f"socket.io-client is not installed: run `make setup` in "
                                                 f"the repository (looked for {CLIENT_BUNDLE})\n")
        return web.FileResponse(CLIENT_BUNDLE, headers={"Content-Type": "application/javascript"})

    app.router.add_get("/health", health_route)
    app.router.add_get("/", index_route)
    app.router.add_get("/durable.html", durable_route)
    app.router.add_get("/socket.io/socket.io.js", client_bundle_route)
    return app


async def _run_until(stop: asyncio.Event, app: web.Application, sio: socketio.AsyncServer,
                     config: ServerConfig) -> None:
    # The Engine.IO sockets are closed before the runner stops; what is left are websocket handlers
    # waiting for the peer's close frame, not worth more than a moment of a graceful stop.
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=0.05)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(f"port {config.port} on {config.host} is already in use; pick another "
                                 f"or stop the process holding it") from None
        raise ServerError(f"cannot listen on {config.host}:{config.port}: {exc.strerror}") from None
    port = runner.addresses[0][1]
    on = ", ".join(name for name, value in config.switches.as_dict().items() if value) or "no switches"
    mutant = f", MUTANT {config.mutant.name}" if config.mutant else ""
    print(f"reference server pid {os.getpid()}: http://{config.host}:{port} profile {config.profile} "
          f"({on}{mutant})", flush=True)
    await stop.wait()
    try:
        await asyncio.wait_for(_stop(runner, sio), SHUTDOWN_BUDGET)
    except TimeoutError:
        log.warning("graceful stop took over %.1fs; exiting anyway", SHUTDOWN_BUDGET)


async def _stop(runner: web.AppRunner, sio: socketio.AsyncServer) -> None:
    save_sessions = getattr(sio.manager, "save_sessions", None)
    if save_sessions is not None:
        # Sessions shared through Redis are written before the connections close: a client reconnects to
        # another node within a reconnection delay, and must find its session there.
        try:
            await asyncio.wait_for(save_sessions(), SHUTDOWN_BUDGET / 4)
        except TimeoutError:
            log.warning("not every session was saved to Redis before the stop")
    if sio.eio.sockets:
        # Peers that left by cutting TCP never complete the close handshake; a stop should not wait on them.
        try:
            await asyncio.wait_for(sio.eio.disconnect(), SHUTDOWN_BUDGET / 4)
        except TimeoutError:
            pass
        except ValueError:
            # python-engineio waits on one close per socket it still has when the call starts running;
            # the last ones may have closed in between, and `asyncio.wait` of nothing raises (measured:
            # a traceback at the end of multi-node runs' server logs). Nobody is left to disconnect.
            pass
    await sio.shutdown()
    await runner.cleanup()
