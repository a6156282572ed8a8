"""The wait for quiet: silent clients are not enough while the server still stores messages."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from harness.runner import RunHistory, wait_quiet


def idle_clients() -> dict[str, Any]:
    return {"c1": SimpleNamespace(connected=True, pending=0)}


async def test_quiet_waits_until_the_stored_count_stops_changing(tmp_path: Path) -> None:
    history = RunHistory(tmp_path / "h.jsonl")
    history.append("c1", "ok", "recv", {"id": "c1:1"})
    started = time.monotonic()
    changes: list[float] = []

    async def stored() -> int:
        # A server still committing a backlog for a second after the clients went silent.
        if time.monotonic() - started < 1.0:
            changes.append(time.monotonic())
        return len(changes)

    quiet = await wait_quiet(idle_clients(), history, settle=0.2, timeout=5.0, stored=stored)
    quiet_at = time.monotonic()
    assert quiet.reached and not quiet.storing
    assert len(changes) >= 2, "the backlog was never seen"
    # The count is unchanged for the settle window (less two polls) from its last change to quiet.
    assert quiet_at - changes[-1] >= 0.2 - 0.04 - 0.001


async def test_quiet_says_the_server_was_still_storing_when_the_timeout_came(tmp_path: Path) -> None:
    history = RunHistory(tmp_path / "h.jsonl")
    rows = iter(range(10**6))

    async def stored() -> int:
        return next(rows)

    quiet = await wait_quiet(idle_clients(), history, settle=0.05, timeout=0.3, stored=stored)
    assert not quiet.reached and quiet.storing


async def test_a_state_that_cannot_be_counted_leaves_quiet_to_the_clients(tmp_path: Path) -> None:
    history = RunHistory(tmp_path / "h.jsonl")

    async def stored() -> None:
        return None

    quiet = await wait_quiet(idle_clients(), history, settle=0.05, timeout=1.0, stored=stored)
    assert quiet.reached and quiet.waited < 0.5
