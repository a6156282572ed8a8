"""A server the harness did not start: reached by URL, crashed and restarted through the target's
`controls` (here a shell script that finds the server by its PID file), or, without controls, reported
"not applicable" for the faults it cannot undergo."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest
from targets_support import APP_PROTOCOL, APP_QUERY, app_target, write_target

from harness import runner
from harness.cli import main
from harness.history import read_history
from harness.processes import free_port, run_command
from harness.scenario import external_target, resolve
from harness.targetfile import load_target, target_from_dict

CTL = Path(__file__).parent / "targets" / "ctl.sh"


@pytest.fixture
async def running_app(tmp_path, monkeypatch):
    """The protocol app started outside the harness; stopped by its PID after the test."""
    monkeypatch.setenv("PYTHON", sys.executable)
    port = free_port()
    await run_command(["sh", str(CTL), str(tmp_path), str(port), "start"])
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            break
        except OSError:
            await asyncio.sleep(0.05)
    yield tmp_path, port
    pid_file = tmp_path / "app.pid"
    try:
        os.kill(int(pid_file.read_text()), signal.SIGKILL)
    except (ProcessLookupError, ValueError):
        pass


def url_target(folder: Path, port: int, *, controls: bool) -> dict:
    data = {"target_version": 1, "name": "running-app", "step": "exactly-once",
            "url": f"http://127.0.0.1:{port}", "protocol": APP_PROTOCOL,
            "state": {"kind": "sqlite", "path": str(folder / "chat.db"), "query": APP_QUERY}}
    if controls:
        ctl = ["sh", str(CTL), str(folder), str(port)]
        data["controls"] = {"crash": [*ctl, "crash"], "stop": [*ctl, "stop"], "start": [*ctl, "start"],
                            "pause": [*ctl, "pause"], "resume": [*ctl, "resume"],
                            "ready": {"tcp": True, "timeout": 20}}
    return data


def outage_scenario(spec, kind: str, duration: float) -> dict:
    return {"name": "controls", "seed": 4, "target": external_target(spec), "clients": {"count": 2},
            "workload": {"messages": 20, "rate": 40},
            "faults": [{"kind": kind, "trigger": {"after_sends": {"client": "c1", "n": 6}}, "duration": duration}]}


async def test_controls_crash_and_restart_a_server_the_harness_did_not_start(running_app):
    folder, port = running_app
    pid_before = (folder / "app.pid").read_text()
    spec = load_target(write_target(folder, url_target(folder, port, controls=True)))
    result = await runner.run_scenario(resolve(outage_scenario(spec, "server_crash", 0.3)), folder / "reports")
    assert result.outcome.status == "pass", result.outcome.reasons
    assert result.verdict.rows == 40
    moves = [e["f"] for e in read_history(result.run_dir / "history.jsonl") if e["proc"] == "server"]
    assert moves == ["start", "crash", "start"]
    assert (folder / "app.pid").read_text() != pid_before, "controls.start started a new process"
    os.kill(int((folder / "app.pid").read_text()), 0)  # the harness leaves a server it did not start running


async def test_controls_pause_and_resume_it(running_app):
    folder, port = running_app
    spec = load_target(write_target(folder, url_target(folder, port, controls=True)))
    result = await runner.run_scenario(resolve(outage_scenario(spec, "server_pause", 1.2)), folder / "reports")
    assert result.outcome.status == "pass", result.outcome.reasons
    history = list(read_history(result.run_dir / "history.jsonl"))
    assert [e["f"] for e in history if e["proc"] == "server"] == ["start", "pause", "resume"]
    # Frozen for longer than the ack timeout: the sends of that second were retried.
    assert any(e["f"] == "send" and e["type"] == "ok" and e["value"]["tries"] > 1 for e in history)


async def test_a_server_the_harness_started_is_paused_by_sigstop(tmp_path):
    spec = target_from_dict(app_target(), "app", tmp_path)
    result = await runner.run_scenario(resolve(outage_scenario(spec, "server_pause", 1.2)), tmp_path)
    assert result.outcome.status == "pass", result.outcome.reasons
    pids = {e["value"]["pid"] for e in read_history(result.run_dir / "history.jsonl") if e["proc"] == "server"}
    assert len(pids) == 1 and None not in pids


async def test_without_controls_server_and_database_faults_are_not_applicable(running_app, tmp_path, capsys,
                                                                             monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")
    folder, port = running_app
    target = write_target(folder, url_target(folder, port, controls=False))
    scenario = tmp_path / "crash.json"
    scenario.write_text('{"name": "crash", "faults": [{"kind": "server_crash"}]}')
    assert await asyncio.to_thread(main, ["run", str(scenario), "--target", str(target),
                                          "--reports", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not applicable: server_crash on a server the harness did not start needs controls.crash" in err
    assert await asyncio.to_thread(main, ["matrix", "--target", str(target), "--faults",
                                          "server_crash,db_outage,disconnect", "--reports", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "2 not applicable to this target" in out
    page = next(tmp_path.glob("matrix-*/index.html")).read_text()
    assert page.count("not applicable") >= 4 and "needs a database the harness creates" in page
