"""`--target` on the commands that run many scenarios: soak, explore, and matrix --all-steps."""

from __future__ import annotations

import pytest
from examples_support import EXAMPLES, example_node_packages
from targets_support import app_target, write_target

from harness.cli import main


def test_soak_runs_the_full_mix_against_the_target(tmp_path, capsys):
    target = write_target(tmp_path, app_target())
    assert main(["soak", "--runs", "1", "--target", str(target), "--reports", str(tmp_path / "soak")]) == 0
    out = capsys.readouterr().out
    assert "0 of 1 runs of exactly-once under the full fault mix reported a violation" in out
    folder = next((tmp_path / "soak").iterdir())
    assert (folder / "target.json").is_file()
    assert '"server_crash"' in (folder / "scenario.json").read_text()


def test_soak_names_the_faults_a_url_target_cannot_undergo(tmp_path, capsys):
    target = write_target(tmp_path, {"target_version": 1, "name": "remote", "url": "http://127.0.0.1:9",
                                     "step": "server-delivery"})
    # Nothing listens there: the run fails to start after the mix was announced.
    assert main(["soak", "--runs", "1", "--target", str(target), "--reports", str(tmp_path)]) == 2
    out = capsys.readouterr().out
    for fault in ("db_outage", "server_crash", "server_restart"):
        assert f"{fault}: not applicable" in out and "left out of the mix" in out


def test_explore_searches_the_claimed_step_of_the_target(tmp_path, capsys):
    target = write_target(tmp_path, app_target())
    # One replay of a found case, so that a 20 s budget leaves time for runs (the search keeps back what
    # the proof of a case would need).
    assert main(["explore", "--budget", "20s", "--target", str(target), "--steps", "3", "--replays", "1",
                 "--no-database", "--reports", str(tmp_path / "explore")]) == 0
    out = capsys.readouterr().out
    assert "nothing found against exactly-once (target protocol-app)" in out
    runs = list((tmp_path / "explore").glob("*/target.json"))
    assert runs, "at least one explored run against the target"


def test_explore_refuses_a_mutant_with_a_target(tmp_path, capsys):
    target = write_target(tmp_path, app_target())
    assert main(["explore", "--target", str(target), "--mutant", "no-dedupe"]) == 2
    assert "does not go with --target" in capsys.readouterr().err


def test_all_steps_shows_which_step_the_server_reaches(tmp_path, capsys, monkeypatch):
    example_node_packages()
    monkeypatch.setenv("COLUMNS", "300")
    assert main(["matrix", "--target", str(EXAMPLES / "node-tutorial" / "csr.json"), "--all-steps",
                 "--faults", "disconnect", "--reports", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "5 cells against target node-tutorial-csr (claims csr)" in out
    # Judged as baseline it recovers what baseline loses; as an acking step it never acks.
    for step in ("baseline", "at-least-once", "exactly-once"):
        assert f"unexpected: {step} x disconnect" in out
    for step in ("csr", "server-delivery"):
        assert f"unexpected: {step} x disconnect" not in out


@pytest.mark.parametrize("bad", [["--all-steps"]])
def test_all_steps_needs_nothing_else(tmp_path, capsys, bad):
    # Without --target, --all-steps changes nothing: the reference matrix's own rows.
    assert main(["matrix", *bad, "--profiles", "csr", "--faults", "disconnect", "--reports", str(tmp_path)]) == 0
    assert "1 cells" in capsys.readouterr().out
