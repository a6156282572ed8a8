"""Each fault's observable effect on a run against the reference server (SQLite unless stated)."""

from __future__ import annotations

from typing import Any

import pytest

from harness import runner
from harness.history import read_history
from harness.scenario import resolve
from harness.steps import ACKING


async def run(tmp_path, fault: dict[str, Any], profile: str = "at-least-once", messages: int = 30,
              rate: float = 60, storage: str = "sqlite", **extra: Any) -> tuple[runner.RunResult, list[dict]]:
    scenario = resolve({"name": f"fault-{fault['kind']}", "seed": 3,
                        "target": {"kind": "reference", "profile": profile, "storage": storage},
                        "clients": {"count": 2, **({"ack_timeout": 0.5, "retries": 10}
                                                   if profile in ACKING else {})},
                        "workload": {"messages": messages, "rate": rate}, "faults": [fault],
                        "expectations": {"guarantees": []}, **extra})
    result = await runner.run_scenario(scenario, tmp_path)
    assert result.quiet.reached and not result.untriggered, (result.quiet, result.untriggered)
    return result, list(read_history(result.run_dir / "history.jsonl"))


def after_fault(events: list[dict], kind: str) -> list[dict]:
    start = next(i for i, e in enumerate(events) if e["f"] == "fault" and e["value"]["fault"] == kind)
    end = next(i for i, e in enumerate(events) if e["f"] == "heal" and e["value"]["fault"] == kind)
    return events[start:end + 1]


def window_s(events: list[dict], kind: str) -> float:
    window = after_fault(events, kind)
    return (window[-1]["t"] - window[0]["t"]) / 1e9


@pytest.mark.parametrize("kind", ["disconnect", "partition"])
async def test_link_faults_disconnect_the_target_only(tmp_path, kind):
    _, events = await run(tmp_path, {"kind": kind, "target": "c1",
                                     "trigger": {"after_sends": {"client": "c1", "n": 10}}, "duration": 0.3})
    window = after_fault(events, kind)
    assert any(e["proc"] == "c1" and e["f"] == "disconnect" for e in window)
    assert not any(e["proc"] == "c2" and e["f"] == "disconnect" for e in events)
    heal = events.index(window[-1])
    assert any(e["proc"] == "c1" and e["f"] == "connect" and e["type"] == "ok" for e in events[heal:])


async def test_blackhole_holds_acks_until_the_heal(tmp_path):
    result, events = await run(tmp_path, {"kind": "blackhole", "target": "c1",
                                          "trigger": {"after_sends": {"client": "c1", "n": 10}}, "duration": 0.6})
    window = after_fault(events, "blackhole")
    assert not any(e["proc"] == "c1" and e["f"] == "send" and e["type"] == "ok" for e in window[1:-1])
    assert any(e["proc"] == "c2" and e["f"] == "send" and e["type"] == "ok" for e in window)
    assert result.verdict.guarantees["at-least-once"]


async def test_latency_slows_the_target_acks(tmp_path):
    result, _ = await run(tmp_path, {"kind": "latency", "target": "c1", "trigger": {"at": 0},
                                     "duration": 1.0, "params": {"latency": 100}}, messages=10, rate=20)
    ack = result.verdict.latency["ack"]
    assert ack["c1"].p50_ms >= 190, ack  # 100 ms each way
    assert ack["c2"].p50_ms < 100, ack


@pytest.mark.parametrize("kind, params", [("jitter", {"latency": 30, "jitter": 20}), ("bandwidth", {"rate": 5}),
                                          ("slicer", {"average_size": 8, "size_variation": 4, "delay": 500})])
async def test_stream_toxics_keep_delivery_whole(tmp_path, kind, params):
    result, events = await run(tmp_path, {"kind": kind, "target": "all", "trigger": {"at": 0}, "duration": 0.5,
                                          "params": params}, messages=20)
    fault = next(e for e in events if e["f"] == "fault")
    assert fault["value"]["params"] == params and fault["value"]["target"] == "all"
    assert result.verdict.guarantees["exactly-once"], result.verdict.counts


async def test_page_refresh_starts_a_new_lineage(tmp_path):
    _, events = await run(tmp_path, {"kind": "page_refresh", "target": "c2",
                                     "trigger": {"after_sends": {"client": "c2", "n": 5}}})
    refresh = next(e for e in events if e["f"] == "refresh")
    assert refresh["proc"] == "c2" and refresh["value"]["next"] == "c2.1"
    assert any(e["proc"] == "c2.1" and e["f"] == "send" for e in events)


@pytest.mark.parametrize("kind, event", [("server_crash", "crash"), ("server_restart", "stop")])
async def test_server_faults_restart_on_the_same_port(tmp_path, kind, event):
    result, events = await run(tmp_path, {"kind": kind, "trigger": {"after_sends": {"client": "c1", "n": 10}},
                                          "duration": 0.2})
    server = [(e["f"], e["value"]["pid"]) for e in events if e["proc"] == "server"]
    assert [f for f, _ in server] == ["start", event, "start", "stop"]
    assert server[0][1] != server[2][1]
    window = after_fault(events, kind)
    assert {e["proc"] for e in window if e["f"] == "disconnect"} == {"c1", "c2"}
    assert result.verdict.guarantees["at-least-once"], result.verdict.counts


async def test_db_outage_on_sqlite_makes_stores_fail_and_clients_retry(tmp_path):
    result, events = await run(tmp_path, {"kind": "db_outage", "trigger": {"after_sends": {"client": "c1", "n": 10}},
                                          "duration": 0.5})
    retried = [e for e in events if e["f"] == "send" and e["type"] == "ok" and e["value"]["tries"] > 1]
    assert retried
    assert "database is locked" in (result.run_dir / "server.log").read_text()
    assert result.verdict.guarantees["at-least-once"]


async def test_db_outage_on_postgres_cuts_the_server_link(tmp_path, postgres_admin_dsn):
    result, events = await run(tmp_path, {"kind": "db_outage", "trigger": {"after_sends": {"client": "c1", "n": 10}},
                                          "duration": 0.5}, storage="postgres")
    retried = [e for e in events if e["f"] == "send" and e["type"] == "ok" and e["value"]["tries"] > 1]
    assert retried
    assert result.verdict.guarantees["at-least-once"], result.verdict.counts


async def test_frame_dup_of_a_send_stores_it_twice_on_the_baseline(tmp_path):
    result, _ = await run(tmp_path, {"kind": "frame_dup", "target": "c1",
                                     "trigger": {"frame": {"sio_type": "EVENT", "event": "chat message", "nth": 4}}},
                          profile="baseline")
    assert result.verdict.client_to_server["duplicated"] == ["c1:4"]


async def test_frame_drop_of_a_send_loses_it_on_the_baseline(tmp_path):
    result, _ = await run(tmp_path, {"kind": "frame_drop", "target": "c2",
                                     "trigger": {"frame": {"sio_type": "EVENT", "event": "chat message", "nth": 6}}},
                          profile="baseline")
    assert result.verdict.client_to_server["indeterminate"] == ["c2:6"]  # written, then dropped: outcome unknown


async def test_frame_cut_closes_the_connection_after_the_frame(tmp_path):
    _, events = await run(tmp_path, {"kind": "frame_cut", "target": "c1", "trigger": {"frame": {"nth": 5}}},
                          profile="baseline")
    invoke = next(i for i, e in enumerate(events) if e["f"] == "send" and e["value"]["id"] == "c1:5")
    assert any(e["proc"] == "c1" and e["f"] == "disconnect" for e in events[invoke:])


async def test_frame_delay_holds_one_ack(tmp_path):
    result, _ = await run(tmp_path, {"kind": "frame_delay", "target": "c1",
                                          "trigger": {"frame": {"sio_type": "ACK", "stream": "downstream", "nth": 3}},
                                          "params": {"delay": 300}}, messages=10, rate=0)
    assert result.verdict.latency["ack"]["c1"].max_ms >= 290
    assert result.verdict.guarantees["exactly-once"]


async def test_send_triggered_ack_drop_hits_the_next_ack(tmp_path):
    result, events = await run(tmp_path, {"kind": "ack_drop", "target": "c1",
                                          "trigger": {"after_sends": {"client": "c1", "n": 5}}},
                               messages=15, rate=20)
    assert result.verdict.client_to_server["duplicated"], result.verdict.counts
    retried = [e["value"]["id"] for e in events
               if e["f"] == "send" and e["type"] == "ok" and e["value"]["tries"] > 1]
    # At 20 messages/s each ack is back before the next send, so the next ACK after the 5th send is
    # the 5th's own (or, if the proxy is slower than the trigger, the 6th's).
    assert retried and retried[0] in ("c1:5", "c1:6"), retried
