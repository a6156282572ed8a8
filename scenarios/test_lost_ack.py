"""Lost ack: the server commits c1's 5th message, and the embedded proxy's frame toxic drops
the ACK frame on its way back (on steps without acks it drops the 5th message itself).

The frame toxic places the fault at the same protocol point on every run. The tutorial:
at-least-once stores the retry again; exactly-once's UNIQUE client_offset refuses it.
"""

import pytest

from harness.steps import STEPS


@pytest.mark.parametrize("profile", STEPS)
async def test_lost_ack(profile: str, run_cell) -> None:
    await run_cell("lost_ack", profile)
