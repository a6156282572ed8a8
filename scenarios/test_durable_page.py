"""The matrix's sixth row: the exactly-once step with the durable page (`reference_server/static/durable.html`)
in Chromium, under every fault family.

The tutorial's exactly-once page abandons what it had not sent when it is reloaded (test_page_refresh.py);
the durable page keeps its outbox, counter and offset in localStorage and sends the outbox again after the
reload with the same clientOffsets, so its page-refresh cell holds exactly-once with nothing abandoned. The
other single-node families must keep what the tutorial's exactly-once page keeps (the multi-node families,
docs/multinode.md, run only the tutorial's page). Needs Chromium (`apt-get install
chromium`); without it the cells are skipped, and under CI=true they fail.
"""

import os

import pytest

from harness.guarantees import DURABLE, FAMILIES


@pytest.fixture(autouse=True)
def chromium() -> None:
    from harness.clients.browser_driver import chromium_path
    from harness.errors import MissingBinaryError

    try:
        chromium_path()
    except MissingBinaryError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(str(exc))
        pytest.skip(str(exc))


@pytest.mark.parametrize("family", [f for f in FAMILIES if not FAMILIES[f].multinode])
async def test_durable_page(family: str, run_cell) -> None:
    await run_cell(family, DURABLE)
