"""The tutorial's own Node.js server (examples/targets/node-tutorial) as an external target, at its three
server steps: each column of the matrix passes as the tutorial says that step behaves, and the suite runs
the claimed column through `--chaos-target`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from examples_support import EXAMPLES, ROOT, example_node_packages

from harness.cli import main

TARGETS = EXAMPLES / "node-tutorial"


@pytest.mark.parametrize("step", ["csr", "server-delivery", "exactly-once"])
def test_the_claimed_column_passes(tmp_path, capsys, monkeypatch, step):
    example_node_packages()
    monkeypatch.setenv("COLUMNS", "300")
    assert main(["matrix", "--target", str(TARGETS / f"{step}.json"), "--strict", "--reports", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"cells against target node-tutorial-{step} (claims {step})" in out
    assert "0 differ from what the guarantee suite expects" in out
    # The single-server families ran; the multi-node ones (when a redis-server is there) are not applicable.
    ran = [d for d in tmp_path.glob("matrix-*/*") if d.is_dir()]
    assert len(ran) == 9
    assert all("multi-node cell" in line for line in out.splitlines() if line.startswith("  n/a: "))


def suite(tmp_path, *options: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    if not env:
        environ.pop("SIO_HARNESS_TARGET", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
         str(ROOT / "scenarios" / "test_disconnect.py"), "--chaos-reports", str(tmp_path), *options],
        capture_output=True, text=True, env=environ, cwd=ROOT, timeout=300)


def test_the_suite_runs_the_claimed_column_and_names_the_others(tmp_path):
    example_node_packages()
    proc = suite(tmp_path, "--chaos-target", str(TARGETS / "server-delivery.json"))
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "1 passed, 4 skipped" in proc.stdout
    assert "claims the server-delivery step; this cell is csr's (--all-steps runs it too)" in proc.stdout


def test_the_suite_still_reads_an_older_sio_harness_target_file(tmp_path):
    example_node_packages()
    legacy = tmp_path / "legacy.json"
    legacy.write_text(json.dumps({
        "kind": "external", "command": ["env", "TUTORIAL_STEP=csr", "node", str(TARGETS / "server.js"),
                                        "--port", "{port}", "--db", "{db_path}"],
        "ready": {"http": "/health"}, "sqlite_path": "{db_path}"}))
    proc = suite(tmp_path / "reports", env={"SIO_HARNESS_TARGET": str(legacy), "SIO_HARNESS_TARGET_PROFILE": "csr"})
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "1 passed, 4 skipped" in proc.stdout and "claims the csr step" in proc.stdout
