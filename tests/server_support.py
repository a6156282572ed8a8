"""Helpers for the reference server's tests: a tutorial-shaped Python client, a cuttable TCP relay, and
a way to start servers that are always stopped by PID."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import socketio

from harness.databases import fresh_postgres_database, sqlite_url
from harness.processes import ManagedProcess, free_port, start_reference_server


class TutorialClient:
    """The tutorial's browser client in python-socketio: it keeps `auth.serverOffset` at the last
    serverOffset it received and sends it on every (re)connect."""

    def __init__(self, url: str, server_offset: int = 0) -> None:
        self.url = url
        self.server_offset = server_offset
        self.received: list[tuple[Any, ...]] = []
        self.sio = socketio.AsyncClient(reconnection=False)
        self._changed = asyncio.Condition()
        self.sio.on("chat message", self._on_message)

    async def _on_message(self, content: Any, server_offset: Any, *rest: Any) -> None:
        self.received.append((content, server_offset))
        if isinstance(server_offset, int):
            self.server_offset = server_offset
        async with self._changed:
            self._changed.notify_all()

    async def connect(self) -> None:
        await self.sio.connect(self.url, auth=lambda: {"serverOffset": self.server_offset},
                               transports=["websocket"], wait_timeout=5)

    async def disconnect(self) -> None:
        await self.sio.disconnect()

    async def send(self, *args: Any, timeout: float = 3.0) -> Any:
        """Emit `chat message` asking for an ack; the ack's payload, or socketio TimeoutError."""
        return await self.sio.call("chat message", args, timeout=timeout)

    async def emit(self, *args: Any) -> None:
        """Emit without an ack (the tutorial's first steps)."""
        await self.sio.emit("chat message", args)

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), timeout)

    def contents(self) -> list[Any]:
        return [content for content, _ in self.received]

    async def fence(self, sender: TutorialClient | None = None, timeout: float = 5.0) -> list[Any]:
        """Every content received before a marker message sent now comes back. Broadcasts and replays
        travel in order on one connection, so this proves nothing else was still on its way."""
        marker = f"fence-{len(self.received)}-{id(self)}"
        await (sender or self).emit(marker)
        await self.wait_until(lambda: marker in self.contents(), timeout)
        got = self.contents()
        return got[:got.index(marker)]


@contextlib.asynccontextmanager
async def connected(url: str, server_offset: int = 0) -> AsyncIterator[TutorialClient]:
    client = TutorialClient(url, server_offset)
    await client.connect()
    try:
        yield client
    finally:
        await client.disconnect()


class Servers:
    """Starts reference servers for one test and stops every one of them by PID afterwards."""

    def __init__(self, log_dir: Path) -> None:
        self.procs: list[ManagedProcess] = []
        self.log_dir = log_dir

    async def start(self, db: str, profile: str = "baseline", *, port: int | None = None,
                    mutant: str | None = None, extra: Sequence[str] = ()) -> Running:
        port = port or free_port()
        log_path = self.log_dir / f"server-{len(self.procs)}.log"
        proc = await start_reference_server(port, db, profile, mutant=mutant, extra=extra, log_path=log_path)
        self.procs.append(proc)
        return Running(proc, f"http://127.0.0.1:{port}", port, log_path)

    async def stop_all(self) -> None:
        for proc in self.procs:
            await proc.kill()


class Running:
    def __init__(self, proc: ManagedProcess, url: str, port: int, log_path: Path) -> None:
        self.proc = proc
        self.url = url
        self.port = port
        self.log_path = log_path

    async def wait_log(self, text: str, count: int = 1, timeout: float = 5.0) -> None:
        """Wait until the server's log holds `text` `count` times. A failed store has no effect a client
        can see in the profiles that do not ack, so its log line is the only signal there is; it is
        polled with a deadline."""
        deadline = time.monotonic() + timeout
        while self.log_path.read_text(errors="replace").count(text) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not logged {count}x within {timeout}s: "
                                     f"{self.log_path.read_text(errors='replace')[-500:]}")
            await asyncio.sleep(0.02)


async def run_cli(*args: str, timeout: float = 10.0) -> tuple[int, str]:
    """Run `python -m reference_server --port 0 ARGS` to completion: (exit code, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "reference_server", "--port", "0", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        _, err = await asyncio.wait_for(proc.communicate(), timeout)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.returncode or 0, err.decode()


class TcpRelay:
    """A TCP relay on 127.0.0.1 that a test can cut (close every link, refuse new ones) and restore on
    the same port: a database outage as the server sees it when the network to PostgreSQL fails."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)

    async def cut(self) -> None:
        if self._server:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.difference_update((writer, up_writer))


@pytest.fixture(params=["sqlite", "postgres"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[str]:
    """A fresh database URL for one test: a SQLite file in tmp_path, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "chat.db")
    else:
        admin = request.getfixturevalue("postgres_admin_dsn")
        async with fresh_postgres_database(admin) as dsn:
            yield dsn


@pytest.fixture
def sqlite_db(tmp_path: Any) -> str:
    return sqlite_url(tmp_path / "chat.db")


@pytest.fixture
async def servers(tmp_path: Path) -> AsyncIterator[Servers]:
    """Start reference servers with `await servers.start(...)`; all are killed by PID at teardown."""
    started = Servers(tmp_path)
    try:
        yield started
    finally:
        await started.stop_all()
