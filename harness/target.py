"""The server under test as one handle: the reference server, or an external one (docs/targets.md).

An external server is started by its target file's `start.command` on a port the harness picks, or it
already runs at `url`; then its `controls` (commands such as `docker kill`) crash, stop, start, pause
and resume it. The nemesis crashes, stops and restarts the server through this handle, always on the same
port, and each of those moves is written to the history as a `server` event (with the PID when the
harness owns the process). Several nodes (`target.nodes`) are one `ServerHandle` each (named `n1`, `n2`,
...), held together by a `NodeGroup` that the runner treats as the one server (docs/multinode.md).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from harness.errors import ProcessStartError
from harness.history import HistoryWriter
from harness.processes import ManagedProcess, run_command, start_reference_server
from harness.scenario import Target
from harness.targetfile import PING_DEFAULTS, Ready, TargetSpec, substitute

LOG_TAIL = 5
"""Lines of a server's own output quoted when it exits before it is ready."""


class ServerHandle:
    """Start, crash (SIGKILL), stop (SIGTERM), pause and restart the target on one fixed port."""

    def __init__(self, target: Target, port: int, db_url: str, run_dir: Path,
                 history: HistoryWriter | None = None, *, node: str = "", node_args: Sequence[str] = (),
                 redis: Mapping[str, str] | None = None) -> None:
        self.target = target
        self.spec: TargetSpec | None = target.spec
        self.port = port
        self.db_url = db_url
        self.run_dir = run_dir
        self.history = history
        self.node = node
        """`n1`, `n2`, ... among several nodes; empty for a single server."""
        self.node_args = list(node_args)
        """Extra reference-server options of this node (`--node`, `--redis`, ...)."""
        self.redis = dict(redis or {})
        """An external node's Redis placeholders: `redis_url`, `redis_subscribe_url`, `redis_channel`."""
        self.process: ManagedProcess | None = None
        self.log_path = run_dir / (f"server-{node}.log" if node else "server.log")
        self._controlled_up = False
        """A server reached through `url`: whether it is up as far as the harness's own moves go."""
        self._started_once = False
        if self.spec is not None and self.spec.url:
            parts = urlsplit(self.substitute(self.spec.url))
            self.port = parts.port or (443 if parts.scheme == "https" else 80)

    @property
    def url(self) -> str:
        if self.spec is not None and self.spec.url:
            return self.substitute(self.spec.url).rstrip("/")
        return f"http://127.0.0.1:{self.port}"

    @property
    def upstream(self) -> str:
        """`host:port` the client links of the proxy forward to."""
        parts = urlsplit(self.url)
        return f"{parts.hostname or '127.0.0.1'}:{self.port}"

    @property
    def db_path(self) -> str:
        return self.db_url[len("sqlite:///"):] if self.db_url.startswith("sqlite:///") else ""

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite file the server writes (locked by db_outage), when there is one."""
        if self.spec is not None:
            if self.spec.database == "sqlite" and self.spec.state.kind == "sqlite":
                return Path(self.substitute(self.spec.state.path))
            return None
        return Path(self.db_path) if self.db_path else None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process and self.process.running else None

    @property
    def owned(self) -> bool:
        """True when the harness started the server process (it stops it at the end of the run)."""
        return self.spec is None or self.spec.started_by_harness

    def placeholders(self) -> dict[str, Any]:
        folder = self.spec.target_dir if self.spec is not None else Path.cwd()
        ping = {**PING_DEFAULTS, **self.target.server_options}
        return {"port": self.port, "db_url": self.db_url, "db_path": self.db_path, "run_dir": self.run_dir,
                "target_dir": folder, "node": self.node or "n1", "redis_url": "", "redis_subscribe_url": "",
                "redis_channel": "", **self.redis,
                "ping_interval_ms": round(ping["ping_interval"] * 1000),
                "ping_timeout_ms": round(ping["ping_timeout"] * 1000)}

    def substitute(self, text: str) -> str:
        return substitute(text, self.placeholders())

    def argv(self, argv: Sequence[str]) -> list[str]:
        return [self.substitute(a) for a in argv]

    @property
    def cwd(self) -> str:
        if self.spec is not None and self.spec.start is not None:
            return self.substitute(self.spec.start.cwd)
        return str(self.spec.target_dir if self.spec is not None else Path.cwd())

    async def start(self) -> None:
        if self.spec is None:
            self.process = await start_reference_server(
                self.port, self.db_url, self.target.profile, mutant=self.target.mutant,
                extra=[*self.target.switches, *self.node_args], log_path=self.log_path, name=self.node)
        elif self.spec.start is not None:
            await self._start_external()
        else:
            await self._start_controlled()
        self._record("start")

    async def _start_external(self) -> None:
        spec = self.spec
        assert spec is not None and spec.start is not None
        argv = self.argv(spec.start.command)
        env = {k: self.substitute(v) for k, v in spec.start.env.items()}
        env.setdefault("PORT", str(self.port))
        process = ManagedProcess(f"external server {spec.name} ({os.path.basename(argv[0])})", argv, env=env,
                                 cwd=self.cwd, log_path=self.log_path)
        mark = self.log_path.stat().st_size if self.log_path.exists() else 0
        await process.start()
        try:
            await self._wait_ready(spec.start.ready, process, mark)
        except BaseException:
            await process.kill()
            raise
        self.process = process

    async def _start_controlled(self) -> None:
        """A server at `url`: the first start only checks it answers; later ones run `controls.start`."""
        spec = self.spec
        assert spec is not None
        ready = spec.controls.ready if spec.controls else Ready(timeout=10.0)
        if self._started_once and spec.controls and spec.controls.start:
            await self._control("start", spec.controls.start)
        await self._wait_ready(ready, None, 0)
        self._controlled_up = True
        self._started_once = True

    async def _control(self, name: str, argv: Sequence[str]) -> None:
        await run_command(self.argv(argv), cwd=self.cwd, what=f"controls.{name}")

    async def _wait_ready(self, ready: Ready, process: ManagedProcess | None, log_mark: int) -> None:
        """Until the server answers as `ready` says; a process that exits first fails with its last log lines."""
        deadline = time.monotonic() + ready.timeout
        parts = urlsplit(self.url)
        host = parts.hostname or "127.0.0.1"
        async with aiohttp.ClientSession() as session:
            while True:
                if process is not None and not process.running:
                    raise ProcessStartError(f"{process.name} exited with code {process.returncode} before it "
                                            f"was ready{self._log_tail(log_mark)}")
                if await self._is_ready(ready, session, host, log_mark):
                    return
                if time.monotonic() > deadline:
                    what = (f"{self.url}{ready.http} answering 200" if ready.http else
                            f"a log line containing {ready.log!r}" if ready.log else f"{host}:{self.port} accepting")
                    raise ProcessStartError(f"target {self.spec.name if self.spec else ''}: not ready after "
                                            f"{ready.timeout:g}s (waited for {what}){self._log_tail(log_mark)}")
                # A foreign process announces nothing: polling is the only readiness signal it offers.
                await asyncio.sleep(0.02)

    async def _is_ready(self, ready: Ready, session: aiohttp.ClientSession, host: str, log_mark: int) -> bool:
        if ready.log:
            return ready.log in self._log_since(log_mark)
        if ready.http:
            try:
                async with session.get(self.url + ready.http, timeout=aiohttp.ClientTimeout(total=1)) as resp:
                    return resp.status == 200
            except (TimeoutError, aiohttp.ClientError, OSError):
                return False
        try:
            _, writer = await asyncio.open_connection(host, self.port)
        except OSError:
            return False
        writer.close()
        return True

    def _log_since(self, mark: int) -> str:
        if not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as fh:
            fh.seek(mark)
            return fh.read().decode(errors="replace")

    def _log_tail(self, mark: int) -> str:
        lines = self._log_since(mark).strip().splitlines()[-LOG_TAIL:]
        return f"; its last output: {' | '.join(lines)}" if lines else "; it printed nothing"

    async def crash(self) -> None:
        """SIGKILL: the server gets no chance to flush, close sockets or save sessions."""
        if self.process and self.process.running:
            self._record("crash", self.process.pid)
            await self.process.kill()
        elif self._controlled_up and self.spec and self.spec.controls and self.spec.controls.crash:
            self._record("crash")
            self._controlled_up = False
            await self._control("crash", self.spec.controls.crash)

    async def stop(self) -> None:
        """SIGTERM: a graceful shutdown, as a deploy does."""
        if self.process and self.process.running:
            self._record("stop", self.process.pid)
            await self.process.terminate()
        elif self._controlled_up and self.spec and self.spec.controls and self.spec.controls.stop:
            self._record("stop")
            self._controlled_up = False
            await self._control("stop", self.spec.controls.stop)

    async def pause(self) -> None:
        """SIGSTOP (or `controls.pause`): frozen with its sockets open; heartbeats stop, nothing is closed."""
        if self.process and self.process.running and not self.process.paused:
            self._record("pause", self.process.pid)
            self.process.pause()
        elif not self.owned and self.spec and self.spec.controls and self.spec.controls.pause:
            self._record("pause")
            await self._control("pause", self.spec.controls.pause)

    async def resume(self) -> None:
        if self.process and self.process.paused:
            self._record("resume", self.process.pid)
            self.process.resume()
        elif not self.owned and self.spec and self.spec.controls and self.spec.controls.resume:
            self._record("resume")
            await self._control("resume", self.spec.controls.resume)

    @property
    def up(self) -> bool:
        """Running and not paused: a balancer's health check would answer."""
        return bool(self.process and self.process.running and not self.process.paused)

    async def ensure_running(self) -> None:
        if self.process and self.process.paused:
            await self.resume()
        if self.owned:
            if not (self.process and self.process.running):
                await self.start()
        elif not self._controlled_up:
            await self.start()

    async def release(self) -> None:
        """The end of a run: stop the server if the harness started it; a server it only reaches stays up."""
        if self.process and self.process.running:
            await self.stop()

    def _record(self, f: str, pid: int | None = None) -> None:
        # Written before the signal is sent, so that what the clients observe follows it in the history.
        if self.history is not None:
            value: dict[str, object] = {"pid": pid if pid is not None else self.pid}
            if self.node:
                value["node"] = self.node
            self.history.append("server", "info", f, value)


class NodeGroup:
    """Several nodes as the one server the runner starts, heals and stops; each node is its own handle.

    `url`, `port` and `sqlite_path` are the first node's (the database is shared).
    """

    def __init__(self, nodes: dict[str, ServerHandle]) -> None:
        self.nodes = nodes
        self.first = next(iter(nodes.values()))

    @property
    def url(self) -> str:
        return self.first.url

    @property
    def port(self) -> int:
        return self.first.port

    @property
    def db_url(self) -> str:
        return self.first.db_url

    @property
    def upstream(self) -> str:
        return self.first.upstream

    def substitute(self, text: str) -> str:
        return self.first.substitute(text)

    def argv(self, argv: Sequence[str]) -> list[str]:
        return self.first.argv(argv)

    @property
    def sqlite_path(self) -> Path | None:
        return self.first.sqlite_path

    @property
    def process(self) -> ManagedProcess | None:
        return next((n.process for n in self.nodes.values() if n.process and n.process.running), None)

    @property
    def pid(self) -> int | None:
        return self.first.pid

    async def start(self) -> None:
        await asyncio.gather(*(n.start() for n in self.nodes.values()))

    async def ensure_running(self) -> None:
        await asyncio.gather(*(n.ensure_running() for n in self.nodes.values()))

    async def crash(self) -> None:
        for node in self.nodes.values():
            await node.crash()

    async def stop(self) -> None:
        await asyncio.gather(*(n.stop() for n in self.nodes.values()))

    async def pause(self) -> None:
        await asyncio.gather(*(n.pause() for n in self.nodes.values()))

    async def resume(self) -> None:
        await asyncio.gather(*(n.resume() for n in self.nodes.values()))

    async def release(self) -> None:
        await asyncio.gather(*(n.release() for n in self.nodes.values()))
