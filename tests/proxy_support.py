"""Helpers for the proxy tests: backends driven through toxiproxy-python, echo servers, timed reads."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

from toxiproxy import Toxiproxy
from toxiproxy.api import APIConsumer

from harness.proxy.backends import ProxyBackend, start_proxy_backend


@asynccontextmanager
async def backend_for_toxiproxy_python(kind: str, seed: int = 7) -> AsyncIterator[ProxyBackend]:
    """A backend with toxiproxy-python's global APIConsumer pointed at it, stopped afterwards."""
    os.environ.pop("TOXIPROXY_URL", None)
    backend = await start_proxy_backend(kind, seed=seed, in_process=(kind == "embedded"))  # type: ignore[arg-type]
    url = urlsplit(backend.api_url)
    Toxiproxy().update_api_consumer(url.hostname, url.port)
    try:
        yield backend
    finally:
        await backend.stop()


async def sync(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a (blocking) toxiproxy-python call without blocking the loop the embedded server runs in."""
    return await asyncio.to_thread(fn, *args, **kwargs)


async def api_error(call: Callable[[], Any]) -> dict[str, Any]:
    """The JSON error body of a toxiproxy-python call that the server refused."""
    try:
        await sync(call)
    except Exception as exc:  # toxiproxy-python raises bare Exception subclasses with the body
        return json.loads(exc.args[0])
    raise AssertionError("the call was expected to fail")


def post(path: str, body: Any) -> Any:
    return APIConsumer.post(path, json=body)


@asynccontextmanager
async def tcp_server(handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
                     ) -> AsyncIterator[int]:
    """A throwaway TCP server on an ephemeral loopback port; yields the port."""
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


def listen_port(proxy: Any) -> int:
    return int(proxy.listen.rsplit(":", 1)[1])


async def read_all(reader: asyncio.StreamReader, timeout: float = 5.0) -> bytes:
    """Everything until EOF (raises TimeoutError if EOF does not come)."""
    return await asyncio.wait_for(reader.read(), timeout)
