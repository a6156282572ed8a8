"""The flake campaign (harness.flake, `sio-harness soak --suite`), on a tiny suite of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from harness import flake
from harness.flake import Campaign, SuiteRun

ROOT = Path(__file__).resolve().parent.parent

FAKE_SUITE = '''
from pathlib import Path

COUNTER = Path(__file__).with_name("runs.txt")


def test_steady():
    assert True


def test_flaky():
    # Fails on the first run of the campaign only: the runs share this file.
    runs = int(COUNTER.read_text()) if COUNTER.exists() else 0
    COUNTER.write_text(str(runs + 1))
    assert runs > 0
'''


def _fake_suite(tmp_path: Path) -> Path:
    suite = tmp_path / "fake_scenarios"
    suite.mkdir()
    (suite / "test_cells.py").write_text(FAKE_SUITE)
    return suite


def test_junit_cases_become_cells_with_their_worst_outcome(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    junit.write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="scenarios.test_blackhole" name="test_blackhole[db=sqlite-csr]"/>'
        '<testcase classname="scenarios.test_blackhole" name="test_blackhole[db=sqlite-baseline]">'
        '<failure message="not quiet"/></testcase>'
        '<testcase classname="scenarios.test_blackhole" name="test_blackhole[db=sqlite-baseline]">'
        '<error message="teardown"/></testcase>'
        '<testcase classname="scenarios.test_db_outage" name="test_pg"><skipped/></testcase>'
        '</testsuite></testsuites>')
    assert flake.read_junit(junit) == {
        "scenarios/test_blackhole.py::test_blackhole[db=sqlite-csr]": "passed",
        "scenarios/test_blackhole.py::test_blackhole[db=sqlite-baseline]": "error",
        "scenarios/test_db_outage.py::test_pg": "skipped",
    }
    assert flake.read_junit(tmp_path / "absent.xml") == {}


def test_the_table_counts_failures_per_cell_worst_first(tmp_path: Path) -> None:
    log = tmp_path / "log"
    result = Campaign([SuiteRun(1, 1, 1.0, {"a": "failed", "b": "failed", "c": "passed"}, log),
                       SuiteRun(2, 1, 1.0, {"a": "passed", "b": "error", "c": "passed"}, log),
                       SuiteRun(3, 0, 1.0, {"a": "passed", "b": "passed", "c": "passed"}, log)])
    assert result.failures() == {"a": [1], "b": [1, 2]}
    rows = flake.failure_table(result).splitlines()
    assert rows[2].split() == ["b", "2/3", "1,", "2"]
    assert rows[3].split() == ["a", "1/3", "1"]
    clean = Campaign([SuiteRun(1, 0, 1.0, {"a": "passed", "b": "passed"}, log)])
    assert flake.failure_table(clean) == "0 failures: 2 cells x 1 runs"
    assert Campaign([SuiteRun(1, 2, 1.0, {}, log)]).broken_runs


async def test_the_burners_live_for_the_block_and_are_stopped_by_pid() -> None:
    async with flake.cpu_load(2) as burners:
        assert len(burners) == 2
        for pid in burners:
            os.kill(pid, 0)
    assert not any(Path(f"/proc/{pid}").exists() for pid in burners)


async def test_a_campaign_counts_a_cell_that_failed_in_one_run(tmp_path: Path) -> None:
    suite = _fake_suite(tmp_path)
    result = await flake.campaign(str(suite), 2, 1, tmp_path / "reports")
    assert [r.exit_code for r in result.runs] == [1, 0]
    cells = sorted(result.runs[0].outcomes)
    assert [c.split("::")[1] for c in cells] == ["test_flaky", "test_steady"]
    assert result.failures() == {cells[0]: [1]}
    assert not result.broken_runs
    assert (tmp_path / "reports" / "run-2" / "junit.xml").is_file()


def test_soak_suite_prints_the_table_and_exits_1_on_a_flaky_cell(tmp_path: Path) -> None:
    suite = _fake_suite(tmp_path)
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "soak", "--suite", str(suite), "--runs", "2",
                           "--load", "1", "-k", "flaky", "--reports", str(tmp_path / "reports")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"2 runs of pytest {suite} with 1 CPU-burning process beside it"
    assert lines[1].startswith("run 1: 1 failed") and lines[2].startswith("run 2: 1 passed")
    assert any(line.split()[-2:] == ["1/2", "1"] and "test_flaky" in line for line in lines)
    assert "test_steady" not in proc.stdout


def test_soak_suite_refuses_a_missing_suite(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "soak", "--suite", str(tmp_path / "none")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith("no such file or folder") and "Traceback" not in proc.stderr
