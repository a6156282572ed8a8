"""Property-based chaos, short budget: Hypothesis draws schedules of sends, faults and heals against the
exactly-once step, which must keep its promise on every one (harness.strategies explains why Hypothesis
never re-runs a schedule). `sio-harness explore --budget 10m` runs the long campaign (docs/explore.md);
tests/test_strategies_chaos.py hunts a mutant.
"""

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from harness.strategies import Campaign, run_search

EXAMPLES = 4


@pytest.mark.timeout(180)
def test_exactly_once_keeps_its_promise_under_drawn_schedules(chaos_reports: Path, storage_ready: str,
                                                              request: pytest.FixtureRequest) -> None:
    campaign = Campaign(profile="exactly-once", storage=storage_ready, reports=chaos_reports,
                        seed=request.config.getoption("--chaos-seed") or 1)
    failure = run_search(campaign, settings(max_examples=EXAMPLES, deadline=None, stateful_step_count=6,
                                            database=None, suppress_health_check=list(HealthCheck)))
    assert failure is None, failure
    assert campaign.runs >= EXAMPLES
