"""Database outages, graceful stops and crashes, against real server processes."""

from __future__ import annotations

import contextlib
import time
from urllib.parse import urlsplit

import aiohttp
import pytest
import socketio
from server_support import Servers, TcpRelay, connected, db_url, servers, sqlite_db

from harness.databases import fresh_postgres_database, hold_sqlite_lock, read_db_rows, sqlite_path
from harness.steps import ACKING


async def healthy(url: str) -> bool:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{url}/health") as resp:
            return resp.status == 200


@pytest.mark.parametrize("profile", sorted(ACKING))
async def test_acking_profiles_send_no_ack_during_a_sqlite_outage(servers: Servers, sqlite_db: str,
                                                                  profile: str) -> None:
    server = await servers.start(sqlite_db, profile)
    async with connected(server.url) as alice:
        async with hold_sqlite_lock(sqlite_path(sqlite_db)):
            with pytest.raises(socketio.exceptions.TimeoutError):
                await alice.send("during", "a-0", timeout=0.6)
            assert await healthy(server.url)
        # The client's retry after the outage is acknowledged and stored once.
        assert await alice.send("during", "a-0") is None
        assert await alice.fence() == ["during"]
    assert [r["content"] for r in await read_db_rows(sqlite_db)] == ["during", alice.contents()[-1]]


@pytest.mark.parametrize("profile", ["baseline", "server-delivery"])
async def test_non_acking_profiles_drop_the_event_during_a_sqlite_outage(servers: Servers, sqlite_db: str,
                                                                         profile: str) -> None:
    server = await servers.start(sqlite_db, profile)
    async with connected(server.url) as alice:
        async with hold_sqlite_lock(sqlite_path(sqlite_db)):
            await alice.emit("dropped")
            await server.wait_log("store failed")
        await alice.emit("kept")
        assert await alice.fence() == ["kept"]
    assert [r["content"] for r in await read_db_rows(sqlite_db)][:1] == ["kept"]


async def test_postgres_link_cut_means_no_ack_then_recovery(servers: Servers, postgres_admin_dsn: str) -> None:
    async with fresh_postgres_database(postgres_admin_dsn) as dsn:
        parts = urlsplit(dsn)
        relay = TcpRelay(parts.hostname or "127.0.0.1", parts.port or 5432)
        await relay.start()
        via_relay = parts._replace(netloc=f"{parts.username}@127.0.0.1:{relay.port}").geturl()
        try:
            server = await servers.start(via_relay, "exactly-once", extra=["--db-timeout", "0.5"])
            async with connected(server.url) as alice:
                assert await alice.send("before", "a-0") is None
                await relay.cut()
                with pytest.raises(socketio.exceptions.TimeoutError):
                    await alice.send("during", "a-1", timeout=1.0)
                with pytest.raises(socketio.exceptions.TimeoutError):
                    await alice.send("during", "a-1", timeout=1.0)
                assert await healthy(server.url)
                await relay.start()
                assert await alice.send("during", "a-1") is None
                assert await alice.fence() == ["before", "during"]
            assert [r["content"] for r in await read_db_rows(dsn)][:2] == ["before", "during"]
        finally:
            await relay.cut()


async def test_sigterm_stops_the_server_fast_with_open_websockets(servers: Servers, sqlite_db: str) -> None:
    server = await servers.start(sqlite_db, "exactly-once")
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(connected(server.url)) for _ in range(3)]
        assert all(client.sio.connected for client in clients)
        started = time.monotonic()
        code = await server.proc.terminate(grace=5.0)
        elapsed = time.monotonic() - started
    assert code == 0, "SIGTERM must be a clean stop, not the SIGKILL fallback"
    assert elapsed < 1.0, f"SIGTERM took {elapsed:.2f}s"


async def test_sigkill_then_restart_on_the_same_port_and_database(servers: Servers, db_url: str) -> None:
    first = await servers.start(db_url, "exactly-once")
    async with connected(first.url) as alice:
        assert await alice.send("before crash", "a-0") is None
        await first.proc.kill()
        # No pause: the port must be bindable again the moment the old process is gone.
        second = await servers.start(db_url, "exactly-once", port=first.port)
    async with connected(second.url) as bob:
        await bob.wait_until(lambda: "before crash" in bob.contents())
        assert await bob.send("before crash", "a-0") is None  # still recognised as a duplicate
        assert await bob.send("after restart", "b-0") is None
        assert await bob.fence() == ["before crash", "after restart"]
    assert [r["content"] for r in await read_db_rows(db_url)][:2] == ["before crash", "after restart"]
