"""The Hypothesis strategies draw only valid scenarios, and the state machine writes valid schedules."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import run_state_machine_as_test

from harness import strategies
from harness.scenario import resolve, validate
from harness.strategies import Campaign, chaos_machine, fault_schedules, schedule_scenario, workloads


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_drawn_scenarios_validate_and_resolve(data: st.DataObject) -> None:
    load = data.draw(workloads())
    schedule = data.draw(fault_schedules(load["workload"]["messages"], load["clients"]["count"]))
    scenario = {"name": "drawn", "seed": 1, "target": {"kind": "reference", "profile": "exactly-once"},
                "proxy": "embedded", **load, "faults": schedule}
    validate(scenario)
    resolved = resolve(scenario)
    for fault in resolved.faults:
        spec = fault.trigger.get("after_sends")
        if spec:
            assert spec["n"] <= resolved.workload.messages
            assert spec["client"] in resolved.clients.slots
        assert fault.duration is None or fault.duration <= strategies.MAX_DURATION


class _Recorder(Campaign):
    """Checks each schedule the machine writes instead of running it."""

    def check(self, data: dict) -> list[str]:
        validate(data)
        resolved = resolve(data)
        assert resolved.workload.messages >= max(
            [f.trigger.get("after_sends", {}).get("n", 0) for f in resolved.faults] or [0])
        assert all(f.duration is None or 0 < f.duration <= strategies.MAX_DURATION for f in resolved.faults
                   if f.kind not in ("server_restart",))
        self.runs += 1
        return []


def test_machine_schedules_are_valid_scenarios() -> None:
    recorder = _Recorder(mutant="no-dedupe")
    run_state_machine_as_test(chaos_machine(recorder), settings=settings(
        max_examples=80, deadline=None, stateful_step_count=10, database=None,
        suppress_health_check=list(HealthCheck)))
    assert recorder.runs >= 80


def test_schedule_scenario_targets_the_mutant() -> None:
    data = schedule_scenario("exactly-once", "no-dedupe", [], 0, seed=3)
    assert data["target"]["mutant"] == "no-dedupe"
    assert data["workload"]["messages"] == 1 + strategies.TAIL
    assert data["expectations"]["guarantees"] == ["exactly-once", "no-phantoms"]
    validate(data)
