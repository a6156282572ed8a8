"""The scenario model: schema validation with one-line errors, defaults, and seed resolution."""

from __future__ import annotations

import json

import pytest

from harness.cli import main
from harness.errors import ScenarioError
from harness.scenario import ClientSettings, bundled_names, load, resolve, schema, validate
from harness.steps import ACKING, PROMISES, STEPS


def minimal(**extra):
    return {"name": "t", **extra}


def test_bundled_scenarios_are_valid_and_listed():
    names = bundled_names()
    assert {"baseline-no-faults", "at-least-once-lost-ack", "exactly-once-lost-ack", "csr-disconnect",
            "server-crash"} <= set(names)
    for name in names:
        assert load(name).name == name


def test_defaults_follow_the_profile_step():
    s = resolve(minimal(target={"kind": "reference", "profile": "exactly-once"}, seed=5))
    settings = s.clients.settings
    assert (settings.ack, settings.retry_mode, settings.client_offset) == (True, "queue", "socket-id")
    assert s.expectations.guarantees == ("exactly-once",)
    base = resolve(minimal(seed=5))
    assert (base.target.profile, base.clients.settings.ack, base.proxy) == ("baseline", False, "embedded")
    assert base.expectations.guarantees == ("at-most-once",)


def test_every_step_gets_its_page_and_its_promise():
    for step in STEPS:
        s = resolve(minimal(target={"profile": step}))
        acks = step in ACKING
        assert (s.clients.settings.ack, s.clients.settings.retries > 0) == (acks, acks), step
        assert s.expectations.guarantees == tuple(PROMISES[step])


def test_the_schema_offers_the_steps_of_harness_steps():
    [reference] = [t for t in schema()["$defs"]["target"]["oneOf"]
                   if t["properties"]["kind"].get("const") == "reference"]
    assert tuple(reference["properties"]["profile"]["enum"]) == STEPS


def test_client_settings_default_to_the_delays_runs_have_always_used():
    settings = resolve(minimal()).clients.settings
    assert (settings.reconnection_delay, settings.reconnection_delay_max) == (0.1, 1.0)
    assert settings == ClientSettings()
    saved = resolve(minimal(seed=2)).to_dict()["clients"]
    assert set(saved) == {"driver", "count", "ack", "ack_timeout", "retries", "retry_mode", "client_offset",
                          "persist_offset", "reconnection_delay", "reconnection_delay_max", "page",
                          "node_process"}


def test_explicit_client_fields_override_the_preset():
    s = resolve(minimal(target={"profile": "at-least-once"}, clients={"retries": 7, "ack_timeout": 0.2}))
    assert (s.clients.settings.retries, s.clients.settings.ack_timeout, s.clients.settings.ack) == (7, 0.2, True)


@pytest.mark.parametrize("data, field", [
    ({"name": "t", "clients": {"count": 0}}, "clients.count"),
    ({"name": "t", "clients": {"driver": "java"}}, "clients.driver"),
    ({"name": "t", "workload": {"messages": -1}}, "workload.messages"),
    ({"name": "t", "faults": [{"kind": "meteor"}]}, "faults.0.kind"),
    ({"name": "t", "faults": [{"kind": "partition", "trigger": {"at": -1}}]}, "faults.0.trigger.at"),
    ({"name": "t", "faults": [{"kind": "partition", "trigger": {}}]}, "faults.0.trigger"),
    ({"name": "t", "expectations": {"guarantees": ["most-of-the-time"]}}, "expectations.guarantees.0"),
    ({"name": "t", "colour": "red"}, "(top level)"),
    ({"name": "bad name!"}, "name"),
    ({"name": "t", "target": {"kind": "external"}}, "target"),
    ({"name": "t", "target": {"kind": "external", "file": 3}}, "target.file"),
    ({}, "(top level)"),
])
def test_bad_files_name_the_field(data, field):
    with pytest.raises(ScenarioError) as info:
        validate(data, "f.json")
    message = str(info.value)
    assert message.startswith(f"f.json: field {field}:"), message
    assert "\n" not in message


@pytest.mark.parametrize("fault, field", [
    ({"kind": "partition", "target": "c9"}, "faults.0.target"),
    ({"kind": "server_crash", "target": "c1"}, "faults.0.target"),
    ({"kind": "disconnect", "trigger": {"after_sends": {"client": "c1", "n": 500}}}, "after_sends.n"),
    ({"kind": "disconnect", "trigger": {"after_sends": {"client": "c4", "n": 5}}}, "after_sends.client"),
    ({"kind": "server_crash", "trigger": {"frame": {"nth": 2}}}, "trigger.frame.client"),
    ({"kind": "ack_drop", "target": "c1", "trigger": {"frame": {"client": "c2"}}}, "trigger.frame.client"),
])
def test_impossible_schedules_are_refused(fault, field):
    with pytest.raises(ScenarioError, match=field):
        resolve(minimal(clients={"count": 2}, workload={"messages": 10}, faults=[fault]))


def test_resolution_is_exact_and_reproducible():
    data = minimal(seed=42, clients={"count": 4}, faults=[
        {"kind": "partition", "target": "any", "trigger": {"at": [0.1, 2.0]}, "duration": [0.5, 1.5]},
        {"kind": "disconnect", "trigger": {"after_sends": {"client": "any", "n": [3, 60]}}},
        {"kind": "ack_drop", "target": "c2", "trigger": {"frame": {"nth": [1, 9]}}},
    ])
    first, again = resolve(data), resolve(data)
    assert first.to_dict() == again.to_dict()
    partition, disconnect, ack_drop = first.faults
    assert partition.target in {"c1", "c2", "c3", "c4"} and 0.1 <= partition.trigger["at"] <= 2.0
    assert 0.5 <= partition.duration <= 1.5
    assert 3 <= disconnect.trigger["after_sends"]["n"] <= 60
    assert ack_drop.trigger["frame"] == {"client": "c2", "sio_type": "ACK", "stream": "downstream",
                                         "nth": ack_drop.trigger["frame"]["nth"]}
    # The resolved scenario is a fixed point: what a run folder stores replays the same schedule.
    assert resolve(json.loads(first.to_json())).to_dict() == first.to_dict()
    other = resolve({**data, "seed": 43})
    assert other.to_dict() != first.to_dict()


def test_seed_override_and_a_missing_seed_is_drawn_and_recorded():
    assert resolve(minimal(seed=1), seed=9).seed == 9
    drawn = resolve(minimal())
    assert isinstance(drawn.seed, int)
    assert json.loads(drawn.to_json())["seed"] == drawn.seed


def test_the_short_external_form_becomes_a_target_file_at_the_final_step():
    s = resolve(minimal(target={"kind": "external", "command": ["node", "server.js", "{port}"],
                                "ready": {"http": "/health"}, "sqlite_path": "{db_path}"}))
    spec = s.target.spec
    assert spec is not None and spec.step == "exactly-once" and spec.start is not None
    assert (spec.start.command, spec.start.ready.http) == (("node", "server.js", "{port}"), "/health")
    assert (spec.state.kind, spec.state.path) == ("sqlite", "{db_path}")
    again = resolve(s.to_dict())
    assert again.to_dict() == s.to_dict()
    assert again.target.spec == spec


def test_cli_validate_exit_codes(tmp_path, capsys):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(minimal(seed=1)))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(minimal(clients={"count": "three"})))
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert main(["validate", str(good)]) == 0
    assert main(["validate", str(bad)]) == 2
    assert "field clients.count" in capsys.readouterr().err
    assert main(["validate", str(broken)]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert main(["validate", "no-such-scenario"]) == 2
    assert "bundled:" in capsys.readouterr().err


def test_cli_list_shows_bundled(capsys):
    assert main(["list", "--names"]) == 0
    assert "baseline-no-faults" in capsys.readouterr().out.split()


def test_external_target_without_command_names_what_is_missing():
    with pytest.raises(ScenarioError, match="is a required property"):
        validate({"name": "t", "target": {"kind": "external"}})


def test_retries_need_a_retry_mode():
    with pytest.raises(ScenarioError, match="clients.retry_mode"):
        resolve(minimal(clients={"retries": 3}))
