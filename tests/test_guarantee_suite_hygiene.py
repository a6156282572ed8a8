"""Hygiene of the guarantee suite: whether it finishes or is interrupted with SIGINT mid-run, every
process it started is gone afterwards and every port those processes listened on is free again."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.timeout(120)


def _default_sigint() -> None:
    # A background job of a shell without job control (`cmd &` in a script, nohup) starts with SIGINT
    # ignored, and so would the suite under test: Ctrl-C is what this file tests, so give it back.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_suite(reports: Path, *tests: str) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "pytest", *tests, "-q", "-p", "no:cacheprovider", "--chaos-proxy", "embedded",
            "--chaos-reports", str(reports)]
    return subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            preexec_fn=_default_sigint)


def _watch(proc: subprocess.Popen[bytes], reports: Path, seconds: float) -> tuple[set[int], set[int]]:
    """Descendant PIDs and their listening ports, sampled until a cell is sending (or the suite ends).

    Polled: the processes and their sockets appear inside another process tree, which tells us nothing.
    """
    pids: set[int] = set()
    ports: set[int] = set()
    deadline = time.monotonic() + seconds
    parent = psutil.Process(proc.pid)
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            children = parent.children(recursive=True)
        except psutil.NoSuchProcess:
            break
        for child in children:
            pids.add(child.pid)
            try:
                ports.update(c.laddr.port for c in child.net_connections("inet") if c.status == psutil.CONN_LISTEN)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        if any(reports.glob("*/history.jsonl")) and len(pids) >= 2 and ports:
            break
        time.sleep(0.05)
    return pids, ports


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _assert_clean(pids: set[int], ports: set[int]) -> None:
    alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"processes left behind: {alive}"
    held = [p for p in ports if not _port_free(p)]
    assert not held, f"ports still held: {held}"


def test_nothing_left_after_sigint_mid_cell(tmp_path: Path) -> None:
    proc = _start_suite(tmp_path, "scenarios/test_server_crash.py")
    try:
        pids, ports = _watch(proc, tmp_path, 60)
        assert pids and ports, "the suite never started a cell"
        proc.send_signal(signal.SIGINT)
        output = proc.communicate(timeout=60)[0].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "KeyboardInterrupt" in output or "Interrupted" in output, output[-2000:]
    _assert_clean(pids, ports)


def test_nothing_left_after_a_finished_module(tmp_path: Path) -> None:
    proc = _start_suite(tmp_path, "scenarios/test_lost_ack.py", "-k", "exactly")
    try:
        pids, ports = _watch(proc, tmp_path, 60)
        output = proc.communicate(timeout=90)[0].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, output[-2000:]
    assert pids, "no process was started"
    _assert_clean(pids, ports)
