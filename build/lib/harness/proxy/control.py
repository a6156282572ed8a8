"""Async client of the Toxiproxy HTTP API, for either backend, one instance per server.

toxiproxy-python is synchronous and keeps its host in a class attribute, so two servers cannot be
driven at once from one process; the harness uses this client instead. Every refused call raises
`ProxyApiError` carrying the server's own message and status.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from harness.errors import HarnessError


class ProxyApiError(HarnessError):
    """The Toxiproxy API refused a call (`status` is its HTTP code, the message is the server's)."""

    def __init__(self, status: int, message: str, method: str, path: str) -> None:
        super().__init__(f"toxiproxy {method} {path}: {message} (HTTP {status})")
        self.status = status
        self.server_message = message


class ToxiproxyClient:
    """`async with ToxiproxyClient(url) as tp: await tp.create_proxy(...)`, or call `close()` yourself."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ToxiproxyClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        try:
            async with self._session.request(method, self.base_url + path, json=body) as resp:
                raw = await resp.read()
                if resp.status >= 400:
                    raise ProxyApiError(resp.status, _message(raw), method, path)
                return await resp.json(content_type=None) if raw else None
        except aiohttp.ClientConnectionError as exc:
            raise ProxyApiError(0, f"cannot reach {self.base_url}: {exc}", method, path) from None

    async def version(self) -> str:
        return (await self._call("GET", "/version"))["version"]

    async def list_proxies(self) -> dict[str, dict[str, Any]]:
        return await self._call("GET", "/proxies")

    async def get_proxy(self, name: str) -> dict[str, Any]:
        return await self._call("GET", f"/proxies/{name}")

    async def create_proxy(self, name: str, upstream: str, listen: str = "127.0.0.1:0",
                           enabled: bool = True) -> dict[str, Any]:
        """Create a proxy; the answer's `listen` holds the real port when `listen` asked for port 0."""
        return await self._call("POST", "/proxies",
                                {"name": name, "upstream": upstream, "listen": listen, "enabled": enabled})

    async def update_proxy(self, name: str, **fields: Any) -> dict[str, Any]:
        return await self._call("POST", f"/proxies/{name}", fields)

    async def set_enabled(self, name: str, enabled: bool) -> dict[str, Any]:
        """Disable: new connections refused and open ones closed; enable: listen again."""
        return await self.update_proxy(name, enabled=enabled)

    async def delete_proxy(self, name: str) -> None:
        await self._call("DELETE", f"/proxies/{name}")

    async def populate(self, proxies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return (await self._call("POST", "/populate", proxies))["proxies"] or []

    async def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        await self._call("POST", "/reset")

    async def list_toxics(self, proxy: str) -> list[dict[str, Any]]:
        return await self._call("GET", f"/proxies/{proxy}/toxics")

    async def get_toxic(self, proxy: str, name: str) -> dict[str, Any]:
        return await self._call("GET", f"/proxies/{proxy}/toxics/{name}")

    async def add_toxic(self, proxy: str, type: str, *, stream: str = "downstream", name: str | None = None,
                        toxicity: float = 1.0, attributes: dict[str, Any] | None = None,
                        **extra: Any) -> dict[str, Any]:
        """Add a toxic; `extra` passes embedded-only fields such as `toxicity_mode="chunk"`."""
        body = {"type": type, "stream": stream, "toxicity": toxicity, "attributes": attributes or {}, **extra}
        if name:
            body["name"] = name
        return await self._call("POST", f"/proxies/{proxy}/toxics", body)

    async def update_toxic(self, proxy: str, name: str, *, attributes: dict[str, Any] | None = None,
                           toxicity: float | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"attributes": attributes or {}}
        if toxicity is not None:
            body["toxicity"] = toxicity
        return await self._call("POST", f"/proxies/{proxy}/toxics/{name}", body)

    async def remove_toxic(self, proxy: str, name: str) -> None:
        await self._call("DELETE", f"/proxies/{proxy}/toxics/{name}")

    async def wait_fired(self, proxy: str, name: str, at_least: int = 1, timeout: float = 10.0) -> int:
        """Wait until a `frame` toxic (embedded backend) has acted `at_least` times; returns the count.

        The HTTP API has no push channel, so this polls the toxic's read-only `fired` counter.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            fired = int((await self.get_toxic(proxy, name)).get("fired", 0))
            if fired >= at_least:
                return fired
            if loop.time() > deadline:
                raise ProxyApiError(408, f"toxic {name} fired {fired} times, not {at_least}, "
                                         f"within {timeout:.0f}s", "GET", f"/proxies/{proxy}/toxics/{name}")
            await asyncio.sleep(0.01)


def _message(raw: bytes) -> str:
    try:
        return str(json.loads(raw)["error"])
    except (ValueError, KeyError, TypeError):
        return raw.decode(errors="replace").strip() or "no message"
