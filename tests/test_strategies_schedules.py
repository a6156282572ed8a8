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


class _KindRecorder(_Recorder):
    """Also keeps each drawn fault's kind and target."""

    drawn: set[tuple[str, str]]

    def check(self, data: dict) -> list[str]:
        self.drawn.update((f["kind"], f.get("target", "")) for f in data["faults"])
        return super().check(data)


def test_on_several_nodes_the_machine_draws_node_and_redis_faults_and_no_server_fault() -> None:
    kinds = strategies.searched_kinds(2)
    assert {"node_crash", "node_restart", "node_pause", "redis_outage", "redis_restart", "deaf_node"} <= set(kinds)
    assert not {"server_crash", "server_restart"} & set(kinds)
    assert not {"node_crash", "redis_outage"} & set(strategies.searched_kinds(1))
    recorder = _KindRecorder(kinds=kinds, nodes=2, target={"kind": "reference", "profile": "exactly-once",
                                                           "nodes": 2})
    recorder.drawn = set()
    run_state_machine_as_test(chaos_machine(recorder), settings=settings(
        max_examples=150, deadline=None, stateful_step_count=10, database=None,
        suppress_health_check=list(HealthCheck)))
    node_targets = {target for kind, target in recorder.drawn if kind.startswith("node_")}
    assert node_targets == {"n1", "n2"}, recorder.drawn
    assert {target for kind, target in recorder.drawn if kind == "redis_restart"} <= {"redis"}
    assert {kind for kind, _ in recorder.drawn} >= {"node_crash", "disconnect", "redis_outage"}


def test_an_outage_may_wait_until_c1_holds_a_server_offset() -> None:
    recorder = _KindRecorder(mutant="replay-off-by-one")
    recorder.drawn = set()
    waits: list[bool] = []
    check = recorder.check

    def keep(data: dict) -> list[str]:
        for f in data["faults"]:
            if f["kind"] in ("server_crash", "server_restart"):
                waits.append(f["trigger"]["after_sends"].get("once_received") == {"client": "c1"})
        return check(data)

    recorder.check = keep  # type: ignore[method-assign]
    run_state_machine_as_test(chaos_machine(recorder), settings=settings(
        max_examples=100, deadline=None, stateful_step_count=10, database=None,
        suppress_health_check=list(HealthCheck)))
    assert True in waits and False in waits
