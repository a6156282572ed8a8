"""The embedded proxy's seed makes random toxic decisions reproducible (the real one ignores -seed)."""

from __future__ import annotations

import asyncio

import pytest
from proxy_support import echo, tcp_server

from harness.proxy.backends import start_proxy_backend

pytestmark = pytest.mark.timeout(60)


async def _pattern(seed: int, upstream_port: int, connections: int = 50) -> list[bool]:
    """Which of `connections` sequential connections a toxicity-0.5 limit_data(0) toxic cut."""
    backend = await start_proxy_backend("embedded", seed=seed, in_process=True)
    try:
        info = await backend.control.create_proxy("coin", f"127.0.0.1:{upstream_port}")
        await backend.control.add_toxic("coin", "limit_data", toxicity=0.5, attributes={"bytes": 0})
        port = int(info["listen"].rsplit(":", 1)[1])
        hit = []
        for _ in range(connections):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"x")
            hit.append(await asyncio.wait_for(reader.read(1), 5) == b"")
            writer.close()
        return hit
    finally:
        await backend.stop()


async def test_same_seed_same_decisions_different_seed_different():
    async with tcp_server(echo) as port:
        first = await _pattern(1234, port)
        again = await _pattern(1234, port)
        other = await _pattern(4321, port)
    assert first == again
    assert 10 < sum(first) < 40  # it is a coin, not a constant
    assert first != other
