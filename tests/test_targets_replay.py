"""`sio-harness replay` of a run against a user's server: the target file is kept in the run folder, and
its commands run again only when the user says so."""

from __future__ import annotations

import json

from targets_support import app_target, write_target

from harness.cli import main
from harness.runfolder import RunFolder

SCENARIO = '{"name": "kept", "seed": 5, "clients": {"count": 1}, "workload": {"messages": 4}}'


def test_replay_shows_the_command_and_runs_it_only_when_allowed(tmp_path, capsys):
    target = write_target(tmp_path, app_target())
    scenario = tmp_path / "kept.json"
    scenario.write_text(SCENARIO)
    reports = tmp_path / "reports"
    assert main(["run", str(scenario), "--target", str(target), "--reports", str(reports)]) == 0
    folder = RunFolder(next(reports.iterdir()))
    assert json.loads(folder.target.read_text()) == json.loads(target.read_text())
    capsys.readouterr()

    assert main(["replay", str(folder.path)]) == 2
    err = capsys.readouterr().err
    assert "runs commands on this machine" in err and "protocol_app.py --port {port}" in err
    assert err.count("\n") == 1 and len(list(reports.iterdir())) == 1, "nothing ran"

    assert main(["replay", str(folder.path), "--check-only"]) == 0
    assert len(list(reports.iterdir())) == 1

    other = write_target(tmp_path, app_target(name="someone-else"), "other.json")
    assert main(["replay", str(folder.path), "--target", str(other)]) == 2
    assert "is not the target file this run was made with" in capsys.readouterr().err

    assert main(["replay", str(folder.path), "--target", str(target)]) == 0
    assert main(["replay", str(folder.path), "--allow-command"]) == 0
    assert len(list(reports.iterdir())) == 3
