"""The nemesis's own logic against fakes: triggers fire at the right point, every fault is healed."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import pytest
from faults_support import FakeDriver, FakeProxies, FakeServer

from harness.errors import ScenarioError
from harness.faults.frames import PARKED
from harness.history import HistoryWriter, read_history
from harness.nemesis import Nemesis, NemesisContext
from harness.scenario import resolve


def make(tmp_path: Path, faults: list[dict[str, Any]], clients: int = 2, frame: bool = True,
         lock: Any = None) -> tuple[Nemesis, FakeProxies, FakeServer, HistoryWriter]:
    scenario = resolve({"name": "t", "seed": 1, "clients": {"count": clients}, "workload": {"messages": 50},
                        "faults": faults})
    history = HistoryWriter(tmp_path / "h.jsonl")
    proxies, server = FakeProxies(), FakeServer()
    slots = scenario.clients.slots
    ctx = NemesisContext(history=history, proxies=proxies, links={s: f"p-{s}" for s in slots},
                         drivers={s: FakeDriver(s) for s in slots},  # type: ignore[misc]
                         server=server, sqlite_path=tmp_path / "x.db", frame_toxics=frame, lock_sqlite=lock)
    return Nemesis(ctx, scenario.faults), proxies, server, history


async def test_after_sends_starts_between_send_n_and_n_plus_1(tmp_path):
    nemesis, proxies, _, history = make(tmp_path, [
        {"kind": "partition", "target": "c2", "trigger": {"after_sends": {"client": "c1", "n": 7}}, "duration": 0.05}])
    nemesis.begin()
    for n in range(1, 11):
        history.append("c1", "invoke", "send", {"id": f"c1:{n}"})
        await nemesis.on_send("c1", n)
        await nemesis.on_send("c2", n)  # other clients' counts must not trigger it
    await nemesis.wait_schedule()
    events = [(e["proc"], e["f"], e["value"].get("id")) for e in read_history(history.path)]
    fault_at = events.index(("nemesis", "fault", None))
    assert events[fault_at - 1] == ("c1", "send", "c1:7")
    assert events[fault_at + 1] == ("c1", "send", "c1:8")
    assert proxies.calls == [("enabled", "p-c2", False), ("enabled", "p-c2", True)]
    assert [e["f"] for e in read_history(history.path) if e["proc"] == "nemesis"] == ["fault", "heal"]


async def test_once_received_holds_the_fault_until_that_client_holds_an_offset(tmp_path):
    nemesis, proxies, _, history = make(tmp_path, [
        {"kind": "disconnect", "target": "c2", "duration": 0.01,
         "trigger": {"after_sends": {"client": "c1", "n": 2, "once_received": {"client": "c2"}}}}])
    nemesis.begin()
    await nemesis.on_send("c1", 1)
    sixth = asyncio.create_task(nemesis.on_send("c1", 2))
    await asyncio.sleep(0)
    history.append("c1", "ok", "recv", {"id": "c1:1", "server_offset": 1})
    await asyncio.sleep(0)
    assert not sixth.done() and proxies.calls == [], "c1's receive is not c2's"
    history.append("c2.1", "ok", "recv", {"id": "c1:1", "server_offset": 1})  # a refreshed page counts
    await sixth
    await nemesis.wait_schedule()
    assert [e["f"] for e in read_history(history.path) if e["proc"] == "nemesis"] == ["fault", "heal"]
    assert history.received("c2") == 1 and nemesis.pending == []


async def test_once_received_may_name_every_client_that_must_hold_an_offset(tmp_path):
    nemesis, _, _, history = make(tmp_path, clients=3, faults=[
        {"kind": "disconnect", "target": "c2", "duration": 0.01,
         "trigger": {"after_sends": {"client": "c1", "n": 1,
                                     "once_received": [{"client": "c2"}, {"client": "c3", "n": 2}]}}}])
    nemesis.begin()
    first = asyncio.create_task(nemesis.on_send("c1", 1))
    for proc in ("c2", "c3"):
        history.append(proc, "ok", "recv", {"id": "c1:1", "server_offset": 1})
    await asyncio.sleep(0)
    assert not first.done(), "c3 has received one of its two"
    history.append("c3", "ok", "recv", {"id": "c1:2", "server_offset": 2})
    await first
    await nemesis.wait_schedule()
    assert [e["f"] for e in read_history(history.path) if e["proc"] == "nemesis"] == ["fault", "heal"]


async def test_once_received_that_never_comes_leaves_the_fault_untriggered(tmp_path, monkeypatch):
    monkeypatch.setattr("harness.nemesis.schedule.RECEIVE_WAIT", 0.05)
    nemesis, proxies, _, _ = make(tmp_path, [
        {"kind": "disconnect", "target": "c2", "duration": 0.01,
         "trigger": {"after_sends": {"client": "c1", "n": 1, "once_received": {"client": "c2", "n": 3}}}}])
    nemesis.begin()
    await nemesis.on_send("c1", 1)
    assert proxies.calls == []
    assert [f.label for f in nemesis.pending] == ["disconnect@c2"]


def test_once_received_names_a_client_of_the_scenario():
    with pytest.raises(ScenarioError, match="once_received.client: no client 'c9'"):
        resolve({"name": "t", "clients": {"count": 2}, "workload": {"messages": 5}, "faults": [
            {"kind": "disconnect", "target": "c2",
             "trigger": {"after_sends": {"client": "c1", "n": 1, "once_received": {"client": "c9"}}}}]})


async def test_time_trigger_and_duration(tmp_path):
    nemesis, proxies, _, history = make(tmp_path, [
        {"kind": "latency", "target": "c1", "trigger": {"at": 0.1}, "duration": 0.1,
         "params": {"latency": 50, "stream": "downstream"}}])
    nemesis.begin()
    await nemesis.wait_schedule()
    nem = [e for e in read_history(history.path) if e["proc"] == "nemesis"]
    assert [e["f"] for e in nem] == ["fault", "heal"]
    # Generous bounds: a loaded 2-core machine may add scheduling delay, never remove it.
    assert (nem[1]["t"] - nem[0]["t"]) / 1e9 >= 0.09
    add = proxies.calls[0]
    assert add[:5] == ("add", "p-c1", "latency-0-downstream", "latency", "downstream")
    assert add[5] == {"latency": 50, "jitter": 0}
    assert proxies.calls[1] == ("remove", "p-c1", "latency-0-downstream")


async def test_frame_fault_arms_at_nth_and_heals_after_count(tmp_path):
    nemesis, proxies, _, history = make(tmp_path, [
        {"kind": "ack_drop", "target": "c1", "trigger": {"frame": {"sio_type": "ACK", "nth": 3}},
         "params": {"count": 2}}])
    await nemesis.arm()
    nemesis.begin()
    await asyncio.sleep(0.02)
    assert [e["f"] for e in read_history(history.path)] == [], "armed is not yet a fault"
    add = proxies.calls[0]
    assert add[:5] == ("add", "p-c1", "ack_drop-0", "frame", "downstream")
    assert add[5] == {"sio_type": "ACK", "action": "drop", "nth": 3, "count": 2, "delay": 0}
    proxies.fire("p-c1", "ack_drop-0")
    await asyncio.sleep(0.03)
    assert [e["f"] for e in read_history(history.path)] == ["fault"]
    assert ("remove", "p-c1", "ack_drop-0") not in proxies.calls
    proxies.fire("p-c1", "ack_drop-0")
    await asyncio.wait_for(asyncio.gather(*nemesis._frame_tasks), 2)
    assert proxies.calls[-1] == ("remove", "p-c1", "ack_drop-0")
    heal = [e for e in read_history(history.path) if e["f"] == "heal"][0]
    assert heal["value"]["fired"] == 2


async def test_frame_trigger_for_a_server_fault_waits_for_the_frame(tmp_path):
    nemesis, proxies, server, history = make(tmp_path, [
        {"kind": "server_crash", "trigger": {"frame": {"client": "c2", "sio_type": "EVENT", "nth": 4}},
         "duration": 0.01}])
    await nemesis.arm()
    nemesis.begin()
    await asyncio.sleep(0.03)
    assert server.calls == []
    watch = proxies.calls[0]
    assert watch[:5] == ("add", "p-c2", "trigger-0", "frame", "upstream")
    assert watch[5]["action"] == "delay" and watch[5]["nth"] == 4
    proxies.fire("p-c2", "trigger-0")
    await asyncio.wait_for(asyncio.gather(*nemesis._frame_tasks), 2)
    assert server.calls == ["crash", "start"]
    assert ("remove", "p-c2", "trigger-0") in proxies.calls
    nem = [(e["f"], e["value"]["fault"]) for e in read_history(history.path)]
    assert nem == [("fault", "server_crash"), ("heal", "server_crash")], "the watching toxic is not a fault"


async def test_overlapping_server_faults_restart_the_server_once(tmp_path):
    """Two heals of overlapping outages must not start a second server process over the first."""
    nemesis, _, server, _ = make(tmp_path, [
        {"kind": "server_crash", "trigger": {"at": 0}, "duration": 0.05},
        {"kind": "server_restart", "trigger": {"at": 0.01}, "duration": 0.01}])
    nemesis.begin()
    await asyncio.sleep(0.15)
    await nemesis.heal_all()
    assert server.calls.count("start") == 1
    assert server.running


async def test_heal_all_undoes_faults_cut_short(tmp_path):
    locked = []

    @contextlib.asynccontextmanager
    async def lock(path):
        locked.append(("lock", path.name))
        yield
        locked.append(("unlock", path.name))

    nemesis, proxies, server, history = make(tmp_path, [
        {"kind": "partition", "target": "all", "trigger": {"at": 0}, "duration": 30},
        {"kind": "db_outage", "trigger": {"at": 0}, "duration": 30},
        {"kind": "server_restart", "trigger": {"at": 0}, "duration": 30},
        {"kind": "blackhole", "target": "c1", "trigger": {"at": 60}}], lock=lock)
    nemesis.begin()
    await asyncio.sleep(0.05)
    await nemesis.heal_all()
    assert ("enabled", "p-c1", True) in proxies.calls and ("enabled", "p-c2", True) in proxies.calls
    assert locked == [("lock", "x.db"), ("unlock", "x.db")]
    assert server.calls == ["stop", "start"]
    kinds = [(e["f"], e["value"]["fault"]) for e in read_history(history.path) if e["proc"] == "nemesis"]
    assert sorted(kinds) == sorted([("fault", "partition"), ("fault", "db_outage"), ("fault", "server_restart"),
                                    ("heal", "partition"), ("heal", "db_outage"), ("heal", "server_restart")])
    assert not any(c[0] == "add" for c in proxies.calls), "the untriggered blackhole must never start"


async def test_page_refresh_records_the_new_lineage(tmp_path):
    nemesis, _, _, history = make(tmp_path, [
        {"kind": "page_refresh", "target": "c2", "trigger": {"after_sends": {"n": 3}}}])
    nemesis.begin()
    for n in range(1, 5):
        await nemesis.on_send("c2", n)
    await nemesis.wait_schedule()
    heal = [e for e in read_history(history.path) if e["f"] == "heal"][0]
    assert (heal["value"]["from"], heal["value"]["to"]) == ("c2", "c2.1")


async def test_untriggered_faults_are_reported(tmp_path):
    nemesis, *_ = make(tmp_path, [{"kind": "disconnect", "trigger": {"after_sends": {"client": "c1", "n": 40}}},
                                  {"kind": "frame_dup", "target": "c2", "trigger": {"frame": {"nth": 3}}}])
    await nemesis.arm()
    nemesis.begin()
    for n in range(1, 10):
        await nemesis.on_send("c1", n)
    assert nemesis.frames_waiting
    assert [f.label for f in nemesis.pending] == ["disconnect@c1", "frame_dup@c2"]
    await nemesis.heal_all()


def test_frame_faults_need_the_embedded_proxy(tmp_path):
    with pytest.raises(ScenarioError, match="embedded"):
        make(tmp_path, [{"kind": "ack_drop"}], frame=False)


async def test_send_triggered_frame_fault_is_parked_then_aimed(tmp_path):
    nemesis, proxies, _, history = make(tmp_path, [
        {"kind": "frame_dup", "target": "c1", "trigger": {"after_sends": {"client": "c1", "n": 3}}}])
    await nemesis.arm()
    assert proxies.calls[0][:4] == ("add", "p-c1", "frame_dup-0", "frame")
    assert proxies.calls[0][5]["nth"] == PARKED
    nemesis.begin()
    proxies.toxics[("p-c1", "frame_dup-0")]["matched"] = 7  # frames seen before the trigger
    for n in range(1, 4):
        await nemesis.on_send("c1", n)
    assert proxies.calls[-1] == ("update", "p-c1", "frame_dup-0", {"nth": 8})
    assert nemesis.frames_waiting
    proxies.fire("p-c1", "frame_dup-0")
    await asyncio.wait_for(asyncio.gather(*nemesis._frame_tasks), 2)
    assert proxies.calls[-1] == ("remove", "p-c1", "frame_dup-0")
    assert [e["f"] for e in read_history(history.path)] == ["fault", "heal"]
    assert nemesis.pending == []


async def test_a_parked_fault_never_triggered_is_removed_and_reported(tmp_path):
    nemesis, proxies, _, history = make(tmp_path, [
        {"kind": "ack_drop", "target": "c2", "trigger": {"after_sends": {"client": "c1", "n": 40}}}])
    await nemesis.arm()
    nemesis.begin()
    await nemesis.heal_all()
    assert proxies.calls[-1] == ("remove", "p-c2", "ack_drop-0")
    assert [f.label for f in nemesis.pending] == ["ack_drop@c2"]
    assert list(read_history(history.path)) == []


async def test_aiming_a_parked_toxic_retries_when_frames_slip_past(tmp_path):
    nemesis, proxies, _, _ = make(tmp_path, [
        {"kind": "frame_drop", "target": "c1", "trigger": {"at": 0}}])
    await nemesis.arm()
    toxic = proxies.toxics[("p-c1", "frame_drop-0")]
    real_update = proxies.update_toxic
    slips = [2]

    async def racing_update(proxy, name, *, attributes=None, toxicity=None):
        if slips[0]:
            slips[0] -= 1
            toxic["matched"] = attributes["nth"]  # a frame arrived between the read and the update
        return await real_update(proxy, name, attributes=attributes)

    proxies.update_toxic = racing_update
    nemesis.begin()
    await asyncio.sleep(0.05)
    updates = [c[3]["nth"] for c in proxies.calls if c[0] == "update"]
    assert updates == [1, 2, 3]
    await nemesis.heal_all()
