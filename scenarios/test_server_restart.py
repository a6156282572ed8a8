"""Graceful server restart: SIGTERM after c1's 6th message, then a restart on the same port.

The tutorial: CSR does not survive a restart (its sessions live in memory); the serverOffset
replay does.
"""

import pytest

from harness.steps import STEPS


@pytest.mark.parametrize("profile", STEPS)
async def test_server_restart(profile: str, run_cell) -> None:
    await run_cell("server_restart", profile)
