"""Temporary disconnect: c2's connection is reset for 0.3 s while c1 keeps talking.

The tutorial: without recovery the events sent meanwhile are lost for c2; connection state
recovery (csr and later steps) replays them.
"""

import pytest

from harness.steps import STEPS


@pytest.mark.parametrize("profile", STEPS)
async def test_disconnect(profile: str, run_cell) -> None:
    await run_cell("disconnect", profile)
