"""The embedded server's state: its proxies (listener, toxic collection) and the operations the API offers.

Every operation answers like Toxiproxy v2.12.0 (the table in docs/proxy.md) and raises `ApiError`
for the cases the API turns into `{"error", "status"}`. Operations are serialised by one lock, as the
real server serialises them, so a "disable" returns only after every connection is closed. Toxics and
open connections belong to each proxy's `ToxicCollection`.
"""

from __future__ import annotations

import asyncio
import errno
from typing import Any

from harness.proxy.apierror import ApiError, require_object
from harness.proxy.seeding import fresh_seed
from harness.proxy.toxic_collection import ToxicCollection

VERSION = "2.12.0"


def split_address(address: str, what: str) -> tuple[str, int]:
    """`host:port` or `[v6]:port` into its parts; a 400 saying which field is wrong otherwise."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ApiError(400, f"{what} must be host:port, got {address!r}")
    return (host.strip("[]") or "127.0.0.1"), int(port)


def join_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Proxy:
    """One listening address relayed to one upstream, with its toxics and its open links."""

    def __init__(self, seed: int, name: str, listen: str, upstream: str) -> None:
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        self.toxics = ToxicCollection(seed, name)
        self.listener: asyncio.base_events.Server | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "listen": self.listen, "upstream": self.upstream,
                "enabled": self.enabled, "toxics": self.toxics.to_json()}

    async def start(self) -> None:
        if self.listener is not None:
            return
        host, port = split_address(self.listen, "listen")
        try:
            self.listener = await asyncio.get_running_loop().create_server(
                self._accept, host, port, reuse_address=True, backlog=1024)
        except OSError as exc:
            reason = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
            raise ApiError(500, f"listen tcp {self.listen}: bind: {reason}") from None
        bound = self.listener.sockets[0].getsockname()
        self.listen = join_address(bound[0], bound[1])
        self.enabled = True

    async def stop(self) -> None:
        """Stop listening and close every open connection; data held by toxics is dropped."""
        self.enabled = False
        listener, self.listener = self.listener, None
        if listener is not None:
            listener.close()
        # The links before the wait: from Python 3.12 on, wait_closed() waits for every accepted
        # connection, and an idle one (a browser keeps its page load's keep-alive connection) would hold
        # a re-point until the browser let it go.
        self.toxics.drop_links()
        if listener is not None:
            await listener.wait_closed()

    def _accept(self) -> asyncio.Protocol:
        return self.toxics.new_link(split_address(self.upstream, "upstream")).client


class ServerState:
    """All proxies of one embedded server. `seed` makes every random toxic decision reproducible."""

    def __init__(self, seed: int | None = None) -> None:
        self.seed = fresh_seed() if seed is None else seed
        self.proxies: dict[str, Proxy] = {}
        self.lock = asyncio.Lock()

    def largest_client_backlog(self) -> int:
        """The most bytes any open link holds for its client (`Link.client_backlog`), 0 without links."""
        return max((link.client_backlog() for proxy in self.proxies.values() for link in proxy.toxics.links),
                   default=0)

    def get(self, name: str) -> Proxy:
        try:
            return self.proxies[name]
        except KeyError:
            raise ApiError(404, "proxy not found") from None

    @staticmethod
    def _proxy_fields(body: Any, where: str = "") -> tuple[str, str, str, bool]:
        body = require_object(body)
        for key in ("name", "upstream"):
            if not isinstance(body.get(key), str) or not body[key]:
                raise ApiError(400, f"missing required field: {key}{where}")
        listen = body.get("listen") or "127.0.0.1:0"
        if not isinstance(listen, str):
            raise ApiError(400, f"listen must be host:port{where}")
        split_address(listen, "listen")
        split_address(body["upstream"], "upstream")
        enabled = body.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ApiError(400, f"enabled must be true or false{where}")
        return body["name"], listen, body["upstream"], enabled

    async def create(self, body: Any) -> Proxy:
        name, listen, upstream, enabled = self._proxy_fields(body)
        if name in self.proxies:
            raise ApiError(409, "proxy already exists")
        proxy = Proxy(self.seed, name, listen, upstream)
        if enabled:
            await proxy.start()
        self.proxies[name] = proxy
        return proxy

    async def update(self, name: str, body: Any) -> Proxy:
        proxy = self.get(name)
        body = require_object(body)
        listen = body.get("listen") or proxy.listen
        upstream = body.get("upstream") or proxy.upstream
        if not isinstance(listen, str) or not isinstance(upstream, str):
            raise ApiError(400, "listen and upstream must be host:port strings")
        split_address(listen, "listen")
        split_address(upstream, "upstream")
        enabled = body.get("enabled", proxy.enabled)
        if not isinstance(enabled, bool):
            raise ApiError(400, "enabled must be true or false")
        if listen != proxy.listen or upstream != proxy.upstream:
            was_enabled = proxy.enabled
            await proxy.stop()
            proxy.listen, proxy.upstream = listen, upstream
            if was_enabled:
                await proxy.start()
        if enabled and not proxy.enabled:
            await proxy.start()
        elif not enabled and proxy.enabled:
            await proxy.stop()
        return proxy

    async def delete(self, name: str) -> None:
        proxy = self.get(name)
        await proxy.stop()
        del self.proxies[name]

    async def populate(self, body: Any) -> list[Proxy]:
        if not isinstance(body, list):
            raise ApiError(400, "bad request body: expected a JSON list of proxies")
        wanted = [self._proxy_fields(entry, f" at proxy {i + 1}") for i, entry in enumerate(body)]
        result = []
        for name, listen, upstream, enabled in wanted:
            existing = self.proxies.get(name)
            if existing is not None and existing.listen == listen and existing.upstream == upstream:
                result.append(existing)
                continue
            if existing is not None:
                await self.delete(name)
            proxy = Proxy(self.seed, name, listen, upstream)
            if enabled:
                await proxy.start()
            self.proxies[name] = proxy
            result.append(proxy)
        return result

    async def reset(self) -> None:
        """Enable every proxy and remove every toxic (connections that survive keep flowing)."""
        for proxy in self.proxies.values():
            proxy.toxics.remove_all()
            if not proxy.enabled:
                await proxy.start()

    async def close(self) -> None:
        for proxy in self.proxies.values():
            await proxy.stop()
