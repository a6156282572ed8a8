"""`sio-harness proxy`: the embedded proxy as a standalone, drop-in `toxiproxy-server`."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from harness.proxy.embedded import serve_embedded


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address of the HTTP API (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8474, help="port of the HTTP API (default 8474, "
                                                                "Toxiproxy's; 0 = any free port)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of every random toxic decision (default: random, printed at start)")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop",
                        help="event loop (uvloop is faster; asyncio when uvloop is not installed)")


async def _serve(host: str, port: int, seed: int | None) -> int:
    embedded = await serve_embedded(host, port, seed)
    print(f"embedded toxiproxy API on {embedded.api_url} (seed {embedded.server.seed})", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await embedded.stop()
    return 0


def run(args: argparse.Namespace) -> int:
    if args.loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            print("sio-harness proxy: uvloop not installed, using asyncio", file=sys.stderr)
        else:
            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return asyncio.run(_serve(args.host, args.port, args.seed))
