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
