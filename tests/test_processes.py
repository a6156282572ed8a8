"""Process management: readiness errors that tell a starved start from a hung one."""

from __future__ import annotations

import re
import sys

import pytest

from harness.errors import ProcessStartError
from harness.processes import ManagedProcess, free_port


async def test_a_start_that_never_listens_says_how_much_cpu_it_had() -> None:
    idle = ManagedProcess("idle child", [sys.executable, "-c", "import signal; signal.pause()"])
    await idle.start()
    try:
        with pytest.raises(ProcessStartError) as caught:
            await idle.wait_tcp("127.0.0.1", free_port(), timeout=0.3)
        used = re.search(r"it used ([0-9.]+) s of CPU in \d+ s; load average [0-9.]+", str(caught.value))
        assert used is not None, str(caught.value)
        assert float(used.group(1)) < 5.0
        cpu = idle.cpu_seconds()
        assert cpu is not None and cpu >= 0.0
    finally:
        await idle.kill()


async def test_a_server_on_a_port_another_server_took_is_not_taken_for_ready(tmp_path) -> None:
    """Two runs handed one port: the second server cannot bind it, and the first one's answers on it must
    not pass for the second's readiness (its clients would talk to the other run's server)."""
    from harness.processes import start_reference_server

    port = free_port()
    first = await start_reference_server(port, f"sqlite:///{tmp_path / 'a.db'}")
    try:
        with pytest.raises(ProcessStartError, match="exited with code"):
            await start_reference_server(port, f"sqlite:///{tmp_path / 'b.db'}", log_path=tmp_path / "b.log")
    finally:
        await first.kill()


def _plain_bind(port: int) -> bool:
    """Can anyone else (no SO_REUSEADDR: `free_port`, the local end of a connection) take `port`?"""
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


async def test_a_held_port_survives_its_servers_restart_and_nobody_else_can_take_it(tmp_path) -> None:
    """A server crashed and restarted comes back on its port: between the two, the hold keeps it."""
    import asyncio

    from harness.processes import PortHold, start_reference_server

    hold = PortHold()
    try:
        assert not _plain_bind(hold.port)
        for attempt in ("a", "b"):  # the start, then the restart after a crash
            server = await start_reference_server(hold.port, f"sqlite:///{tmp_path / 'chat.db'}",
                                                  log_path=tmp_path / f"{attempt}.log")
            _, writer = await asyncio.open_connection("127.0.0.1", hold.port)
            writer.close()
            await server.kill()
            assert not _plain_bind(hold.port)  # down, and still nobody else's
    finally:
        hold.close()
    assert _plain_bind(hold.port)  # let go at the end
