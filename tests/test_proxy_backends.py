"""Backend selection, the async control client, and `sio-harness proxy` as a standalone toxiproxy-server."""

from __future__ import annotations

import asyncio
import os
import socket
import sys

import pytest
from proxy_support import echo, listen_port, sync, tcp_server
from toxiproxy import Toxiproxy

from harness.errors import MissingBinaryError
from harness.processes import ManagedProcess, free_port
from harness.proxy.backends import start_proxy_backend
from harness.proxy.control import ProxyApiError, ToxiproxyClient

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def no_real_toxiproxy(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv("TOXIPROXY_URL", raising=False)
    monkeypatch.delenv("TOXIPROXY_BIN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))


async def test_missing_real_binary_is_one_clear_error(no_real_toxiproxy):
    with pytest.raises(MissingBinaryError, match="TOXIPROXY_BIN"):
        await start_proxy_backend("toxiproxy")


async def test_auto_falls_back_to_embedded(no_real_toxiproxy):
    backend = await start_proxy_backend("auto", seed=9)
    try:
        assert backend.kind == "embedded" and backend.process is not None
        assert await backend.control.version()
    finally:
        await backend.stop()
    assert not backend.process.running


async def test_auto_prefers_the_real_one(toxiproxy_bin, monkeypatch):
    monkeypatch.delenv("TOXIPROXY_URL", raising=False)
    monkeypatch.setenv("TOXIPROXY_BIN", toxiproxy_bin)
    backend = await start_proxy_backend("auto")
    try:
        assert backend.kind == "toxiproxy"
        assert await backend.control.list_proxies() == {}
    finally:
        await backend.stop()
    assert not backend.process.running


async def test_external_server_from_url_is_left_running(monkeypatch):
    owner = await start_proxy_backend("embedded", in_process=True)
    try:
        monkeypatch.setenv("TOXIPROXY_URL", owner.api_url)
        external = await start_proxy_backend("toxiproxy")
        assert external.process is None and external.api_url == owner.api_url
        await external.stop()
        assert await owner.control.version()  # still answering
    finally:
        await owner.stop()


async def test_control_client_round_trip_and_errors():
    backend = await start_proxy_backend("embedded", in_process=True)
    try:
        async with tcp_server(echo) as port:
            tp = backend.control
            info = await tp.create_proxy("c", f"127.0.0.1:{port}")
            await tp.add_toxic("c", "latency", attributes={"latency": 1}, name="lat")
            assert (await tp.update_toxic("c", "lat", attributes={"jitter": 1}))["attributes"] == \
                {"latency": 1, "jitter": 1}
            assert [t["name"] for t in await tp.list_toxics("c")] == ["lat"]
            assert (await tp.set_enabled("c", False))["enabled"] is False
            await tp.reset()
            assert (await tp.get_proxy("c"))["enabled"] is True and (await tp.list_toxics("c")) == []
            assert [p["name"] for p in await tp.populate([{"name": "d", "upstream": info["upstream"]}])] == ["d"]
            with pytest.raises(ProxyApiError, match="proxy already exists") as err:
                await tp.create_proxy("c", f"127.0.0.1:{port}")
            assert err.value.status == 409
            with pytest.raises(ProxyApiError, match="toxic not found"):
                await tp.remove_toxic("c", "lat")
            await tp.delete_proxy("c")
            assert set(await tp.list_proxies()) == {"d"}
    finally:
        await backend.stop()
    with pytest.raises(ProxyApiError, match="cannot reach"):
        async with ToxiproxyClient(backend.api_url) as gone:
            await gone.version()


async def test_standalone_command_is_a_drop_in_toxiproxy_server():
    port = free_port()
    proc = ManagedProcess("sio-harness proxy", [sys.executable, "-m", "harness.cli", "proxy", "--port", str(port),
                                                "--seed", "5"])
    await proc.start()
    try:
        await proc.wait_http(f"http://127.0.0.1:{port}/version")
        Toxiproxy().update_api_consumer("127.0.0.1", port)
        async with tcp_server(echo) as upstream:
            proxy = await sync(Toxiproxy().create, upstream=f"127.0.0.1:{upstream}", name="standalone")
            reader, writer = await asyncio.open_connection("127.0.0.1", listen_port(proxy))
            writer.write(b"through")
            assert await asyncio.wait_for(reader.readexactly(7), 5) == b"through"
            writer.close()
    finally:
        assert await proc.terminate() == 0  # SIGTERM is a clean stop


async def test_port_in_use_is_one_line_and_exit_2():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "harness.proxy", "--port", str(port),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=dict(os.environ))
        _, err = await asyncio.wait_for(child.communicate(), 20)
    assert child.returncode == 2
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and "already in use" in lines[0]
