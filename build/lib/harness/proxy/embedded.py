"""Run the embedded Toxiproxy-compatible server on a host and port, in the current event loop."""

from __future__ import annotations

import errno

from aiohttp import web

from harness.errors import PortInUseError
from harness.proxy.api import build_app
from harness.proxy.server import ProxyServer


class EmbeddedServer:
    """A started embedded server: its API address, its state, and how to stop it."""

    def __init__(self, runner: web.AppRunner, server: ProxyServer, host: str, port: int) -> None:
        self.runner = runner
        self.server = server
        self.host = host
        self.port = port

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def stop(self) -> None:
        """Close the API and every proxy with its connections."""
        await self.runner.cleanup()


async def serve_embedded(host: str = "127.0.0.1", port: int = 0, seed: int | None = None) -> EmbeddedServer:
    """Start the API on host:port (0 = an ephemeral port); PortInUseError when the port is taken."""
    server = ProxyServer(seed)
    runner = web.AppRunner(build_app(server), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(f"port {port} on {host} is already in use; pick another with --port "
                                 f"or stop the process holding it") from None
        raise
    bound = runner.addresses[0]
    return EmbeddedServer(runner, server, host, bound[1])
