"""Blackhole / half-open link: c2's bytes vanish for 1.5 s and nothing closes the connection.

The server runs with a 0.25 s ping interval and timeout so the half-open connection is noticed
in the cell's budget (socket.io's defaults, 25 s + 20 s, would take 45 s): the server drops c2's
socket within 0.5 s, and c2, told a 1 s interval (python-engineio advertises whole seconds, see
docs/reliability.md), gives up on the silent link after 1.25 s, inside the blackhole. Fire-and-forget
sends written into the dead link are lost; the ack steps retry them.
"""

import pytest

from harness.steps import STEPS


@pytest.mark.parametrize("profile", STEPS)
async def test_blackhole(profile: str, run_cell) -> None:
    await run_cell("blackhole", profile)
