"""The `node` driver: the tutorial's page on the official socket.io-client 4.8, in a Node.js process.

It keeps the python driver honest: the same scenario through the real client must give the same kind of
history. `node/driver.js` (shipped in this package) runs one page and speaks JSON lines over
stdin/stdout; this side turns its reports into history events with the same `PageRecorder` the python
driver uses. socket.io-client's own `ackTimeout`, `retries`, buffering and reconnection do the work: the
program only adds the tutorial's page script around them. A page refresh kills the process (SIGKILL, by
PID): a real reload drops everything the page held, and the server sees the transport close.

Needs `node` on PATH and npm's socket.io-client: `make setup` in a checkout, or `sio-harness setup node`
(into the user cache) for an installed wheel; `node_modules_candidates` gives the search order.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import os
import random
import shutil
import signal
import string
from pathlib import Path
from typing import Any

import orjson

from harness.clients.base import ClientDriver
from harness.clients.recorder import SendPolicy
from harness.clients.sioclient import DISCONNECTED, TIMED_OUT
from harness.clients.slot import PageBase, PageSlotDriver, page_offset
from harness.errors import MissingBinaryError, ProcessStartError
from harness.history import make_content

DRIVER_JS = Path(__file__).with_name("node") / "driver.js"
SOCKET_IO_CLIENT = "4.8.4"
"""The socket.io-client version `sio-harness setup node` installs (the project's package.json pins it too)."""


def user_node_folder() -> Path:
    """Where `sio-harness setup node` installs socket.io-client: the user's cache, outside any checkout,
    so that an installed wheel has a place for it."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "sio-harness" / "node"


def node_modules_candidates() -> list[Path]:
    """The folders searched for socket.io-client, first match wins: $SIO_HARNESS_NODE_MODULES, the
    checkout's node_modules (`make setup`), the working directory's, then the user cache's."""
    env = os.environ.get("SIO_HARNESS_NODE_MODULES")
    candidates = [Path(env)] if env else []
    candidates += [parent / "node_modules" for parent in DRIVER_JS.parents]
    candidates.append(Path.cwd() / "node_modules")
    candidates.append(user_node_folder() / "node_modules")
    return candidates


def node_modules_dir() -> Path:
    """The npm folder holding socket.io-client, or MissingBinaryError saying how to install it."""
    for path in node_modules_candidates():
        if (path / "socket.io-client").is_dir():
            return path
    raise MissingBinaryError("the node driver needs npm's socket.io-client 4.8: run `sio-harness setup node` "
                             "(or `make setup` in a checkout), or set SIO_HARNESS_NODE_MODULES to a "
                             "node_modules folder")


class _Host:
    """One Node.js process running `node/driver.js` and the pages it runs: one page (a page refresh kills
    the process), or every page of the run on this event loop (`node_process: shared`, for runs of
    hundreds of clients: one process instead of one per page; a refresh drops the page's socket)."""

    def __init__(self, shared: bool) -> None:
        self.shared = shared
        self.pages: dict[str | None, _NodePage] = {}
        self.process: asyncio.subprocess.Process | None = None
        self.stderr: collections.deque[str] = collections.deque(maxlen=5)
        self._readers: list[asyncio.Task[None]] = []
        self._started: asyncio.Future[None] | None = None

    async def start(self) -> None:
        """Start the process once; later callers wait for the first one's start."""
        if self._started is not None:
            await asyncio.shield(self._started)
            return
        self._started = asyncio.get_running_loop().create_future()
        try:
            node = shutil.which("node")
            if node is None:
                raise MissingBinaryError("the node driver needs Node.js (`node` on PATH, version 18 or later)")
            env = {**os.environ, "NODE_PATH": str(node_modules_dir())}
            self.process = await asyncio.create_subprocess_exec(
                node, str(DRIVER_JS), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, env=env, start_new_session=True)
        except BaseException as exc:
            self._started.set_exception(exc)
            self._started.exception()  # retrieved: the caller raises it
            raise
        self._readers = [asyncio.create_task(self._read_events()), asyncio.create_task(self._read_stderr())]
        self._started.set_result(None)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def command(self, page: str | None, cmd: dict[str, Any]) -> None:
        if not self.running or self.process is None or self.process.stdin is None:
            raise ProcessStartError(f"the node driver is not running{self.hint()}")
        if page is not None:
            cmd["page"] = page
        self.process.stdin.write(orjson.dumps(cmd) + b"\n")
        await self.process.stdin.drain()

    async def kill(self) -> None:
        """SIGKILL by PID (the page is gone), then read what it had already reported."""
        if self.process and self.process.returncode is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            await self.process.wait()
        await asyncio.gather(*self._readers, return_exceptions=True)

    async def close(self) -> None:
        """No page left in a shared process: end its stdin (the program exits on it), wait, read the rest."""
        if self.running and self.process is not None and self.process.stdin is not None:
            self.process.stdin.close()
        if self.process is not None:
            await self.process.wait()
        await asyncio.gather(*self._readers, return_exceptions=True)

    async def _read_events(self) -> None:
        assert self.process and self.process.stdout
        try:
            async for line in self.process.stdout:
                if line.strip():
                    event = orjson.loads(line)
                    page = self.pages.get(event.pop("page", None))
                    if page is not None:
                        page._on_event(event)
        finally:
            # The program is gone (or spoke nonsense): release whoever waits on it.
            for page in list(self.pages.values()):
                page._released()

    async def _read_stderr(self) -> None:
        assert self.process and self.process.stderr
        async for line in self.process.stderr:
            self.stderr.append(line.decode(errors="replace").rstrip())

    def hint(self) -> str:
        return f" ({' | '.join(self.stderr)})" if self.stderr else ""


_PAGE_IDS = itertools.count(1)
"""Page ids in a shared process: unique even when two runs on one loop share it."""
_SHARED: dict[asyncio.AbstractEventLoop, _Host] = {}
"""The shared host of each running loop, while it has pages."""


def _shared_host() -> _Host:
    loop = asyncio.get_running_loop()
    host = _SHARED.get(loop)
    if host is None or (host.process is not None and not host.running):
        host = _SHARED[loop] = _Host(shared=True)
    return host


class _NodePage(PageBase):
    """One load of the page: its place in a Node.js process and the recorder of its lineage."""

    def __init__(self, proc: str, driver: ClientDriver, policy: SendPolicy, server_offset: Any) -> None:
        super().__init__(proc, driver, policy, server_offset)
        self.is_connected = False
        self._first_outcome = asyncio.Event()
        self._dropped = asyncio.Event()
        self._invoked: asyncio.Queue[str | None] = asyncio.Queue()
        self._done: asyncio.Queue[bool] = asyncio.Queue()
        self._rng = random.Random(f"{self.seed}:{proc}")
        self._seq = 0
        shared = self.settings.node_process == "shared"
        self._host = _shared_host() if shared else _Host(shared=False)
        self._id = f"{proc}#{next(_PAGE_IDS)}" if shared else None
        self._host.pages[self._id] = self

    async def open(self) -> None:
        await self._host.start()
        self.recorder.begin(page_offset(self.server_offset))
        await self._command(cmd="open", url=self.url, serverOffset=self.server_offset,
                            clientOffset=self.settings.client_offset, policy=self._policy_json(),
                            placeholderId="".join(self._rng.choice(string.ascii_letters + string.digits)
                                                  for _ in range(20)),
                            options=self._options(), protocol=self.protocol.to_js())
        await self._first_outcome.wait()

    def _options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "transports": list(self.settings.transports),
            "reconnectionDelay": self.settings.reconnection_delay * 1000,
            "reconnectionDelayMax": self.settings.reconnection_delay_max * 1000,
            "randomizationFactor": self.settings.randomization_factor,
        }
        if self.settings.ack_timeout is not None and self.policy.manual_timeout is None:
            options["ackTimeout"] = self.settings.ack_timeout * 1000
        if self.policy.queued:
            options["retries"] = self.settings.retries
        return options

    def _policy_json(self) -> dict[str, Any]:
        return {"observe_ack": self.policy.observe_ack, "plain_callback": self.policy.plain_callback,
                "manual_timeout": self.policy.manual_timeout}

    async def send(self, text: str) -> str:
        self._seq += 1
        msg_id = f"{self.proc}:{self._seq}"
        extra = {}
        if self.settings.client_offset == "random":
            extra["clientOffset"] = f"{self._rng.getrandbits(128):032x}"
        await self._command(cmd="send", id=msg_id, content=make_content(msg_id, text), **extra)
        # The program reports the clientOffset it computed before it emits; wait for it so the invoke
        # precedes every other event of this message and `send` returns once the emit is made.
        if await self._invoked.get() is None:
            raise ProcessStartError(f"{self.proc}: the node driver exited{self._host.hint()}")
        return msg_id

    async def command(self, name: str) -> None:
        """A control without arguments (`engine_close`, `disconnect`, `connect`), once carried out."""
        await self._command(cmd=name)
        if not await self._done.get():
            raise ProcessStartError(f"{self.proc}: the node driver exited{self._host.hint()}")

    async def discard(self) -> None:
        """The page is gone: its own process killed by PID, or its socket dropped from the shared one; in
        both cases once everything it had reported is read."""
        host = self._host
        try:
            if not host.shared:
                await host.kill()
            elif host.running:
                await self._command(cmd="drop")
                await self._dropped.wait()
        finally:
            host.pages.pop(self._id, None)
            if host.shared and not host.pages:
                if _SHARED.get(asyncio.get_running_loop()) is host:
                    del _SHARED[asyncio.get_running_loop()]
                await host.close()

    async def _command(self, **cmd: Any) -> None:
        try:
            await self._host.command(self._id, cmd)
        except ProcessStartError:
            raise ProcessStartError(f"{self.proc}: the node driver is not running{self._host.hint()}") from None

    def _released(self) -> None:
        self._invoked.put_nowait(None)
        self._done.put_nowait(False)
        self._dropped.set()
        self._first_outcome.set()

    def _on_event(self, event: dict[str, Any]) -> None:
        kind = event["ev"]
        if kind == "dropped":
            self._dropped.set()
        elif kind == "done":
            self._done.put_nowait(True)
        elif kind == "invoked":
            self.recorder.invoke(event["id"], event["client_offset"])
            self._invoked.put_nowait(event["id"])
        elif kind == "out":
            self.recorder.written(event["content"])
        elif kind == "ack":
            self._on_ack(event["id"], event["err"], event.get("response", []))
        elif kind == "recv":
            self.recorder.received_message(event["content"], event["offset"], event["csr"])
            self.server_offset = event["offset"]
        elif kind == "connect":
            self.is_connected = True
            self.recorder.connected(event["sid"], bool(event["recovered"]),
                                    page_offset(event.get("serverOffset")))
            self.connected.set()
            self._first_outcome.set()
        elif kind == "connect_error":
            self.recorder.connect_failed(event["message"])
            self._first_outcome.set()
        elif kind == "disconnect":
            self.is_connected = False
            self.connected.clear()
            self.recorder.disconnected(event["reason"])

    def _on_ack(self, msg_id: str, err: str | None, response: list[Any]) -> None:
        if err is None:
            if self.protocol.ack_succeeded(response):
                self.recorder.acked(msg_id)
            else:
                self.recorder.failed(msg_id, "rejected")
        elif self.policy.queued:
            self.recorder.failed(msg_id, "gave-up")
        else:
            self.recorder.failed(msg_id, "timeout" if err == TIMED_OUT else
                                 "disconnect" if err == DISCONNECTED else err)


class NodeDriver(PageSlotDriver[_NodePage]):
    """The tutorial's page on the official socket.io-client 4.8 in Node.js (see docs/clients.md)."""

    def _new_page(self, proc: str, server_offset: Any) -> _NodePage:
        return _NodePage(proc, self, self._policy, server_offset)

    async def close_engine(self) -> None:
        """`socket.io.engine.close()`: drop the transport; the client reconnects by itself."""
        await self._page.command("engine_close")

    async def disconnect(self) -> None:
        """`socket.disconnect()`: the page leaves (the server keeps no CSR session) and stays offline."""
        await self._page.command("disconnect")

    async def connect(self) -> None:
        """`socket.connect()` after `disconnect()`: the page connects again (with backoff on failure)."""
        await self._page.command("connect")
