"""Property-based chaos against real runs: exactly-once survives a short search; a mutant is found, shrunk
to its cause and proven by replays of its scenario file, inside the budget."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings

from harness.explore.session import Session
from harness.strategies import Campaign, run_search

pytestmark = pytest.mark.timeout(300)


def test_exactly_once_survives_a_short_search(tmp_path: Path) -> None:
    campaign = Campaign(profile="exactly-once", reports=tmp_path)
    found = run_search(campaign, settings(max_examples=3, deadline=None, stateful_step_count=5, database=None,
                                          phases=[Phase.generate], suppress_health_check=list(HealthCheck)))
    assert found is None and campaign.runs >= 3
    assert campaign.coverage.faults >= 1 or not any(campaign.coverage.windows.values())


def test_a_mutant_is_found_shrunk_and_proven_within_its_budget(tmp_path: Path) -> None:
    # Only lost acks, and two replays: the suite keeps this real search short; `bench detect` runs them all.
    began = time.monotonic()
    result = Session(profile="exactly-once", mutant="no-dedupe", reports=tmp_path, kinds=("ack_drop",),
                     budget=60.0, replays=2).run()
    assert time.monotonic() - began < 60 + 10
    assert result["status"] == "found", result
    case = result["case"]
    assert case["size"]["faults"] <= 2 and "duplicated" in case["categories"]
    assert case["proof"]["reproduced"] == 2, case["proof"]
    saved = json.loads(Path(case["scenario"]).read_text())
    assert saved["target"]["mutant"] == "no-dedupe" and {f["kind"] for f in saved["faults"]} == {"ack_drop"}
    assert result["coverage"]["windows"]["store-to-ack"] >= 1
