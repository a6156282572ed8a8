"""The balancer's re-pointing of a client's link (harness/routing.py, docs/multinode.md) on the real
Toxiproxy: a new upstream on a live proxy, on the same address, closing what was open. (That polling
sessions stay on one node is checked in tests/test_targets_multinode.py, on a real two-node server.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from proxy_support import tcp_server

from harness.proxy.backends import start_proxy_backend

pytestmark = pytest.mark.timeout(90)


def _answering(name: bytes):
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(name)
        await writer.drain()
        # Held open until the peer goes: a live connection the re-pointing must close.
        await reader.read()
        writer.close()
    return handler


@asynccontextmanager
async def _connection(listen: str) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    host, port = listen.rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        yield reader, writer
    finally:
        writer.close()


async def test_the_real_toxiproxy_repoints_a_live_link_on_the_same_address(toxiproxy_bin, monkeypatch):
    monkeypatch.delenv("TOXIPROXY_URL", raising=False)
    monkeypatch.setenv("TOXIPROXY_BIN", toxiproxy_bin)
    backend = await start_proxy_backend("toxiproxy")
    try:
        assert backend.kind == "toxiproxy"
        async with tcp_server(_answering(b"n1")) as n1, tcp_server(_answering(b"n2")) as n2:
            proxy = await backend.control.create_proxy(name="c1", listen="127.0.0.1:0", upstream=f"127.0.0.1:{n1}")
            listen = proxy["listen"]
            async with _connection(listen) as (before, _):
                assert await asyncio.wait_for(before.readexactly(2), 5) == b"n1"
                updated = await backend.control.update_proxy("c1", upstream=f"127.0.0.1:{n2}")
                assert updated["upstream"] == f"127.0.0.1:{n2}" and updated["listen"] == listen
                # What was open through the link is closed, as docs/multinode.md says of both proxies.
                assert await asyncio.wait_for(before.read(), 5) == b""
            async with _connection(listen) as (after, _):
                assert await asyncio.wait_for(after.readexactly(2), 5) == b"n2"
    finally:
        await backend.stop()
