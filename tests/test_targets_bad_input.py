"""Bad input against an external target: one line each, exit 2, nothing left running."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest
from targets_support import APP, app_target, write_target

from harness.cli import main
from harness.processes import live_pids

NO_FAULTS = '{"name": "plain", "clients": {"count": 1}, "workload": {"messages": 3}, "faults": []}'


async def run_cli(tmp_path, target: dict, capsys) -> tuple[int, str]:
    path = write_target(tmp_path, target)
    scenario = tmp_path / "plain.json"
    scenario.write_text(NO_FAULTS)
    code = await asyncio.to_thread(main, ["run", str(scenario), "--target", str(path),
                                          "--reports", str(tmp_path / "reports")])
    return code, capsys.readouterr().err


async def test_a_server_that_exits_at_start_shows_its_last_log_lines(tmp_path, capsys):
    crashing = [sys.executable, "-c", "import sys; print('loading config'); print('boom: no such table'); "
                                      "sys.exit(3)"]
    code, err = await run_cli(tmp_path, app_target(start={"command": crashing}), capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert "exited with code 3 before it was ready" in err and "loading config | boom: no such table" in err
    assert live_pids() == []


async def test_a_server_that_never_gets_ready_is_stopped(tmp_path, capsys):
    silent = [sys.executable, "-c", "import time; print('starting', flush=True); time.sleep(60)"]
    code, err = await run_cli(tmp_path, app_target(start={"command": silent, "ready": {"log": "listening",
                                                                                       "timeout": 1}}), capsys)
    assert code == 2 and "not ready after 1s (waited for a log line containing 'listening')" in err, err
    assert "starting" in err
    assert live_pids() == []


@pytest.mark.parametrize("state, message", [
    ({"kind": "sqlite", "query": "SELECT nope FROM messages"}, "state.query failed on"),
    ({"kind": "sqlite", "query": "SELECT seq AS id FROM messages"}, "has no content"),
    ({"kind": "sqlite", "path": "{run_dir}/elsewhere.db"}, "no such file after the run"),
    ({"kind": "command", "command": [sys.executable, "-c", "print('not json')"]}, "line 1 is not JSON"),
    ({"kind": "command", "command": [sys.executable, "-c", "import sys; sys.exit('dump failed')"]},
     "exited with code 1 (dump failed)"),
], ids=["bad-query", "missing-column", "wrong-path", "not-json", "command-fails"])
async def test_a_state_that_cannot_be_read_is_one_line(tmp_path, capsys, state, message):
    code, err = await run_cli(tmp_path, app_target(state=state), capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert message in err
    assert live_pids() == []


async def test_a_postgres_dsn_that_refuses_is_one_line(tmp_path, capsys, monkeypatch):
    from harness.processes import free_port

    monkeypatch.setenv("SIO_HARNESS_POSTGRES_DSN", f"postgresql://postgres@127.0.0.1:{free_port()}/postgres")
    target = app_target(database="postgres", state={"kind": "postgres", "query": "SELECT 1"},
                        start={"command": [sys.executable, str(APP), "--port", "{port}", "--dsn", "{db_url}"]})
    code, err = await run_cli(tmp_path, target, capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert "is not reachable" in err
    assert live_pids() == []


def test_an_unknown_placeholder_is_refused_before_anything_starts(tmp_path, capsys):
    path = write_target(tmp_path, app_target(start={"command": ["python", "app.py", "--port", "{prot}"]}))
    assert main(["run", "baseline-no-faults", "--target", str(path), "--reports", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "field start.command.3: unknown placeholder {prot}" in err and err.count("\n") == 1
    assert not (tmp_path / "reports").exists() and not list(tmp_path.glob("*-baseline-no-faults-*"))
    assert json.loads(path.read_text())["name"] == "protocol-app"
