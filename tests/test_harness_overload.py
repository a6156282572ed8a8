"""An overloaded harness says so: its loop lag and proxy backlog measured, the run inconclusive beyond a bound."""

from __future__ import annotations

import asyncio
import json
import resource
import time

import pytest

from harness import runner
from harness.errors import ScenarioError
from harness.harnessload import HarnessLoad, LoadMonitor, overload_reasons, percentile
from harness.scenario import Overload, load, resolve
from harness.topology import open_files_for


def test_percentile_is_nearest_rank_of_what_was_measured() -> None:
    assert percentile([], 0.99) == 0.0
    assert percentile([5.0], 0.99) == 5.0
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.99) == 99.0 and percentile(values, 0.5) == 50.0
    assert percentile([3.0, 1.0, 2.0], 1.0) == 3.0


def test_lag_over_the_bound_is_a_reason_and_under_it_is_none() -> None:
    bounds = Overload(loop_lag_p99_ms=250.0, proxy_backlog_bytes=1000)
    calm = HarnessLoad(lags_ms=[1.0] * 99 + [900.0], proxy_backlog_bytes=1000)
    assert overload_reasons(calm, bounds) == []
    busy = HarnessLoad(lags_ms=[1.0] * 90 + [412.4] * 10, proxy_backlog_bytes=None)
    assert overload_reasons(busy, bounds) == ["harness overloaded: event loop lag p99 412 ms > 250 ms"]
    one_stall = HarnessLoad(lags_ms=[1.0, 600.0, 2.0])
    assert one_stall.lag_p99_ms() == 2.0 and overload_reasons(one_stall, bounds) == []
    two_stalls = HarnessLoad(lags_ms=[1.0, 600.0, 300.0])
    assert overload_reasons(two_stalls, bounds) == ["harness overloaded: event loop lag p99 300 ms > 250 ms"]
    backed_up = HarnessLoad(lags_ms=[1.0], proxy_backlog_bytes=1001)
    assert overload_reasons(backed_up, bounds) == [
        "harness overloaded: proxy backlog 1001 bytes for one client > 1000 bytes"]
    tiny = Overload(loop_lag_p99_ms=0.001)
    assert overload_reasons(HarnessLoad(lags_ms=[0.0123, 0.02]), tiny) == [
        "harness overloaded: event loop lag p99 0.0123 ms > 0.001 ms"]


def test_scenario_bounds_default_and_round_trip() -> None:
    base = {"name": "x", "clients": {"count": 1000}}
    scenario = resolve(base)
    assert scenario.overload == Overload(1000.0, 1 << 20), "the exactly-once page's 1 s ack timeout"
    assert resolve(json.loads(scenario.to_json())).overload == scenario.overload
    tight = resolve({**base, "overload": {"loop_lag_p99_ms": 0.5}})
    assert tight.overload.loop_lag_p99_ms == 0.5
    assert resolve(json.loads(tight.to_json())).overload == tight.overload


async def test_the_monitor_sees_a_blocked_loop() -> None:
    monitor = LoadMonitor()
    samples = iter([10, 2_000_000, 30])
    monitor.start(lambda: next(samples, 0))
    await asyncio.sleep(0.08)
    time.sleep(0.3)  # the stall being measured: the loop is blocked, not waiting
    await asyncio.sleep(0.15)
    load_ = await monitor.stop()
    assert max(load_.lags_ms) >= 200, load_.lags_ms
    assert load_.proxy_backlog_bytes == 2_000_000
    assert await monitor.stop() is load_


async def test_an_overloaded_run_says_so(tmp_path) -> None:
    """A real run whose bound is below any timer's lateness: inconclusive with the measured lag, not a pass."""
    data = json.loads(load("baseline-no-faults").to_json())
    data["overload"] = {"loop_lag_p99_ms": 0.001}
    result = await runner.run_scenario(resolve(data), tmp_path)
    assert result.outcome.status == "inconclusive", result.outcome.reasons
    assert result.outcome.reasons[0].startswith("harness overloaded: event loop lag p99 ")
    assert result.outcome.reasons[0].endswith(" ms > 0.001 ms")
    assert all(g is True for g in result.verdict.guarantees.values() if g is not None)
    run = json.loads((result.run_dir / "run.json").read_text())
    assert run["outcome"]["status"] == "inconclusive"
    assert run["harness_load"]["loop_lag_ms"]["ticks"] >= 1
    assert run["harness_load"]["proxy_backlog_bytes"] is not None
    assert run["harness_load"]["overloaded"] == result.outcome.reasons[:1]


async def test_a_calm_run_is_not_overloaded(tmp_path) -> None:
    result = await runner.run_scenario(load("baseline-no-faults"), tmp_path)
    assert result.passed, result.outcome.reasons
    assert result.harness_load.lags_ms and result.harness_load.lag_p99_ms() < 250


def test_many_clients_raise_the_open_file_limit_within_the_hard_one() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
        open_files_for(1000)
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= 4000
        if hard != resource.RLIM_INFINITY:
            with pytest.raises(ScenarioError, match="open files"):
                open_files_for(hard)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.parametrize(("target", "clients", "bound"), [
    ({"kind": "reference", "profile": "baseline"}, {}, 1000.0),  # socket.io's 20 s ping timeout: the ceiling
    ({"kind": "reference", "profile": "at-least-once"}, {"ack_timeout": 0.5}, 500.0),
    ({"kind": "reference", "profile": "csr", "switches": ["--ping-interval", "0.25", "--ping-timeout", "0.25"]},
     {}, 250.0),  # the half-open-link cells: a pong 250 ms late is a disconnect
    ({"kind": "reference", "profile": "csr", "switches": ["--ping-timeout", "0.1"]}, {}, 250.0),  # the floor
])
def test_the_lag_bound_is_the_runs_shortest_protocol_timer(target, clients, bound) -> None:
    scenario = resolve({"name": "x", "target": target, "clients": {"count": 2, **clients}})
    assert scenario.overload.loop_lag_p99_ms == bound
