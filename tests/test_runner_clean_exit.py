"""Clean exits: a command's stderr carries the harness's own lines only, no asyncio or engineio noise."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOISE = ("Unknown child process", "that handles pid", "asyncio", "engineio", "socketio", "packet queue")


def python(code: str, tmp_path: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=timeout)


def assert_quiet(stderr: str) -> None:
    noisy = [line for line in stderr.splitlines() if any(word in line for word in NOISE)]
    assert not noisy, stderr


def test_a_short_run_leaves_nothing_on_stderr(tmp_path):
    done = python("import sys; from harness.cli import main; sys.exit(main(sys.argv[1:]))", tmp_path,
                  "run", "baseline-no-faults", "--reports", str(tmp_path / "reports"), timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS baseline-no-faults" in done.stdout
    assert_quiet(done.stderr)


def test_a_child_left_running_at_exit_is_stopped_without_asyncio_warnings(tmp_path):
    # A run that dies before its teardown leaves its processes to the exit handler; asyncio's child
    # watcher is still waiting for them then, in threads of its own.
    done = python("""
        import asyncio
        from harness.processes import ManagedProcess

        async def main():
            child = ManagedProcess("sleeper", ["sleep", "60"])
            await child.start()
            print(child.pid, flush=True)

        asyncio.run(main())
    """, tmp_path)
    assert done.returncode == 0, done.stderr
    pid = int(done.stdout.split()[0])
    assert not Path(f"/proc/{pid}").exists(), "the exit handler stops the child by its PID"
    assert_quiet(done.stderr)


def test_sigterm_mid_run_stops_the_children_without_asyncio_warnings(tmp_path):
    # The exit handler then runs inside the loop, while asyncio's watcher threads wait for the children.
    code = """
        import asyncio
        from harness.processes import ManagedProcess

        async def main():
            children = [ManagedProcess(f"sleeper {i}", ["sleep", "60"]) for i in range(3)]
            for child in children:
                await child.start()
            print(*(c.pid for c in children), flush=True)
            await asyncio.Event().wait()

        asyncio.run(main())
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in proc.stdout.readline().split()]
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert len(pids) == 3 and not any(Path(f"/proc/{pid}").exists() for pid in pids)
    assert_quiet(stderr)


def test_a_child_that_ends_on_its_own_leaves_the_registry(tmp_path):
    done = python("""
        import asyncio
        from harness.processes import ManagedProcess, live_pids

        async def main():
            child = ManagedProcess("quick", ["true"])
            await child.start()
            await child.proc.wait()
            await asyncio.sleep(0)  # the registry hears of the exit in the callback after wait()
            print(live_pids(), flush=True)

        asyncio.run(main())
    """, tmp_path)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
    assert_quiet(done.stderr)


def test_the_socketio_libraries_log_to_the_run_folder_not_the_terminal(tmp_path):
    done = python("""
        import sys
        from pathlib import Path
        import engineio, socketio
        from harness.librarylog import RunLog, keep_off_terminal

        keep_off_terminal()  # what the command line does first
        outside = engineio.AsyncClient(logger=False)
        outside.logger.error("before any run: dropped")
        log = RunLog(Path(sys.argv[1]))
        client = socketio.AsyncClient(logger=False, engineio_logger=False)
        client.eio.logger.error("packet queue is empty, aborting")
        client.logger.warning("a socketio warning")
        log.close()
        client.eio.logger.error("after the run: dropped")
    """, tmp_path, str(tmp_path / "libraries.log"))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    logged = (tmp_path / "libraries.log").read_text()
    assert "engineio.client: packet queue is empty, aborting" in logged
    assert "socketio.client: a socketio warning" in logged
    assert "dropped" not in logged


def test_runs_sharing_an_event_loop_each_log_their_own_lines(tmp_path):
    done = python("""
        import asyncio, logging, sys
        from pathlib import Path
        from harness.librarylog import RunLog

        async def run(name, mine, theirs):
            log = RunLog(Path(sys.argv[1]) / f"{name}.log")
            async def library_task():  # a task the run starts, as python-engineio's do
                logging.getLogger("engineio.client").error(f"from {name}")
            await asyncio.create_task(library_task())
            mine.set()
            await theirs.wait()  # the other run logs while this one's handler is still attached
            log.close()

        async def main():
            a, b = asyncio.Event(), asyncio.Event()
            await asyncio.gather(run("a", a, b), run("b", b, a))

        asyncio.run(main())
    """, tmp_path, str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "a.log").read_text().count("engineio.client: from") == 1
    assert "from a" in (tmp_path / "a.log").read_text()
    assert "from b" in (tmp_path / "b.log").read_text()
