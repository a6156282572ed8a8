"""The clients' workloads run together; one failing stops the others and its own error reaches the user."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from harness.errors import HarnessError
from harness.runner import _workloads
from harness.scenario import Workload


class Broken:
    async def send(self, text: str) -> str:
        raise HarnessError("c1's driver lost its node process")


class Stuck:
    def __init__(self) -> None:
        self.cancelled = False

    async def send(self, text: str) -> str:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        return ""


async def test_one_failing_workload_cancels_the_others_and_raises_its_own_error() -> None:
    scenario: Any = SimpleNamespace(workload=Workload(messages=5), clients=SimpleNamespace(count=2))
    nemesis: Any = SimpleNamespace(on_send=None)
    stuck = Stuck()
    with pytest.raises(HarnessError, match="lost its node process"):
        await _workloads(scenario, {"c1": Broken(), "c2": stuck}, nemesis)  # type: ignore[dict-item]
    assert stuck.cancelled
