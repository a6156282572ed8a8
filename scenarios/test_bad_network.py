"""Bad network: 150 +/- 100 ms latency on every link and c2's bytes sliced into 8-byte chunks,
for 1 s.

TCP delivers everything late but in order and well within the 1 s ack timeout, so every step
keeps exactly-once here: slowness alone is not what breaks delivery.
"""

import pytest

from harness.steps import STEPS


@pytest.mark.parametrize("profile", STEPS)
async def test_bad_network(profile: str, run_cell) -> None:
    await run_cell("bad_network", profile)
