"""pg-chat's and replay-bug's claimed columns (`sio-harness matrix --target FILE`): pass, or find the bug.

Nine real runs per column (every fault family, the claimed step's expectations), 12 to 45 s a column. The
node-tutorial columns are tests/test_targets_node_tutorial.py's.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from examples_support import EXAMPLES

from harness.cli import main


def column(target: Path, reports: Path) -> int:
    return main(["matrix", "--target", str(target), "--strict", "--reports", str(reports)])


@pytest.mark.parametrize("state", ["postgres", "replay"])
def test_the_postgres_app_passes_its_column_with_either_state_reader(state, tmp_path, capsys, monkeypatch,
                                                                     postgres_admin_dsn):
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    code = column(EXAMPLES / "pg-chat" / f"{state}.json", tmp_path)
    out = capsys.readouterr().out
    assert code == 0, out


def test_the_planted_replay_bug_is_caught_by_its_column(tmp_path, capsys, node_server):
    code = column(EXAMPLES / "replay-bug" / "target.json", tmp_path)
    out = capsys.readouterr().out
    assert code == 1, out
    caught = {cell.name.split("-server-delivery-")[1].rsplit("-", 1)[0]
              for cell in tmp_path.glob("matrix-*/*-matrix-server-delivery-*")
              if any(v["redelivered"] for v in
                     json.loads((cell / "verdict.json").read_text())["server_to_client"].values())}
    assert caught & {"server_crash", "server_restart"}, f"no redelivered message found; cells: {out}"
