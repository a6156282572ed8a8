"""The embedded server's state: proxies (listener, live links, toxics) and the operations the API offers.

Every operation answers like Toxiproxy v2.12.0 (the table in docs/proxy.md) and raises `ApiError`
for the cases the API turns into `{"error", "status"}`. Operations are serialised by one lock, as the
real server serialises them, so a "disable" returns only after every connection is closed.
"""

from __future__ import annotations

import asyncio
import errno
from typing import Any

from harness.proxy.apierror import ApiError
from harness.proxy.frametoxic import FRAME_TOXIC, OfferStripStage
from harness.proxy.link import Link, Pipe
from harness.proxy.seeding import derive_rng, fresh_seed
from harness.proxy.toxics import STANDARD_TOXICS, STREAMS, TOXICITY_MODES, Stage, Toxic, ToxicType

VERSION = "2.12.0"
TOXIC_TYPES: dict[str, ToxicType] = {**STANDARD_TOXICS, "frame": FRAME_TOXIC}


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

    def __init__(self, server: ProxyServer, name: str, listen: str, upstream: str) -> None:
        self.server = server
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        self.toxics: dict[str, Toxic] = {}
        self.links: set[Link] = set()
        self.listener: asyncio.base_events.Server | None = None
        self.accepted = 0

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "listen": self.listen, "upstream": self.upstream,
                "enabled": self.enabled, "toxics": [t.to_json() for t in self.toxics.values()]}

    def upstream_address(self) -> tuple[str, int]:
        return split_address(self.upstream, "upstream")

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
        if self.listener is not None:
            self.listener.close()
            await self.listener.wait_closed()
            self.listener = None
        for link in list(self.links):
            link.abort()
        self.links.clear()

    def _accept(self) -> asyncio.Protocol:
        link = Link(self, self.accepted)
        self.accepted += 1
        self.links.add(link)
        return link.client

    def link_finished(self, link: Link) -> None:
        self.links.discard(link)

    def make_stage(self, toxic: Toxic, link: Link, pipe: Pipe) -> Stage:
        rng = derive_rng(self.server.seed, self.name, toxic.name, link.index)
        return TOXIC_TYPES[toxic.type].stage(toxic, rng, pipe)

    def stages_for(self, link: Link, pipe: Pipe) -> list[Stage]:
        stages = [self.make_stage(t, link, pipe) for t in self.toxics.values() if t.stream == pipe.stream]
        if pipe.stream == "upstream":
            frame = next((t for t in self.toxics.values() if t.type == "frame"), None)
            if frame is not None:
                # Compressed WebSocket messages cannot be matched: keep the connection uncompressed.
                stages.insert(0, OfferStripStage(frame, derive_rng(self.server.seed, self.name, "", link.index),
                                                 pipe))
        return stages

    def live_pipes(self, stream: str) -> list[Pipe]:
        return [p for link in self.links for p in link.pipes() if p.stream == stream and not p.closed]


def _require_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "bad request body: expected a JSON object")
    return body


def _toxicity(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ApiError(400, f"toxicity must be a number between 0 and 1, got {value!r}")
    return float(value)


class ProxyServer:
    """All proxies of one embedded server. `seed` makes every random toxic decision reproducible."""

    def __init__(self, seed: int | None = None) -> None:
        self.seed = fresh_seed() if seed is None else seed
        self.proxies: dict[str, Proxy] = {}
        self.lock = asyncio.Lock()

    def get(self, name: str) -> Proxy:
        try:
            return self.proxies[name]
        except KeyError:
            raise ApiError(404, "proxy not found") from None

    @staticmethod
    def _proxy_fields(body: Any, where: str = "") -> tuple[str, str, str, bool]:
        body = _require_object(body)
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
        proxy = Proxy(self, name, listen, upstream)
        if enabled:
            await proxy.start()
        self.proxies[name] = proxy
        return proxy

    async def update(self, name: str, body: Any) -> Proxy:
        proxy = self.get(name)
        body = _require_object(body)
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
            proxy = Proxy(self, name, listen, upstream)
            if enabled:
                await proxy.start()
            self.proxies[name] = proxy
            result.append(proxy)
        return result

    async def reset(self) -> None:
        """Enable every proxy and remove every toxic (connections that survive keep flowing)."""
        for proxy in self.proxies.values():
            for toxic_name in list(proxy.toxics):
                self.remove_toxic(proxy.name, toxic_name)
            if not proxy.enabled:
                await proxy.start()

    def get_toxic(self, proxy_name: str, toxic_name: str) -> Toxic:
        proxy = self.get(proxy_name)
        try:
            return proxy.toxics[toxic_name]
        except KeyError:
            raise ApiError(404, "toxic not found") from None

    def add_toxic(self, proxy_name: str, body: Any) -> Toxic:
        proxy = self.get(proxy_name)
        body = _require_object(body)
        kind = TOXIC_TYPES.get(body.get("type"))  # type: ignore[arg-type]
        if kind is None:
            raise ApiError(400, "invalid toxic type")
        stream = body.get("stream") or "downstream"
        if stream not in STREAMS:
            raise ApiError(400, "stream was invalid, can be either upstream or downstream")
        name = body.get("name") or f"{body['type']}_{stream}"
        if not isinstance(name, str):
            raise ApiError(400, "name must be a string")
        if name in proxy.toxics:
            raise ApiError(409, "toxic already exists")
        attributes = body.get("attributes") or {}
        if not isinstance(attributes, dict):
            raise ApiError(400, "attributes must be a JSON object")
        mode = body.get("toxicity_mode", "connection")
        if mode not in TOXICITY_MODES:
            raise ApiError(400, "toxicity_mode must be connection or chunk")
        toxic = Toxic(name=name, type=body["type"], stream=stream,
                      toxicity=_toxicity(body.get("toxicity", 1.0)),
                      attributes=kind.normalise(attributes), toxicity_mode=mode)
        proxy.toxics[name] = toxic
        for link in list(proxy.links):
            pipe = link.up if stream == "upstream" else link.down
            if pipe is not None and not pipe.closed:
                stage = proxy.make_stage(toxic, link, pipe)
                stage.join_late()
                pipe.add_stage(stage)
        return toxic

    def update_toxic(self, proxy_name: str, toxic_name: str, body: Any) -> Toxic:
        toxic = self.get_toxic(proxy_name, toxic_name)
        body = _require_object(body)
        attributes = body.get("attributes") or {}
        if not isinstance(attributes, dict):
            raise ApiError(400, "attributes must be a JSON object")
        new_attributes = TOXIC_TYPES[toxic.type].normalise({**toxic.attributes, **attributes})
        toxicity = _toxicity(body["toxicity"]) if "toxicity" in body else toxic.toxicity
        mode = body.get("toxicity_mode", toxic.toxicity_mode)
        if mode not in TOXICITY_MODES:
            raise ApiError(400, "toxicity_mode must be connection or chunk")
        toxic.attributes, toxic.toxicity, toxic.toxicity_mode = new_attributes, toxicity, mode
        for pipe in self.get(proxy_name).live_pipes(toxic.stream):
            for stage in pipe.stages:
                if stage.toxic is toxic:
                    stage.retune()
        return toxic

    def remove_toxic(self, proxy_name: str, toxic_name: str) -> None:
        toxic = self.get_toxic(proxy_name, toxic_name)
        proxy = self.get(proxy_name)
        del proxy.toxics[toxic_name]
        for pipe in proxy.live_pipes(toxic.stream):
            for stage in list(pipe.stages):
                if stage.toxic is toxic:
                    pipe.remove_stage(stage)

    async def close(self) -> None:
        for proxy in self.proxies.values():
            await proxy.stop()
