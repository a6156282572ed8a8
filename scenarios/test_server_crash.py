"""Server crash: SIGKILL after c1's 6th message, restarted on the same port 0.3 s later.

The tutorial: CSR 'doesn't always work, for example if the server abruptly crashes': the sessions
die with the process. The serverOffset replay (server-delivery) and the retries (at-least-once)
repair it.
"""

import pytest

from harness.steps import STEPS


@pytest.mark.parametrize("profile", STEPS)
async def test_server_crash(profile: str, run_cell) -> None:
    await run_cell("server_crash", profile)
