"""The server under test as one handle: the reference server or an external one started by a command line.

The nemesis crashes, stops and restarts it through this handle, always on the same port, and each of
those moves is written to the history as a `server` event carrying the PID. Several nodes
(`target.nodes`) are one `ServerHandle` each (named `n1`, `n2`, ...), held together by a `NodeGroup`
that the runner treats as the one server (docs/multinode.md).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path

from harness.errors import ScenarioError
from harness.history import HistoryWriter
from harness.processes import ManagedProcess, start_reference_server
from harness.scenario import Target

ROOT = Path(__file__).resolve().parent.parent


class ServerHandle:
    """Start, crash (SIGKILL), stop (SIGTERM) and restart the target on one fixed port."""

    def __init__(self, target: Target, port: int, db_url: str, run_dir: Path,
                 history: HistoryWriter | None = None, *, node: str = "", node_args: Sequence[str] = ()) -> None:
        self.target = target
        self.port = port
        self.db_url = db_url
        self.run_dir = run_dir
        self.history = history
        self.node = node
        """`n1`, `n2`, ... among several nodes; empty for a single server."""
        self.node_args = list(node_args)
        """Extra reference-server options of this node (`--node`, `--redis`, ...)."""
        self.process: ManagedProcess | None = None
        self.log_path = run_dir / (f"server-{node}.log" if node else "server.log")

    @property
    def url(self) -> str:
        if self.target.kind == "external" and self.target.url:
            return self._substitute(self.target.url)
        return f"http://127.0.0.1:{self.port}"

    @property
    def sqlite_path(self) -> Path | None:
        if self.target.kind == "external":
            return Path(self._substitute(self.target.sqlite_path)) if self.target.sqlite_path else None
        if self.db_url.startswith("sqlite:///"):
            return Path(self.db_url[len("sqlite:///"):])
        return None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process and self.process.running else None

    def _substitute(self, text: str) -> str:
        db_path = self.db_url[len("sqlite:///"):] if self.db_url.startswith("sqlite:///") else ""
        try:
            return text.format(port=self.port, db_path=db_path, run_dir=self.run_dir, root=ROOT,
                               db_url=self.db_url)
        except (KeyError, IndexError) as exc:
            raise ScenarioError(f"target: unknown placeholder {exc} in {text!r}; use {{port}}, {{db_path}}, "
                                f"{{db_url}}, {{run_dir}} or {{root}}") from None

    async def start(self) -> None:
        if self.target.kind == "reference":
            self.process = await start_reference_server(
                self.port, self.db_url, self.target.profile, mutant=self.target.mutant,
                extra=[*self.target.switches, *self.node_args], log_path=self.log_path, name=self.node)
        else:
            await self._start_external()
        self._record("start")

    async def _start_external(self) -> None:
        argv = [self._substitute(a) for a in self.target.command]
        env = {k: self._substitute(v) for k, v in self.target.env.items()}
        env.setdefault("PORT", str(self.port))
        cwd = self._substitute(self.target.cwd) if self.target.cwd else None
        process = ManagedProcess(f"external server {os.path.basename(argv[0])}", argv, env=env, cwd=cwd,
                                 log_path=self.log_path)
        await process.start()
        ready = self.target.ready
        timeout = float(ready.get("timeout", 15.0))
        try:
            if ready.get("http"):
                await process.wait_http(self.url.rstrip("/") + "/" + ready["http"].lstrip("/"), timeout=timeout)
            else:
                await process.wait_tcp("127.0.0.1", self.port, timeout=timeout)
        except BaseException:
            await process.kill()
            raise
        self.process = process

    async def crash(self) -> None:
        """SIGKILL: the server gets no chance to flush, close sockets or save sessions."""
        if self.process and self.process.running:
            self._record("crash", self.process.pid)
            await self.process.kill()

    async def stop(self) -> None:
        """SIGTERM: a graceful shutdown, as a deploy does."""
        if self.process and self.process.running:
            self._record("stop", self.process.pid)
            await self.process.terminate()

    async def pause(self) -> None:
        """SIGSTOP: frozen with its sockets open; heartbeats stop, nothing is closed."""
        if self.process and self.process.running and not self.process.paused:
            self._record("pause", self.process.pid)
            self.process.pause()

    async def resume(self) -> None:
        if self.process and self.process.paused:
            self._record("resume", self.process.pid)
            self.process.resume()

    @property
    def up(self) -> bool:
        """Running and not paused: a balancer's health check would answer."""
        return bool(self.process and self.process.running and not self.process.paused)

    async def ensure_running(self) -> None:
        if self.process and self.process.paused:
            await self.resume()
        if not (self.process and self.process.running):
            await self.start()

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
