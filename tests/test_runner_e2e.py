"""The runner end to end against the reference server: run folders, verdicts, replay, cleanup."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import runner
from harness.cli import main
from harness.history import read_history, read_rows
from harness.processes import live_pids
from harness.scenario import load, resolve

RUN_FILES = ("scenario.json", "history.jsonl", "rows.jsonl", "verdict.json", "report.html", "junit.xml")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose: it holds no port and runs no code.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def server_pids(run_dir: Path) -> list[int]:
    return [e["value"]["pid"] for e in read_history(run_dir / "history.jsonl")
            if e["proc"] == "server" and e["f"] == "start"]


async def test_baseline_run_writes_a_complete_run_folder(tmp_path):
    result = await runner.run_scenario(load("baseline-no-faults"), tmp_path)
    assert result.passed, result.outcome.reasons
    for name in RUN_FILES:
        assert (result.run_dir / name).exists(), name
    rows = list(read_rows(result.run_dir / "rows.jsonl"))
    assert len(rows) == 300
    saved = json.loads((result.run_dir / "scenario.json").read_text())
    assert resolve(saved).to_dict() == result.scenario.to_dict()
    assert result.quiet.reached
    assert live_pids() == []
    assert not any(pid_alive(p) for p in server_pids(result.run_dir))
    quiet = [e for e in read_history(result.run_dir / "history.jsonl") if e["f"] == "quiet"]
    assert [(e["proc"], e["type"]) for e in quiet] == [("harness", "ok")]
    assert set(quiet[0]["value"]) == {"waited", "not_connected", "pending"}
    assert json.loads((result.run_dir / "run.json").read_text())["outcome"] == {"status": "pass", "reasons": []}


async def test_a_frame_trigger_on_the_reconnect_fires_after_the_backoff(tmp_path):
    """The reconnect's CONNECT comes after a silent backoff: the schedule must not give up on it then."""
    scenario = resolve({"name": "reconnect-frame", "seed": 7, "proxy": "embedded",
                        "target": {"kind": "reference", "profile": "exactly-once", "storage": "sqlite"},
                        "clients": {"count": 1, "ack_timeout": 0.5, "retries": 3}, "workload": {"messages": 12},
                        "faults": [{"kind": "disconnect", "target": "c1",
                                    "trigger": {"after_sends": {"client": "c1", "n": 4}}},
                                   {"kind": "latency", "target": "c1", "duration": 0.2,
                                    "trigger": {"frame": {"sio_type": "CONNECT", "nth": 2}}}],
                        "expectations": {"guarantees": ["exactly-once"]}})
    result = await runner.run_scenario(scenario, tmp_path)
    assert result.untriggered == [], result.outcome.reasons
    events = read_history(result.run_dir / "history.jsonl")
    started = [e["value"]["fault"] for e in events if e["f"] == "fault"]
    assert started == ["disconnect", "latency"]
    assert result.passed, result.outcome.reasons


async def test_a_run_that_never_becomes_quiet_is_inconclusive_not_failed(tmp_path):
    # A settle window longer than the timeout: quiet cannot be reached, whatever the server does.
    scenario = resolve({"name": "never-quiet", "seed": 3, "clients": {"count": 1}, "workload": {"messages": 5},
                        "quiet": {"settle": 5.0, "timeout": 0.2}})
    result = await runner.run_scenario(scenario, tmp_path)
    assert not result.quiet.reached
    assert result.outcome.status == "inconclusive" and result.exit_code == 3, result.outcome.reasons
    assert "the run did not become quiet" in result.outcome.reasons
    events = [e for e in read_history(result.run_dir / "history.jsonl") if e["f"] == "quiet"]
    assert [(e["proc"], e["type"]) for e in events] == [("harness", "info")]
    saved = json.loads((result.run_dir / "run.json").read_text())["outcome"]
    assert saved["status"] == "inconclusive"
    assert await asyncio.to_thread(main, ["replay", str(result.run_dir), "--check-only"]) == 3


async def test_lost_ack_duplicates_at_least_once_but_not_exactly_once(tmp_path):
    alo = await runner.run_scenario(load("at-least-once-lost-ack"), tmp_path)
    assert alo.passed, alo.outcome.reasons
    assert alo.verdict.counts["duplicated"] >= 1
    eo = await runner.run_scenario(load("exactly-once-lost-ack"), tmp_path)
    assert eo.passed, eo.outcome.reasons
    assert eo.verdict.counts["duplicated"] == 0


def mutant_scenario() -> dict:
    return {"name": "no-dedupe-lost-ack", "seed": 5,
            "target": {"kind": "reference", "profile": "exactly-once", "mutant": "no-dedupe"},
            "clients": {"count": 2, "ack_timeout": 0.5, "retries": 3}, "workload": {"messages": 15},
            "faults": [{"kind": "ack_drop", "target": "c2", "trigger": {"frame": {"sio_type": "ACK", "nth": 4}}}],
            "expectations": {"guarantees": ["exactly-once"]}}


async def test_a_mutant_is_caught_and_replay_reproduces_the_verdict(tmp_path, capsys):
    failing = await runner.run_scenario(resolve(mutant_scenario()), tmp_path)
    assert not failing.passed
    assert failing.verdict.counts["duplicated"] == 1
    # --check-only re-checks the saved files; a full replay re-runs the resolved scenario.
    assert await asyncio.to_thread(main, ["replay", str(failing.run_dir), "--check-only"]) == 1
    out = capsys.readouterr().out
    assert "same verdict as the saved run" in out
    assert await asyncio.to_thread(main, ["replay", str(failing.run_dir)]) == 1
    out = capsys.readouterr().out
    assert "same verdict as the saved run" in out and "replay: sio-harness replay" in out


def test_cli_run_prints_report_and_replay_on_failure(tmp_path, capsys):
    scenario = tmp_path / "mutant.json"
    scenario.write_text(json.dumps(mutant_scenario()))
    assert main(["run", str(scenario), "--reports", str(tmp_path / "reports")]) == 1
    out = capsys.readouterr().out
    assert "FAIL no-dedupe-lost-ack" in out and "exactly-once" in out
    replay = [line for line in out.splitlines() if "replay: " in line][0]
    run_dir = Path(replay.split("replay: sio-harness replay ", 1)[1].strip())
    assert (run_dir / "verdict.json").exists()


async def test_processes_are_stopped_after_an_exception(tmp_path, monkeypatch):
    async def broken_workload(*args):
        raise RuntimeError("workload broke")

    monkeypatch.setattr(runner, "_workload", broken_workload)
    with pytest.raises(RuntimeError, match="workload broke"):
        await runner.run_scenario(load("baseline-no-faults"), tmp_path)
    (run_dir,) = tmp_path.iterdir()
    pids = server_pids(run_dir)
    assert pids and not any(pid_alive(p) for p in pids)
    assert live_pids() == []


def test_processes_are_stopped_after_sigint(tmp_path):
    slow = tmp_path / "slow.json"
    slow.write_text(json.dumps({"name": "slow", "seed": 1, "clients": {"count": 1},
                                "workload": {"messages": 1000, "rate": 20}}))
    reports = tmp_path / "reports"
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", str(slow), "--reports", str(reports)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        # Polled: the run folder and its first send appear in another process, which has no way to tell us.
        while time.monotonic() < deadline:
            histories = list(reports.glob("*/history.jsonl"))
            if histories and any(e["f"] == "send" for e in read_history(histories[0])):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the run never started sending")
        pids = server_pids(histories[0].parent)
        assert pids and pid_alive(pids[0])
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 130
    assert "interrupted" in proc.stderr.read().decode()
    assert not any(pid_alive(p) for p in pids)


async def test_two_runs_at_once_do_not_collide(tmp_path):
    first, second = await asyncio.gather(runner.run_scenario(load("baseline-no-faults"), tmp_path),
                                         runner.run_scenario(load("baseline-no-faults"), tmp_path))
    assert first.run_dir != second.run_dir
    assert first.passed and second.passed, (first.outcome.reasons, second.outcome.reasons)


async def test_listeners_send_nothing_and_staggered_senders_take_turns(tmp_path):
    data = {"name": "senders", "seed": 1, "target": {"kind": "reference", "profile": "baseline"},
            "clients": {"count": 3}, "workload": {"messages": 2, "rate": 10, "senders": 2, "stagger": True},
            "expectations": {"guarantees": ["at-most-once"]}}
    result = await runner.run_scenario(resolve(data), tmp_path)
    assert result.passed, result.outcome.reasons
    events = list(read_history(result.run_dir / "history.jsonl"))
    sends = [e["proc"] for e in events if e["f"] == "send" and e["type"] == "invoke"]
    # c2 starts half an interval after c1, so its first send falls between c1's two.
    assert sends == ["c1", "c2", "c1", "c2"]
    assert sum(1 for e in events if e["f"] == "recv" and e["proc"] == "c3") == 4
