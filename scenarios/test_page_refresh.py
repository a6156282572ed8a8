"""Page refresh mid-send: c1 goes offline after its 5th message, submits five more (buffered in
the page), and is reloaded after its 10th.

The tutorial's caveat: a message is lost when 'the connection is severed while the event is being
sent (like a page refresh or tab close)'. No later step lifts it: socket.io-client keeps the
buffer and the retries queue in memory, so every step loses the unsent messages (a finding for
the at-least-once and exactly-once steps).
"""

import pytest

from harness.steps import STEPS


@pytest.mark.parametrize("profile", STEPS)
async def test_page_refresh(profile: str, run_cell) -> None:
    await run_cell("page_refresh", profile)
