"""`sio-harness explore` and `soak`: arguments, bad input (exit 2, one line), and the soak's fault mix."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from harness.cli import main
from harness.commands.explore import parse_budget, parse_shard
from harness.commands.soak import mix
from harness.errors import HarnessError
from harness.scenario import resolve


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("10m", 600), ("1h", 3600), ("2.5", 2.5)])
def test_budgets(text: str, seconds: float) -> None:
    assert parse_budget(text) == seconds


def test_shards() -> None:
    assert parse_shard("2/4") == (2, 4)


def test_a_bad_budget_is_one_clear_error() -> None:
    with pytest.raises(HarnessError, match="like 90s, 10m or 1h"):
        parse_budget("ten minutes")


@pytest.mark.parametrize(("argv", "message"), [
    (["explore", "--mutant", "bogus"], "--mutant bogus: unknown"),
    (["explore", "--kinds", "meteor"], "unknown fault kind meteor"),
    (["explore", "--budget", "soon"], "--budget 'soon'"),
    (["explore", "--shard", "3/2"], "--shard '3/2'"),
    (["explore", "--workers", "0"], "--workers must be at least 1"),
    (["explore", "--mutant", "no-dedupe", "--target", "scenarios/x.json"], "does not go with --target"),
    (["soak", "--runs", "0"], "--runs must be at least 1"),
])
def test_bad_input_exits_2_with_one_line(argv: list[str], message: str, capsys) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("profile", ["baseline", "exactly-once"])
def test_the_soak_mix_resolves_with_every_fault_inside_the_workload(profile: str) -> None:
    for seed in range(20):
        scenario = resolve(mix(profile, "sqlite", seed))
        kinds = [f.kind for f in scenario.faults]
        assert {"disconnect", "partition", "db_outage", "server_crash", "server_restart"} <= set(kinds)
        assert ("ack_drop" in kinds) == (profile == "exactly-once")
        for fault in scenario.faults:
            spec = fault.trigger.get("after_sends")
            assert spec is None or spec["n"] <= scenario.workload.messages


@pytest.mark.timeout(90)
def test_explore_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "explore", "--budget", "60s",
                             "--reports", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        children: set[int] = set()
        deadline = time.monotonic() + 40
        # Polled: the runs start inside another process, which does not tell us.
        while time.monotonic() < deadline and not (children and list(tmp_path.glob("*/history.jsonl"))):
            children |= {c.pid for c in psutil.Process(proc.pid).children(recursive=True)}
            time.sleep(0.05)
        assert children and list(tmp_path.glob("*/history.jsonl")), "explore never started a run"
        proc.send_signal(signal.SIGINT)
        output = proc.communicate(timeout=40)[0].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, output[-2000:]
    assert "interrupted: " in output
    assert not [p for p in children if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]


def test_the_result_names_the_proof_and_the_windows_never_hit(capsys: pytest.CaptureFixture[str]) -> None:
    from harness.checkers.coverage import WINDOWS, Coverage
    from harness.commands.explore import print_result

    coverage = Coverage(4, {**dict.fromkeys(WINDOWS, 0), "before-store": 3, "server-restart": 1})
    case = {"runs_to_find": 5, "categories": ["redelivered"], "seconds_to_find": 23.0,
            "size": {"faults": 1, "messages": 8, "clients": 1},
            "faults": ["server_crash"], "shrink_runs": 9, "shrink_cut_short": True, "scenario": "found.json",
            "proof": {"sentence": "3 of 3 replays violate exactly-once: 1 redelivered"}}
    print_result({"status": "found", "target": "exactly-once with mutant replay-off-by-one", "runs": 20,
                  "seconds": 80.0, "case": case, "unreproducible": [], "inconclusive": [],
                  "coverage": coverage.to_json()})
    out = capsys.readouterr().out
    assert "first violation after 5 runs (23s)" in out
    assert "1 fault(s) (server_crash), 8 messages, 1 client(s) (shrinking cut short" in out
    assert "proof: 3 of 3 replays violate exactly-once: 1 redelivered" in out
    assert "no fault fell between store and ack: lost acks were not explored" in out
    assert "restarts were not explored" not in out
