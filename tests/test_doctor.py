"""`sio-harness doctor` and `sio-harness init` against real servers: each example, each reference profile.

Every test starts the server through a target file, as a user would, and reads the doctor's lines.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import pytest
from examples_support import EXAMPLES, ROOT

import harness.doctor
from harness.cli import main
from harness.databases import sqlite_url
from harness.processes import free_port, live_pids, start_reference_server
from harness.steps import STEPS
from harness.targetfile import load_target

SECONDS = 15
"""A doctor takes 1 to 5 s on an idle machine (docs/targets.md); the bound leaves room for a loaded one."""


def doctor(capsys: pytest.CaptureFixture[str], target: Path, *extra: str) -> tuple[int, str, float]:
    started = time.monotonic()
    code = main(["doctor", str(target), *extra])
    seconds = time.monotonic() - started
    out = capsys.readouterr()
    assert not live_pids(), "the doctor must stop everything it started"
    return code, out.out + out.err, seconds


def behaves(output: str) -> str:
    line = next(x for x in output.splitlines() if x.startswith("behaves like:"))
    return line.split()[2]


def reference_target(tmp_path: Path, profile: str, claim: str | None = None) -> Path:
    path = tmp_path / f"ref-{profile}.json"
    path.write_text(json.dumps({
        "target_version": 1, "name": f"reference-{profile}", "step": claim or profile,
        "start": {"command": [sys.executable, "-m", "harness.cli", "serve", "--profile", profile,
                              "--port", "{port}", "--db", "{db_url}"],
                  "cwd": str(ROOT), "ready": {"http": "/health"}}}))
    return path


@pytest.mark.parametrize("profile", STEPS)
def test_doctor_names_each_reference_profile(profile, tmp_path, capsys):
    code, out, seconds = doctor(capsys, reference_target(tmp_path, profile))
    assert behaves(out) == profile, out
    assert code == 0, out
    assert seconds < SECONDS, f"doctor took {seconds:.1f} s"


def test_doctor_exits_1_when_the_claim_is_not_reached(tmp_path, capsys):
    code, out, _ = doctor(capsys, reference_target(tmp_path, "csr", claim="exactly-once"))
    assert code == 1
    assert behaves(out) == "csr"
    assert "FAIL replay" in out and "FAIL ack" in out
    assert "is NOT reached" in out


@pytest.mark.parametrize("step", ["csr", "server-delivery", "exactly-once"])
def test_doctor_names_each_step_of_the_node_tutorial(step, capsys, node_server):
    code, out, seconds = doctor(capsys, EXAMPLES / "node-tutorial" / f"{step}.json")
    assert behaves(out) == step, out
    assert code == 0, out
    assert f"run its column: sio-harness matrix --target {EXAMPLES / 'node-tutorial' / step}.json" in out
    assert seconds < SECONDS


def test_doctor_catches_the_planted_replay_bug(capsys, node_server):
    code, out, _ = doctor(capsys, EXAMPLES / "replay-bug" / "target.json")
    assert code == 1, out
    assert behaves(out) == "csr"
    replay = next(x for x in out.splitlines() if " replay " in x)
    assert "FAIL" in replay and "(> not >=)" in replay


@pytest.fixture
def venv_python_on_path(monkeypatch):
    """pg-chat's target file runs `python3 app.py`: the interpreter with asyncpg and python-socketio."""
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])


@pytest.mark.parametrize("state", ["postgres", "replay"])
def test_doctor_names_the_postgres_app_with_its_own_protocol(state, postgres_admin_dsn, venv_python_on_path,
                                                             capsys):
    code, out, seconds = doctor(capsys, EXAMPLES / "pg-chat" / f"{state}.json", "--postgres", postgres_admin_dsn)
    assert behaves(out) == "exactly-once", out
    assert code == 0, out
    assert "9007199254740972" in out, "ids start just below 2**53 and must come through exactly"
    assert f"state can be read ({state}" in out
    assert seconds < SECONDS


def test_a_wrong_receive_event_gets_a_line_naming_the_field(tmp_path, postgres_admin_dsn, venv_python_on_path,
                                                            capsys, monkeypatch):
    monkeypatch.setattr(harness.doctor, "BROADCAST_WAIT", 60.0)
    data = json.loads((EXAMPLES / "pg-chat" / "postgres.json").read_text())
    del data["protocol"]["receive"]
    data["start"]["cwd"] = str(EXAMPLES / "pg-chat")
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps(data))
    code, out, seconds = doctor(capsys, wrong, "--postgres", postgres_admin_dsn)
    assert code == 1
    line = next(x for x in out.splitlines() if "FAIL broadcast" in x)
    assert "no `chat message` broadcast after sending `message:send`" in line
    assert "the server sent `message:new` with arguments" in line
    assert 'set protocol.receive.event (and protocol.receive.content to "/0/text")' in line
    assert seconds < 30, "an undescribed event carrying the content ends the wait early"


def test_a_server_that_exits_at_start_shows_its_log_and_exits_2(tmp_path, capsys):
    target = tmp_path / "t.json"
    target.write_text(json.dumps({"target_version": 1, "name": "dies", "start": {
        "command": [sys.executable, "-c", "import sys; print('cannot open chat.db'); sys.exit(3)"],
        "ready": {"tcp": True}}}))
    code, out, _ = doctor(capsys, target)
    assert code == 2
    assert "cannot open chat.db" in out
    assert "Traceback" not in out


def test_a_bad_target_file_is_one_line_and_exit_2(tmp_path, capsys):
    target = tmp_path / "t.json"
    target.write_text(json.dumps({"target_version": 1, "name": "x", "start": {"command": ["x", "{prot}"]}}))
    code, out, _ = doctor(capsys, target)
    assert code == 2
    assert out.strip().count("\n") == 0 and "{prot}" in out


def test_init_writes_a_target_file_the_loader_accepts_with_every_field(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["init", "--command", "node app.js --port {port}", "--step", "server-delivery"]) == 0
    data = json.loads((tmp_path / "target.json").read_text())
    assert data["start"]["command"] == ["node", "app.js", "--port", "{port}"]
    assert data["step"] == "server-delivery"
    for field in ("target_version", "name", "description", "step", "start", "database", "nodes", "protocol",
                  "state", "page"):
        assert field in data
    assert set(data["protocol"]) == {"namespace", "path", "transports", "send", "receive", "auth"}
    assert load_target(tmp_path / "target.json").step == "server-delivery"
    assert main(["validate", str(tmp_path / "target.json")]) == 0
    assert main(["init"]) == 2, "an existing file is not overwritten without --force"
    assert "exists" in capsys.readouterr().err


def test_init_for_a_running_server_reads_its_state_by_replay(tmp_path, capsys):
    path = tmp_path / "running.json"
    assert main(["init", str(path), "--url", "http://127.0.0.1:3000"]) == 0
    spec = load_target(path)
    assert spec.url == "http://127.0.0.1:3000" and spec.start is None
    assert spec.state.kind == "replay"


async def test_doctor_checks_a_server_it_did_not_start(tmp_path, capsys):
    port = free_port()
    server = await start_reference_server(port, sqlite_url(tmp_path / "chat.db"), "exactly-once")
    try:
        target = tmp_path / "running.json"
        assert main(["init", str(target), "--url", f"http://127.0.0.1:{port}"]) == 0
        capsys.readouterr()
        code = await asyncio.to_thread(main, ["doctor", str(target)])
        out = capsys.readouterr().out
        assert server.running, "a server the harness did not start is left running"
    finally:
        await server.terminate()
    assert code == 0, out
    assert behaves(out) == "exactly-once"
    assert "not started by the harness" in out and "state can be read (replay" in out


def test_a_postgres_target_without_a_dsn_is_one_line_and_exit_2(capsys, monkeypatch):
    monkeypatch.delenv("SIO_HARNESS_POSTGRES_DSN", raising=False)
    code, out, _ = doctor(capsys, EXAMPLES / "pg-chat" / "postgres.json")
    assert code == 2
    assert "--postgres DSN or SIO_HARNESS_POSTGRES_DSN" in out


def test_a_server_that_does_more_than_it_claims_reaches_its_claim(tmp_path, capsys):
    code, out, _ = doctor(capsys, reference_target(tmp_path, "exactly-once", claim="csr"))
    assert code == 0
    assert behaves(out) == "exactly-once"
    assert 'it does more than it claims: set "step": "exactly-once"' in out


def test_an_ack_that_does_not_match_ack_ok_names_the_field(tmp_path, postgres_admin_dsn, venv_python_on_path,
                                                           capsys):
    data = json.loads((EXAMPLES / "pg-chat" / "postgres.json").read_text())
    data["protocol"]["send"]["ack_ok"] = {"status": "stored"}
    data["start"]["cwd"] = str(EXAMPLES / "pg-chat")
    wrong = tmp_path / "ack.json"
    wrong.write_text(json.dumps(data))
    code, out, _ = doctor(capsys, wrong, "--postgres", postgres_admin_dsn)
    assert code == 1
    line = next(x for x in out.splitlines() if " ack " in x)
    assert "FAIL" in line and 'does not contain protocol.send.ack_ok {"status": "stored"}' in line
    assert behaves(out) == "server-delivery"
