"""A server with its own protocol (tests/protocol_app.py) as an external target: every driver speaks it,
and every state reader (sqlite, command, replay) reads what it stored."""

from __future__ import annotations

import sys

import pytest
from targets_support import APP, APP_QUERY, app_target

from harness import runner
from harness.history import read_history
from harness.processes import live_pids
from harness.scenario import external_target, resolve
from harness.targetfile import target_from_dict


def scenario(target: dict, tmp_path, *, driver: str = "python", faults: list | None = None) -> dict:
    spec = target_from_dict(target, "test target", tmp_path)
    return {"name": "protocol-app", "seed": 3, "target": external_target(spec),
            "clients": {"count": 2, "driver": driver}, "workload": {"messages": 15, "rate": 50},
            "faults": faults if faults is not None else [
                {"kind": "ack_drop", "target": "c1", "trigger": {"frame": {"sio_type": "ACK", "nth": 4}}},
                {"kind": "disconnect", "target": "c2", "trigger": {"after_sends": {"client": "c2", "n": 6}},
                 "duration": 0.3}]}


def events(result, f: str) -> list[dict]:
    return [e for e in read_history(result.run_dir / "history.jsonl") if e["f"] == f and e["proc"].startswith("c")]


@pytest.mark.parametrize("state", [
    {"kind": "sqlite", "query": "SELECT seq AS id, body AS content, client_id AS client_offset FROM messages"},
    {"kind": "command", "command": [sys.executable, str(APP), "--dump", "--db", "{db_path}"]},
    {"kind": "replay"},
], ids=["sqlite", "command", "replay"])
async def test_the_claimed_step_holds_under_a_lost_ack_and_a_disconnect(tmp_path, state):
    result = await runner.run_scenario(resolve(scenario(app_target(state=state), tmp_path)), tmp_path)
    assert result.outcome.status == "pass", result.outcome.reasons
    assert result.verdict.rows == 30
    assert result.scenario.expectations.guarantees == ("exactly-once",)
    # The dropped ack made c1 retry; the app acknowledged the retry as a duplicate and stored it once.
    assert any(e["type"] == "ok" and e["value"]["tries"] > 1 for e in events(result, "send"))
    received = events(result, "recv")
    assert received and all(isinstance(e["value"]["server_offset"], int) for e in received)
    assert all(e["value"]["id"] for e in received), "every broadcast's content found at /0/text"
    connects = [e["value"] for e in events(result, "connect") if e["type"] == "ok"]
    assert any(c["server_offset"] > 0 for c in connects), "the reconnect sent auth.since"
    assert live_pids() == []


async def test_the_node_driver_speaks_the_same_protocol(tmp_path, node_modules):
    result = await runner.run_scenario(resolve(scenario(app_target(), tmp_path, driver="node")), tmp_path)
    assert result.outcome.status == "pass", result.outcome.reasons
    assert result.verdict.rows == 30
    assert any(e["type"] == "ok" and e["value"]["tries"] > 1 for e in events(result, "send"))


@pytest.mark.parametrize("driver, transports", [("python", ["websocket"]), ("node", ["websocket"]),
                                                ("python", ["polling"])], ids=["python", "node", "polling"])
async def test_a_namespace_an_engine_path_and_transports_of_its_own(tmp_path, driver, transports, request):
    if driver == "node":
        request.getfixturevalue("node_modules")
    target = app_target(state={"kind": "replay"}, protocol={**app_target()["protocol"], "namespace": "/chat",
                                                            "path": "/ws/", "transports": transports})
    if transports == ["polling"]:
        target["state"] = {"kind": "sqlite", "query": APP_QUERY}  # see docs/targets.md: replay over polling
    target["start"]["command"] += ["--namespace", "/chat", "--path", "ws"]
    data = scenario(target, tmp_path, driver=driver,
                    faults=[] if transports == ["polling"] else None)  # frame toxics need a WebSocket
    resolved = resolve(data)
    assert resolved.clients.settings.transports == tuple(transports)
    result = await runner.run_scenario(resolved, tmp_path)
    assert result.outcome.status == "pass", result.outcome.reasons
    assert result.verdict.rows == 30


@pytest.mark.parametrize("state", [
    {"kind": "sqlite", "order": "read",
     "query": "SELECT printf('s%012d', seq) AS id, body AS content, client_id AS client_offset FROM messages"},
    {"kind": "replay", "order": "read"}], ids=["sqlite", "replay"])
async def test_string_offsets_are_offsets_too(tmp_path, state):
    target = app_target(state=state)
    target["start"]["command"].append("--string-ids")
    result = await runner.run_scenario(resolve(scenario(target, tmp_path)), tmp_path)
    assert result.outcome.status == "pass", result.outcome.reasons
    assert result.verdict.rows == 30
    offsets = {e["value"]["server_offset"] for e in events(result, "recv")}
    assert offsets and all(isinstance(o, str) and o.startswith("s") for o in offsets)
    assert any(isinstance(e["value"]["server_offset"], str) and e["value"]["server_offset"] != "s"
               for e in events(result, "connect") if e["type"] == "ok"), "the reconnect sent the string offset"


async def test_an_ack_that_says_no_is_not_a_success(tmp_path):
    # ack_ok asks for a field the app never sends: every ack is a refusal, so nothing counts as acknowledged.
    target = app_target(protocol={**app_target()["protocol"],
                                  "send": {**app_target()["protocol"]["send"], "ack_ok": {"ok": "yes"}}})
    data = {**scenario(target, tmp_path, faults=[]), "expectations": {"guarantees": []}}
    result = await runner.run_scenario(resolve(data), tmp_path)
    outcomes = [e for e in events(result, "send") if e["type"] != "invoke"]
    assert outcomes and all(e["type"] == "info" and e["value"]["reason"] == "rejected" for e in outcomes)
