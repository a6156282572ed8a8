"""Property-based chaos against real runs: exactly-once survives, a mutant is found and shrunk, and a
failure that does not reproduce never becomes a Hypothesis failure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, settings

from harness import runner
from harness.outcome import Outcome
from harness.strategies import Campaign, run_search

pytestmark = pytest.mark.timeout(300)


def _settings(examples: int, steps: int = 5) -> settings:
    return settings(max_examples=examples, deadline=None, stateful_step_count=steps, database=None,
                    suppress_health_check=list(HealthCheck))


def test_exactly_once_survives_a_short_search(tmp_path: Path) -> None:
    campaign = Campaign(profile="exactly-once", reports=tmp_path)
    assert run_search(campaign, _settings(3)) is None
    assert campaign.runs >= 3 and campaign.found is None


def test_a_mutant_is_found_shrunk_and_replayed(tmp_path: Path) -> None:
    # Only lost acks: every candidate Hypothesis tries while shrinking is a real run (twice when it
    # fails), so the suite keeps the search small; `sio-harness explore` searches every kind.
    campaign = Campaign(profile="exactly-once", mutant="no-dedupe", reports=tmp_path, kinds=("ack_drop",))
    failure = run_search(campaign, _settings(25, steps=4))
    assert failure is not None and "duplicated" in failure
    saved = json.loads(campaign.found.read_text())
    assert saved["target"]["mutant"] == "no-dedupe"
    assert [f["kind"] for f in saved["faults"]] == ["ack_drop"], saved["faults"]
    assert saved["workload"]["messages"] <= 10
    replay = subprocess.run([sys.executable, "-m", "harness.cli", "replay", str(campaign.found_run),
                             "--reports", str(tmp_path / "replays")], capture_output=True, text=True, timeout=120)
    assert replay.returncode == 1, replay.stdout + replay.stderr
    (again,) = (tmp_path / "replays").iterdir()
    verdict = json.loads((again / "verdict.json").read_text())
    assert len(verdict["client_to_server"]["duplicated"]) >= 1


def _result(passed: bool, run_dir: Path) -> SimpleNamespace:
    outcome = Outcome("pass", []) if passed else Outcome("fail", ["exactly-once violated: 1 duplicated"])
    return SimpleNamespace(passed=passed, run_dir=run_dir, outcome=outcome)


def test_a_failure_that_does_not_reproduce_counts_as_a_pass(tmp_path: Path, monkeypatch) -> None:
    outcomes = iter([False, True, False, False])

    async def fake_run(scenario, reports):
        return _result(next(outcomes), tmp_path / "run")

    monkeypatch.setattr(runner, "run_scenario", fake_run)
    campaign = Campaign(reports=tmp_path)
    data = {"name": "x", "seed": 1}
    assert campaign.check(data) == []
    assert campaign.unreproduced == [str(tmp_path / "run")] and campaign.found is None
    assert campaign.check(data) == ["exactly-once violated: 1 duplicated"]
    assert campaign.found is not None and json.loads(campaign.found.read_text()) == data
