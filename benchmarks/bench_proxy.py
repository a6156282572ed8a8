"""Proxy overhead: direct vs the real Toxiproxy vs the embedded proxy, side by side in one run.

For each path: round-trip time of small ping-pongs (median, p99) and the throughput of one large
transfer, with no toxics; then the embedded proxy with a 0 ms latency toxic on both streams, and with
a frame toxic on both streams over WebSocket-framed traffic (the toxic matches nothing, so the row
shows the cost of parsing every frame). The echo/sink server runs in its own process, the client
uses blocking sockets, each proxy runs in its own process: on a 2-core machine the three share the
CPUs, so compare rows of one run, not runs of different days.

    python benchmarks/bench_proxy.py [--pings 2000] [--mbytes 100] [--no-real]

`sio-harness bench proxy` calls `parse_args`, `measure` and `table` and takes its figures from the rows.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import struct
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TypedDict, cast

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.processes import ManagedProcess, free_port, python_module_argv
from harness.proxy.backends import ProxyBackend, find_toxiproxy_binary, start_proxy_backend
from harness.proxy.frames import BINARY, TEXT, encode_frame

PING = 64
UPGRADE = (b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\n"
           b"Connection: Upgrade\r\nX-Bytes: %d\r\n\r\n")
SWITCHING = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
MASK = b"\x01\x02\x03\x04"
DONE_FRAME = encode_frame(BINARY, b"!")  # after an upgrade the answer must be a frame too
REAL = "toxiproxy v2.12.0"


# -- the far end: echo and sink servers, run as `bench_proxy.py --serve ECHO_PORT SINK_PORT` -------------
class _Echo(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.head = b""
        self.upgraded = False

    def data_received(self, data: bytes) -> None:
        if not self.upgraded and data.startswith(b"GET "):
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            self.upgraded = True
            self.transport.write(SWITCHING)
            data = self.head[end + 4:]
        self.upgraded = True
        if data:
            self.transport.write(data)


class _Sink(asyncio.Protocol):
    """Counts `want` bytes (an 8-byte length prefix, or X-Bytes of an upgrade), then answers `!`."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.buffer = b""
        self.want = -1
        self.got = 0
        self.reply = b"!"

    def data_received(self, data: bytes) -> None:
        if self.want < 0:
            self.buffer += data
            if self.buffer.startswith(b"GET "):
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = self.buffer[:end].decode()
                self.want = int(head.split("X-Bytes: ")[1].split("\r\n")[0])
                self.transport.write(SWITCHING)
                self.reply = DONE_FRAME
                data = self.buffer[end + 4:]
            elif len(self.buffer) >= 8:
                self.want = struct.unpack("!Q", self.buffer[:8])[0]
                data = self.buffer[8:]
            else:
                return
        self.got += len(data)
        if self.got >= self.want:
            self.transport.write(self.reply)
            self.want, self.got, self.buffer = -1, 0, b""


async def _serve(echo_port: int, sink_port: int) -> None:
    loop = asyncio.get_running_loop()
    await loop.create_server(_Echo, "127.0.0.1", echo_port)
    await loop.create_server(_Sink, "127.0.0.1", sink_port)
    await asyncio.Event().wait()


# -- the client: blocking sockets, timed in a worker thread ---------------------------------------------
def _connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def _recv_exact(s: socket.socket, n: int) -> bytes:
    parts, got = [], 0
    while got < n:
        part = s.recv(n - got)
        if not part:
            raise ConnectionError("closed by peer")
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def _upgrade(s: socket.socket, total: int = 0) -> None:
    s.sendall(UPGRADE % total)
    _recv_exact(s, len(SWITCHING))


def measure_rtt(port: int, pings: int, framed: bool) -> list[float]:
    """Seconds per round trip of a 64-byte message (a masked text frame when `framed`)."""
    s = _connect(port)
    try:
        if framed:
            _upgrade(s)
            payload = b'42["chat message","' + b"x" * (PING - 26) + b'"]'
            msg = encode_frame(TEXT, payload, mask=MASK)
        else:
            msg = b"p" * PING
        out = []
        for i in range(pings + 200):
            start = time.perf_counter()
            s.sendall(msg)
            _recv_exact(s, len(msg))
            if i >= 200:  # the first round trips warm caches and the proxies' code paths
                out.append(time.perf_counter() - start)
        return out
    finally:
        s.close()


def measure_throughput(port: int, nbytes: int, framed: bool) -> float:
    """Bytes per second of one transfer of `nbytes` (in 64 KiB binary frames when `framed`)."""
    block = os.urandom(1 << 16)
    s = _connect(port)
    try:
        if framed:
            frame = encode_frame(BINARY, block, mask=MASK)
            chunk, chunks = frame * 4, nbytes // (len(block) * 4)
            _upgrade(s, chunks * len(chunk))
        else:
            chunk, chunks = block * 4, nbytes // (len(block) * 4)
            s.sendall(struct.pack("!Q", chunks * len(chunk)))
        start = time.perf_counter()
        for _ in range(chunks):
            s.sendall(chunk)
        _recv_exact(s, len(DONE_FRAME) if framed else 1)
        return chunks * len(chunk) / (time.perf_counter() - start)
    finally:
        s.close()


class Row(TypedDict):
    """One path measured: `path` names it ("direct", "toxiproxy v2.12.0", "embedded", "embedded + ...")."""

    path: str
    rtt_median_us: float
    rtt_p99_us: float
    mb_per_s: float
    note: str


async def _measure(path: str, echo: int, sink: int, args: argparse.Namespace, framed: bool = False,
                   note: str = "") -> Row:
    rtts = sorted(await asyncio.to_thread(measure_rtt, echo, args.pings, framed))
    rate = await asyncio.to_thread(measure_throughput, sink, args.mbytes * 1_000_000, framed)
    print(f"  measured {path}", file=sys.stderr, flush=True)
    return Row(path=path, rtt_median_us=statistics.median(rtts) * 1e6,
               rtt_p99_us=rtts[int(len(rtts) * 0.99)] * 1e6, mb_per_s=rate / 1e6, note=note)


async def _through(backend: ProxyBackend, echo: int, sink: int) -> tuple[int, int]:
    ports = []
    for name, port in (("bench_echo", echo), ("bench_sink", sink)):
        info = await backend.control.create_proxy(name, f"127.0.0.1:{port}")
        ports.append(int(info["listen"].rsplit(":", 1)[1]))
    return ports[0], ports[1]


async def _run(args: argparse.Namespace) -> list[Row]:
    """Every path once, in this order: direct, the real Toxiproxy (when found), the embedded variants."""
    echo, sink = free_port(), free_port()
    server = ManagedProcess("bench echo server", [sys.executable, __file__, "--serve", str(echo), str(sink)])
    await server.start()
    rows: list[Row] = []
    try:
        await server.wait_tcp("127.0.0.1", sink)
        rows.append(await _measure("direct", echo, sink, args))
        if not args.no_real and (os.environ.get("TOXIPROXY_URL") or find_toxiproxy_binary()):
            real = await start_proxy_backend("toxiproxy")
            try:
                rows.append(await _measure(REAL, *await _through(real, echo, sink), args))
            finally:
                await real.stop()
        embedded = await start_proxy_backend("embedded", seed=1)
        try:
            pe, ps = await _through(embedded, echo, sink)
            rows.append(await _measure("embedded", pe, ps, args))
            for proxy in ("bench_echo", "bench_sink"):
                for stream in ("upstream", "downstream"):
                    await embedded.control.add_toxic(proxy, "latency", stream=stream, attributes={"latency": 0})
            rows.append(await _measure("embedded + latency 0 ms", pe, ps, args, note="both streams"))
            await embedded.control.reset()
            for proxy in ("bench_echo", "bench_sink"):
                for stream in ("upstream", "downstream"):
                    await embedded.control.add_toxic(proxy, "frame", stream=stream,
                                                     attributes={"sio_type": "ACK", "action": "drop"})
            rows.append(await _measure("embedded + frame toxic", pe, ps, args, framed=True,
                                       note="WebSocket frames, parsed both ways, none match"))
        finally:
            await embedded.stop()
        await _maybe_plain_asyncio(args, echo, sink, rows)
    finally:
        await server.terminate()
    return rows


async def _maybe_plain_asyncio(args: argparse.Namespace, echo: int, sink: int, rows: list[Row]) -> None:
    """The embedded proxy on the standard asyncio loop, to show what uvloop buys (with --asyncio-loop)."""
    if not args.asyncio_loop:
        return
    from harness.proxy.control import ToxiproxyClient
    port = free_port()
    proc = ManagedProcess("embedded proxy (asyncio)", python_module_argv(
        "harness.proxy", "--port", str(port), "--loop", "asyncio"))
    await proc.start()
    try:
        await proc.wait_http(f"http://127.0.0.1:{port}/version")
        async with ToxiproxyClient(f"http://127.0.0.1:{port}") as control:
            backend = ProxyBackend("embedded", f"http://127.0.0.1:{port}", control)
            rows.append(await _measure("embedded (stdlib asyncio loop)", *await _through(backend, echo, sink),
                                       args))
    finally:
        await proc.terminate()


def measure(args: argparse.Namespace) -> list[Row]:
    """One run of the benchmark with `parse_args` options: a row per path measured."""
    return asyncio.run(_run(args))


def table(rows: Sequence[Row], args: argparse.Namespace) -> str:
    """The rows as the printed table, with the ratios to the real Toxiproxy when both were measured."""
    lines = [f"loopback, {os.cpu_count()} CPUs, {args.pings} pings of {PING} B, {args.mbytes} MB transfer "
             f"(MB = 10^6 bytes)",
             f"{'path':<32} {'RTT median':>11} {'RTT p99':>10} {'throughput':>12}  note",
             f"{'':<32} {'(us)':>11} {'(us)':>10} {'(MB/s)':>12}"]
    for r in rows:
        lines.append(f"{r['path']:<32} {r['rtt_median_us']:>11.0f} {r['rtt_p99_us']:>10.0f} "
                     f"{r['mb_per_s']:>12.0f}  {r['note']}")
    by = {r["path"]: r for r in rows}
    real, ours = by.get(REAL), by.get("embedded")
    if real and ours:
        lines.append(f"embedded / toxiproxy: RTT median {ours['rtt_median_us'] / real['rtt_median_us']:.2f}x "
                     f"(target <= 0.90x), throughput {ours['mb_per_s'] / real['mb_per_s']:.2f}x (target >= 1.50x)")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench_proxy", description=__doc__.split("\n\n")[0])
    parser.add_argument("--pings", type=int, default=2000, help="round trips measured (default 2000)")
    parser.add_argument("--mbytes", type=int, default=100, help="size of the transfer in MB (default 100)")
    parser.add_argument("--no-real", action="store_true", help="skip the real Toxiproxy")
    parser.add_argument("--asyncio-loop", action="store_true",
                        help="also run the embedded proxy on the standard asyncio loop")
    parser.add_argument("--serve", nargs=2, type=int, metavar=("ECHO", "SINK"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        asyncio.run(_serve(*args.serve))
        return 0
    print(table(measure(args), args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
