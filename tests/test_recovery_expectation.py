"""The `recovery` expectation: reconnects counted by their `recovered` flag, and the outcome rule on them."""

from __future__ import annotations

import pytest
from checkers_support import Story

from harness.checkers.delivery import check
from harness.checkers.verdict import Verdict
from harness.errors import ScenarioError
from harness.expectations import ExpectationError, Expectations
from harness.outcome import decide, expectations_of
from harness.report.junit import junit_xml
from harness.scenario import resolve

NOT_RECOVERED = Expectations(guarantees=(), recovery={"recovered": False})


def reconnect(story: Story, proc: str, reason: str, recovered: bool) -> Story:
    story.ev(proc, "info", "disconnect", reason=reason)
    return story.ev(proc, "ok", "connect", sid="s2", recovered=recovered, server_offset=0)


def ended(story: Story, *procs: str) -> Story:
    for proc in procs:
        story.ev(proc, "ok", "end", connected=True)
    return story


def verdict_of(story: Story, expected: Expectations = NOT_RECOVERED) -> Verdict:
    return check(story.events, story.rows, expected)


def test_a_reconnect_after_a_transport_close_is_counted_by_its_flag() -> None:
    story = Story().start("c1").start("c2")
    reconnect(story, "c1", "transport close", recovered=False)
    reconnect(story, "c2", "ping timeout", recovered=True)
    reconnect(story, "c2", "transport error", recovered=False)
    verdict = verdict_of(ended(story, "c1", "c2"))
    assert verdict.reconnects == {"recovered": 1, "not_recovered": 2}


def test_the_first_connect_and_a_reconnect_after_a_deliberate_disconnect_are_not_counted() -> None:
    # After `socket.disconnect()` (or the server's) socket.io keeps no session: nothing to recover.
    story = Story().start("c1")
    reconnect(story, "c1", "io client disconnect", recovered=False)
    reconnect(story, "c1", "io server disconnect", recovered=False)
    story.ev("c1", "fail", "connect", reason="websocket error")
    assert verdict_of(ended(story, "c1")).reconnects == {"recovered": 0, "not_recovered": 0}


def test_failed_connect_attempts_between_do_not_consume_the_reconnect() -> None:
    story = Story().start("c1")
    story.ev("c1", "info", "disconnect", reason="transport close")
    story.ev("c1", "fail", "connect", reason="websocket error")
    story.ev("c1", "fail", "connect", reason="websocket error")
    story.ev("c1", "ok", "connect", sid="s1", recovered=True, server_offset=0)
    assert verdict_of(ended(story, "c1")).reconnects == {"recovered": 1, "not_recovered": 0}


@pytest.mark.parametrize(("recovered", "flags", "status"), [
    (False, {"recovered": 0, "not_recovered": 1}, "pass"),
    (False, {"recovered": 2, "not_recovered": 0}, "fail"),
    (True, {"recovered": 1, "not_recovered": 1}, "fail"),
    (True, {"recovered": 2, "not_recovered": 0}, "pass"),
    (False, {"recovered": 0, "not_recovered": 0}, "inconclusive"),
])
def test_outcome_of_the_recovery_expectation(recovered: bool, flags: dict[str, int], status: str) -> None:
    story = Story().start("c1")
    for flag, n in flags.items():
        for _ in range(n):
            reconnect(story, "c1", "transport close", recovered=flag == "recovered")
    expected = Expectations(guarantees=(), recovery={"recovered": recovered, "min": 2 if recovered else 1})
    outcome = decide(verdict_of(ended(story, "c1"), expected), expected)
    assert outcome.status == status, outcome.reasons
    if status != "pass":
        assert any("reconnects with recovered=" in r for r in outcome.reasons)


def test_the_expectation_round_trips_through_the_verdict_and_the_scenario() -> None:
    story = ended(reconnect(Story().start("c1"), "c1", "transport close", recovered=False), "c1")
    verdict = Verdict.from_json(verdict_of(story).to_json())
    assert verdict.reconnects == {"recovered": 0, "not_recovered": 1}
    assert expectations_of(verdict).recovery == {"recovered": False, "min": 1}
    scenario = resolve({"name": "r", "expectations": {"recovery": {"recovered": False, "min": 2}}})
    assert scenario.expectations.recovery == {"recovered": False, "min": 2}
    assert resolve(scenario.to_dict()).expectations == scenario.expectations


@pytest.mark.parametrize("bad", [{"min": 1}, {"recovered": "no"}, {"recovered": False, "min": 0},
                                 {"recovered": False, "max": 3}])
def test_a_malformed_recovery_expectation_is_refused(bad: dict) -> None:
    with pytest.raises(ExpectationError):
        Expectations.from_dict({"recovery": bad})
    with pytest.raises(ScenarioError, match="expectations"):
        resolve({"name": "r", "expectations": {"recovery": bad}})


def test_junit_has_a_case_for_the_recovery_expectation() -> None:
    story = ended(reconnect(Story().start("c1"), "c1", "transport close", recovered=True), "c1")
    xml = junit_xml("run", verdict_of(story), {"name": "r"}).decode()
    assert 'name="reconnects with recovered=false &gt;= 1"' in xml
    assert 'failures="1"' in xml
