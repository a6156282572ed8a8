"""`sio-harness check`: a saved run folder or a history and rows file; exit 0, 1, 2 or 3."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from checkers_support import Story

from harness.checkers import Verdict
from harness.cli import main


def run_folder(tmp_path: Path, s: Story, scenario: dict | None = None) -> Path:
    folder = tmp_path / "run-1"
    folder.mkdir()
    (folder / "history.jsonl").write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in s.events))
    (folder / "rows.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in s.rows))
    if scenario is not None:
        (folder / "scenario.json").write_bytes(orjson.dumps(scenario))
    return folder


def duplicating_run() -> Story:
    s = Story().start("c1")
    s.invoke("c1:1")
    s.recv("c1", s.store("c1:1"))
    s.recv("c1", s.store("c1:1"))
    s.ack("c1:1")
    return s.end("c1")


def test_a_clean_run_exits_0_and_says_pass(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    s = Story().start("c1")
    s.sent("c1:1", "c1")
    assert main(["check", str(run_folder(tmp_path, s.end("c1")))]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "exactly-once" in out


def test_a_violation_exits_1_and_names_the_ids(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["check", str(run_folder(tmp_path, duplicating_run()))]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "1 duplicated" in out and "c1:1" in out


def test_the_scenarios_expectations_apply_and_expect_overrides_them(tmp_path: Path) -> None:
    folder = run_folder(tmp_path, duplicating_run(),
                        {"name": "lost ack", "expectations": {"guarantees": ["at-least-once"],
                                                              "violations": {"duplicated": 1}}})
    assert main(["check", str(folder)]) == 0
    assert main(["check", str(folder), "--expect", "at-most-once"]) == 1
    assert main(["check", str(folder), "--expect", "at-least-once,ordered"]) == 0


def test_history_and_rows_files_with_json_output(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = run_folder(tmp_path, duplicating_run())
    code = main(["check", str(folder / "history.jsonl"), str(folder / "rows.jsonl"), "--json"])
    verdict = Verdict.from_json(capsys.readouterr().out)
    assert code == 1 and verdict.counts["duplicated"] == 1


@pytest.mark.parametrize("damage", ["missing", "garbage", "bad-scenario", "bad-expect"])
def test_bad_input_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture,
                                         damage: str) -> None:
    folder = run_folder(tmp_path, duplicating_run())
    args = ["check", str(folder)]
    if damage == "missing":
        (folder / "rows.jsonl").unlink()
    elif damage == "garbage":
        (folder / "history.jsonl").write_bytes(b'{"t": 1}\n<html>\n')
    elif damage == "bad-scenario":
        (folder / "scenario.json").write_text("{not json")
    else:
        args += ["--expect", "exactly-twice"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("sio-harness check: ") and err.count("\n") == 1 and "Traceback" not in err


def test_the_console_script_path_works_as_a_subprocess(tmp_path: Path) -> None:
    folder = run_folder(tmp_path, duplicating_run())
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "check", str(folder)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "duplicated" in proc.stdout


def test_an_empty_history_exits_3_inconclusive(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """No evidence is never a PASS: an empty history is inconclusive for every guarantee."""
    assert main(["check", str(run_folder(tmp_path, Story()))]) == 3
    out = capsys.readouterr().out
    assert "INCONCLUSIVE" in out and "the history is empty" in out
    assert out.count("inconclusive: the history is empty") == 1
