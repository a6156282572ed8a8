"""The processes and connections of one run: database, server, proxy links and client pages.

With `target.nodes` > 1 the server is several nodes sharing the database and a Redis (`harness.redis`):
reference-server processes, or an external target's command started once per node with its own
`{node}`, `{port}`, `{redis_url}` and `{redis_subscribe_url}`; each node reaches Redis through two proxy
links of its own (publish, subscribe), and each client's link pointing at the node
`harness.routing.Router` gives it (docs/multinode.md).

`Topology` owns everything a run starts, on one `AsyncExitStack`, so it always comes down in reverse order
(the runner and the pytest fixtures both build runs from it). Process management itself (spawning, PIDs,
stopping at exit) is `harness.processes`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from harness.clients.base import ClientDriver
from harness.databases import sqlite_url
from harness.errors import BackendUnavailableError, ScenarioError
from harness.history import HistoryWriter
from harness.nemesis import NemesisContext
from harness.processes import PortHold
from harness.protocol import Protocol
from harness.redis import RedisServer
from harness.routing import Router
from harness.scenario import Scenario
from harness.target import NodeGroup, ServerHandle

NODE_SQLITE_BUSY_TIMEOUT = 1.0
"""Seconds a node's SQLite write waits for the lock another node holds."""


def client_seed(scenario: Scenario, index: int) -> int:
    """The seed of the `index`-th client (from 1): its own stream, derived from the scenario's seed."""
    return scenario.seed * 1000 + index


FILES_PER_CLIENT = 4
"""Descriptors a client costs the harness process: its proxy's listener and two link sockets, and the
python driver's own socket."""


def open_files_for(clients: int) -> None:
    """Raise this process's soft limit on open files to what `clients` need (1,000 clients need about
    4,000, more than the common default of 1,024), within the hard limit; past it, say so in one line."""
    needed = FILES_PER_CLIENT * clients + 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise ScenarioError(f"{clients} clients need about {needed} open files; this process may open "
                            f"{hard} (raise it with `ulimit -n {needed}`, or run fewer clients)")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


class Topology:
    """The processes and connections of one run, started step by step and always brought down.

    The steps (`start_backend`, `start_server`, `start_links`, `start_clients`) are taken one by one, so
    the caller can arm its nemesis before the clients connect (the runner and the pytest fixtures do);
    whatever was started is stopped by `close()`, in reverse order.
    """

    def __init__(self, scenario: Scenario, run_dir: Path, history: HistoryWriter) -> None:
        self.scenario = scenario
        self.run_dir = run_dir
        self.history = history
        self.stack = contextlib.AsyncExitStack()
        self.backend: Any = None
        self.server: ServerHandle | NodeGroup | None = None
        self.nodes: dict[str, ServerHandle] = {}
        """n1, n2, ... when the target has several nodes; empty for one server."""
        self.redis: RedisServer | None = None
        self.redis_links: dict[str, tuple[str, str]] = {}
        """node -> (publish link, subscribe link): the proxies between it and Redis"""
        self.router: Router | None = None
        self.links: dict[str, str] = {}
        """client slot -> proxy name"""
        self.listen: dict[str, str] = {}
        """client slot -> host:port the client connects to"""
        self.drivers: dict[str, ClientDriver] = {}
        self.db_url = ""
        self.rows_url = ""
        self.db_link: str | None = None
        self.prefix = run_dir.name[-6:]

    async def close(self) -> None:
        await self.stack.aclose()

    async def start_backend(self) -> None:
        from harness.proxy.backends import start_proxy_backend

        s = self.scenario
        self.backend = await start_proxy_backend(s.proxy, seed=s.seed, in_process=True)
        self.stack.push_async_callback(self.backend.stop)

    async def start_server(self) -> ServerHandle | NodeGroup:
        """Create the database (and its proxy link for PostgreSQL), then start the server and wait for it."""
        s = self.scenario
        await self._database()
        if s.target.nodes > 1:
            return await self._start_nodes()
        self.server = ServerHandle(s.target, self._held_port(), self.db_url, self.run_dir, self.history)
        self.stack.push_async_callback(self._stop_server)
        await self.server.start()
        return self.server

    def _held_port(self) -> int:
        """A port for a server of this run, held until the run is over (closed after the server stops)."""
        hold = PortHold()
        self.stack.callback(hold.close)
        return hold.port

    async def _start_nodes(self) -> NodeGroup:
        """Redis, two Redis links per node, then every node; a client's node is the router's."""
        s = self.scenario
        restarts = any(f.kind == "redis_restart" for f in s.faults)
        self.redis = RedisServer(self.run_dir, self.prefix, own=restarts)
        self.stack.push_async_callback(self.redis.close)  # also lets the port go when the start fails
        await self.redis.start()
        for i in range(1, s.target.nodes + 1):
            node = f"n{i}"
            publish, subscribe = f"{self.prefix}-{node}-redis", f"{self.prefix}-{node}-redis-sub"
            pub_at = await self._create_proxy(publish, self.redis.address)
            sub_at = await self._create_proxy(subscribe, self.redis.address)
            self.redis_links[node] = (publish, subscribe)
            redis = {"redis_url": self.redis.url_at(pub_at), "redis_subscribe_url": self.redis.url_at(sub_at),
                     "redis_channel": self.redis.channel}
            args: list[str] = []
            if s.target.spec is None:
                args = ["--node", node, "--redis", redis["redis_url"], "--redis-subscribe",
                        redis["redis_subscribe_url"], "--redis-channel", redis["redis_channel"]]
                if s.target.storage == "sqlite" and "--db-busy-timeout" not in s.target.switches:
                    # Several processes write one SQLite file; the single server's 50 ms wait for the lock
                    # would turn their contention into failed stores that no fault caused.
                    args += ["--db-busy-timeout", str(NODE_SQLITE_BUSY_TIMEOUT)]
            self.nodes[node] = ServerHandle(s.target, self._held_port(), self.db_url, self.run_dir, self.history,
                                            node=node, node_args=args, redis=redis)
        group = NodeGroup(self.nodes)
        self.server = group
        self.stack.push_async_callback(self._stop_server)
        await group.start()
        self.router = Router(list(self.nodes), s.clients.slots, failover=s.target.failover, seed=s.seed,
                             repoint=self._repoint, history=self.history)
        self.history.annotate = self.router.observe
        self.stack.push_async_callback(self.router.close)
        return group

    async def _repoint(self, slot: str, node: str) -> None:
        await self.backend.control.update_proxy(self.links[slot], upstream=f"127.0.0.1:{self.nodes[node].port}")

    async def start_links(self) -> None:
        """One proxy per client, in front of the server (its node's, with several), on an ephemeral port."""
        assert self.server is not None
        open_files_for(len(self.scenario.clients.slots))
        for slot in self.scenario.clients.slots:
            name = f"{self.prefix}-{slot}"
            upstream = f"127.0.0.1:{self.nodes[self.router.node_of(slot)].port}" if self.router \
                else self.server.upstream
            self.listen[slot] = await self._create_proxy(name, upstream)
            self.links[slot] = name

    async def _create_proxy(self, name: str, upstream: str) -> str:
        control = self.backend.control
        proxy = await control.create_proxy(name=name, listen="127.0.0.1:0", upstream=upstream)
        self.stack.push_async_callback(self._quietly, control.delete_proxy, name)
        return proxy["listen"]

    async def _database(self) -> None:
        s = self.scenario
        storage = s.target.spec.database if s.target.spec is not None else s.target.storage
        if storage == "none":
            return
        if storage == "sqlite":
            self.db_url = sqlite_url(self.run_dir / "chat.db")
            self.rows_url = self.db_url
            return
        from harness.databases import fresh_postgres_database

        admin = os.environ.get("SIO_HARNESS_POSTGRES_DSN")
        if not admin:
            raise BackendUnavailableError("storage 'postgres' needs SIO_HARNESS_POSTGRES_DSN, e.g. "
                                          "postgresql://postgres@127.0.0.1:5432/postgres")
        dsn = await self.stack.enter_async_context(fresh_postgres_database(admin))
        self.rows_url = dsn
        parts = urlsplit(dsn)
        # The server reaches PostgreSQL through a proxy, so db_outage can cut exactly that link.
        self.db_link = f"{self.prefix}-db"
        listen = await self._create_proxy(self.db_link, f"{parts.hostname or '127.0.0.1'}:{parts.port or 5432}")
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = (userinfo + "@" if userinfo else "") + listen
        self.db_url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

    async def start_clients(self) -> dict[str, ClientDriver]:
        """Open every client's page through its proxy and wait for the first connects."""
        from harness.clients import make_driver

        s = self.scenario
        for index, slot in enumerate(s.clients.slots, start=1):
            driver = make_driver(s.clients.driver, slot, s.clients.settings, self.history,
                                 url=f"http://{self.listen[slot]}", seed=client_seed(s, index),
                                 protocol=self.protocol)
            self.drivers[slot] = driver
        self.stack.push_async_callback(self.close_clients)
        await asyncio.gather(*(d.start() for d in self.drivers.values()))
        return self.drivers

    async def close_clients(self) -> None:
        """Close every page once (each records its `end` event), whatever state it is in."""
        while self.drivers:
            _, driver = self.drivers.popitem()
            await self._quietly(driver.close)

    async def _stop_server(self) -> None:
        if self.server:
            await self.server.release()

    @property
    def protocol(self) -> Protocol:
        """How the clients talk to the server: the target file's protocol, or the tutorial's."""
        spec = self.scenario.target.spec
        return spec.protocol if spec is not None else Protocol()

    @property
    def state_needs_server(self) -> bool:
        """The final state is read from the live server (state `replay`), so it must still run then."""
        spec = self.scenario.target.spec
        return spec is not None and spec.state.kind == "replay"

    async def stored_count(self) -> int | None:
        """How many messages the server has stored so far, None where reading it would disturb the run
        (state `replay` connects a client of its own)."""
        spec = self.scenario.target.spec
        if spec is None:
            from harness.databases import count_db_rows

            return await count_db_rows(self.rows_url) if self.rows_url else None
        if spec.state.kind == "replay":
            return None
        return len(await self.read_final_rows())

    async def read_final_rows(self) -> list[dict[str, Any]]:
        """The messages the server stored, as its target file says to read them (the tutorial's table for
        the reference server)."""
        from harness.databases import read_db_rows

        spec = self.scenario.target.spec
        if spec is None:
            return await read_db_rows(self.rows_url) if self.rows_url else []
        from harness.state import Where, read_state

        assert self.server is not None
        server = self.server
        where = Where(url=server.url, rows_url=self.rows_url, sqlite_path=server.substitute(spec.state.path),
                      cwd=str(spec.target_dir), command=tuple(server.argv(spec.state.command or ())))
        return await read_state(spec.state, spec.protocol, where)

    @staticmethod
    async def _quietly(fn: Callable[..., Any], *args: Any) -> None:
        # Teardown of one piece must not keep the others from being torn down.
        with contextlib.suppress(Exception):
            await fn(*args)

    def nemesis_context(self) -> NemesisContext:
        from harness.databases import hold_sqlite_lock

        assert self.server is not None
        return NemesisContext(
            history=self.history, proxies=self.backend.control, links=self.links, drivers=self.drivers,
            server=self.server, storage="postgres" if self.db_link else "sqlite",
            sqlite_path=self.server.sqlite_path, db_link=self.db_link,
            frame_toxics=self.backend.kind == "embedded", lock_sqlite=hold_sqlite_lock,
            nodes=self.nodes, redis=self.redis, redis_links=self.redis_links, router=self.router)
