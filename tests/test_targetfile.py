"""Target files (harness/targetfile.py) and the protocol description (harness/protocol.py), without servers."""

from __future__ import annotations

import json

import pytest
from targets_support import APP_PROTOCOL, app_target, write_target

from harness.cli import main
from harness.errors import ScenarioError
from harness.protocol import Protocol
from harness.scenario import external_target, resolve
from harness.steps import ACKING, STEPS, client_preset
from harness.targetfile import is_target_file, load_target, target_from_dict

MINIMAL = {"target_version": 1, "name": "t", "start": {"command": ["node", "server.js", "--port", "{port}"]}}


def test_defaults_are_the_tutorials_server():
    spec = target_from_dict(MINIMAL)
    assert (spec.step, spec.database, spec.state.kind, spec.state.path) == ("exactly-once", "sqlite", "sqlite",
                                                                          "{db_path}")
    assert spec.protocol == Protocol()
    assert spec.protocol.encode_send("c1:1", "sid-0") == ["c1:1", "sid-0"]
    assert spec.to_dict() == MINIMAL


def test_a_url_target_reads_its_state_by_replay_and_has_no_database():
    spec = target_from_dict({"target_version": 1, "name": "t", "url": "http://127.0.0.1:3000"})
    assert (spec.started_by_harness, spec.database, spec.state.kind) == (False, "none", "replay")
    assert "not applicable" in spec.not_applicable("server", "server_crash")
    assert "not applicable" in spec.not_applicable("db", "db_outage")
    with_controls = target_from_dict({"target_version": 1, "name": "t", "url": "http://127.0.0.1:3000",
                                      "controls": {"crash": ["kill"], "start": ["start"]}})
    assert with_controls.not_applicable("server", "server_crash") is None
    assert "controls.stop" in with_controls.not_applicable("server", "server_restart")


@pytest.mark.parametrize("change, field, fix", [
    ({"start": None}, "start", "start.command"),
    ({"start": {"command": ["x", "{prot}"]}}, "start.command.1", "{port}"),
    ({"start": {"command": ["x"], "env": {"A": "{dburl}"}}}, "start.env.A", "{db_url}"),
    ({"start": {"command": ["x"], "bogus": 1}}, "start", "allowed here: command, cwd, env, ready"),
    ({"target_version": 2}, "target_version", "target_version 1"),
    ({"step": "at-most-once"}, "step", '"exactly-once"'),
    ({"url": "http://127.0.0.1:1"}, "url", "not both"),
    ({"protocol": {"send": {"ack": "yes"}}}, "protocol.send.ack", '"auto", true, false'),
    ({"protocol": {"send": {"args": ["{text}"]}}}, "protocol.send.args", "{content}"),
    ({"protocol": {"send": {"args": ["{client_offset}"]}}}, "protocol.send.args", "exactly once"),
    ({"protocol": {"send": {"args": ["{content}"]}}}, "protocol.send.args", "{client_offset}"),
    ({"protocol": {"receive": {"offset": "seq"}}}, "protocol.receive.offset", "see docs/targets.md"),
    ({"step": "csr", "state": {"kind": "replay"}}, "state.kind", "sqlite, postgres or command"),
    ({"state": {"kind": "postgres"}}, "state.kind", "database postgres"),
    ({"state": {"kind": "command"}}, "state.command", "one JSON object per line"),
    ({"step": "at-least-once", "protocol": {"send": {"ack": False}}}, "protocol.send.ack", "auto or true"),
])
def test_a_wrong_file_names_the_field_and_the_fix_in_one_line(change, field, fix):
    data = {k: v for k, v in {**MINIMAL, **change}.items() if v is not None}
    with pytest.raises(ScenarioError) as info:
        target_from_dict(data, "t.json")
    message = str(info.value)
    assert message.startswith(f"t.json: field {field}:"), message
    assert fix in message and "\n" not in message


def test_a_url_target_cannot_name_the_harness_db_path():
    with pytest.raises(ScenarioError, match="field state.path: .db_path. is the file the harness picks"):
        target_from_dict({"target_version": 1, "name": "t", "url": "http://127.0.0.1:3000", "step": "csr",
                          "state": {"kind": "sqlite"}})


@pytest.mark.parametrize("step", STEPS)
def test_the_step_picks_the_reference_profiles_client_and_expectations(tmp_path, step):
    # The bug of issue 14: every external target got the exactly-once client (acks and retries).
    spec = target_from_dict({**MINIMAL, "step": step})
    s = resolve({"name": "n", "target": external_target(spec)})
    preset = client_preset(step)
    settings = s.clients.settings
    assert (settings.ack, settings.retries, settings.retry_mode, settings.client_offset) == \
        (preset["ack"], preset["retries"], preset["retry_mode"], preset["client_offset"])
    assert settings.ack == (step in ACKING)
    reference = resolve({"name": "n", "target": {"profile": step}})
    assert s.expectations == reference.expectations
    assert s.clients.settings == reference.clients.settings


def test_a_target_waits_for_quiet_at_least_its_settle():
    spec = target_from_dict(MINIMAL)
    assert resolve({"name": "n", "target": external_target(spec)}).quiet.settle == 1.0
    longer = resolve({"name": "n", "target": external_target(spec), "quiet": {"settle": 2.5}})
    assert longer.quiet.settle == 2.5
    quick = target_from_dict({**MINIMAL, "settle": 0.2})
    assert resolve({"name": "n", "target": external_target(quick)}).quiet.settle == 0.3


def test_ack_true_makes_a_page_without_acks_observe_them():
    spec = target_from_dict({**MINIMAL, "step": "csr", "protocol": {"send": {"ack": True}}})
    settings = resolve({"name": "n", "target": external_target(spec)}).clients.settings
    assert (settings.ack, settings.retries) == (True, 0)


def test_the_target_round_trips_through_the_resolved_scenario(tmp_path):
    spec = load_target(write_target(tmp_path, app_target()))
    s = resolve({"name": "n", "target": external_target(spec)})
    again = resolve(json.loads(s.to_json()))
    assert again.target.spec == spec and again.target.spec.target_dir == tmp_path.resolve()


def test_a_scenario_may_name_its_target_file_relative_to_itself(tmp_path):
    write_target(tmp_path, app_target(), "app.json")
    scenario = tmp_path / "s.json"
    scenario.write_text(json.dumps({"name": "n", "target": {"kind": "external", "file": "app.json"}}))
    from harness.scenario import load

    assert load(scenario).target.spec.name == "protocol-app"


def test_at_step_rejudges_the_same_server_or_says_why_it_cannot():
    spec = target_from_dict(app_target())
    assert spec.at_step("csr").step == "csr"
    replayed = target_from_dict(app_target(state={"kind": "replay"}))
    with pytest.raises(ScenarioError, match="state.kind"):
        replayed.at_step("csr")


def test_protocol_templates_place_the_content_and_offset_anywhere():
    p = Protocol.from_dict(APP_PROTOCOL)
    assert p.encode_send("c1:1 hi", "o-1") == [{"text": "c1:1 hi", "id": "o-1"}]
    assert p.encode_send("c1:1 hi", None) == [{"text": "c1:1 hi"}]
    assert p.sent_content([{"text": "c1:1 hi", "id": "o-1"}]) == "c1:1 hi"
    decoded = p.decode("message:new", [{"id": "o-1", "text": "c1:1 hi", "seq": 2**63 - 1}])
    assert (decoded.content, decoded.offset) == ("c1:1 hi", 2**63 - 1)
    assert p.decode("chat message", ["c1:1", 1]) is None
    assert p.auth_payload(7) == {"since": 7} and p.auth_payload(None) == {}
    assert p.ack_succeeded([{"ok": True, "id": "o-1"}]) and not p.ack_succeeded([{"ok": False}])
    assert not p.ack_succeeded([])
    middle = Protocol.from_dict({"send": {"args": ["{client_offset}", "{content}"]}, "receive": {"offset": 0}})
    assert middle.encode_send("c", None) == [None, "c"] and middle.receive.offset == "/0"
    nested = Protocol.from_dict({"auth": {"offset": "/cursor/seq", "fields": {"token": "t"}}})
    assert nested.auth_payload("abc") == {"token": "t", "cursor": {"seq": "abc"}}


def test_the_tutorial_protocol_is_what_the_drivers_always_spoke():
    p = Protocol()
    assert p.encode_send("c1:1", None) == ["c1:1"]
    assert p.decode("chat message", ["c1:1", 5]).offset == 5
    assert p.auth_payload(5) == {"serverOffset": 5}
    assert p.ack_succeeded([])


def test_validate_tells_a_target_file_from_a_scenario(tmp_path, capsys):
    good = write_target(tmp_path, app_target(), "good.json")
    bad = write_target(tmp_path, {**MINIMAL, "start": {"command": ["x", "{nope}"]}}, "bad.json")
    assert main(["validate", str(good)]) == 0
    assert "target protocol-app: step exactly-once" in capsys.readouterr().out
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "field start.command.1: unknown placeholder {nope}" in err and err.count("\n") == 1
    assert main(["validate", "--target", str(good)]) == 0
    assert is_target_file(json.loads(good.read_text()))


@pytest.mark.parametrize("command", [["run", "baseline-no-faults"], ["matrix"], ["soak", "--runs", "1"],
                                     ["explore", "--budget", "1s"]])
def test_every_command_refuses_a_wrong_target_file_with_one_line(tmp_path, capsys, command):
    bad = write_target(tmp_path, {**MINIMAL, "protocol": {"send": {"event": 3}}}, "bad.json")
    assert main([*command, "--target", str(bad), "--reports", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "field protocol.send.event" in err and err.count("\n") == 1


def test_a_scenario_file_given_as_target_says_what_it_is(tmp_path, capsys):
    scenario = tmp_path / "s.json"
    scenario.write_text(json.dumps({"name": "n"}))
    assert main(["run", "baseline-no-faults", "--target", str(scenario), "--reports", str(tmp_path)]) == 2
    assert "is this a scenario file?" in capsys.readouterr().err
