"""The memory benchmark's flood: every message sent at once must be stored (docs/reliability.md).

The "stall" of the 1,000,000-event run was the reference server's per-connection rate limit refusing
part of the flood, silently at a step that asks for no acks. One client firing 3,000 messages at once
shows it at a small scale: bursts of 1,000, then 500/s.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

from harness.runner import run_scenario
from harness.scenario import resolve

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_memory.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_memory", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _flood(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "quiet": {"settle": 1.0, "timeout": 60}}


async def test_the_benchmark_flood_is_stored_whole(tmp_path: Path) -> None:
    result = await run_scenario(resolve(_flood(_bench().scenario(1, 3000))), tmp_path)
    assert result.verdict.counts["abandoned"] + result.verdict.counts["indeterminate"] == 0
    assert "over the rate limit" not in (result.run_dir / "server.log").read_text()


async def test_the_server_says_once_when_it_refuses_a_flood(tmp_path: Path) -> None:
    data = _bench().scenario(1, 3000)
    data["target"] = {key: value for key, value in data["target"].items() if key != "switches"}
    result = await run_scenario(resolve(_flood(data)), tmp_path)
    # Fire and forget: a refused message was sent and never stored, so its fate is `indeterminate`.
    assert result.verdict.counts["indeterminate"] > 0
    assert (result.run_dir / "server.log").read_text().count("over the rate limit") == 1
