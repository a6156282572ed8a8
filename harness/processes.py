"""Processes of a run: start them, know when they are ready, stop them by PID whatever happens.

Every child is started in its own session (process group) and recorded in a module registry; `stop_all()`
runs at interpreter exit and on SIGTERM, so a test failure or Ctrl-C never leaves a server or proxy
behind. Nothing here kills by name.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import aiohttp

from harness.errors import ProcessStartError

_LIVE: dict[int, ManagedProcess] = {}


def free_port(host: str = "127.0.0.1") -> int:
    """An ephemeral port the OS just handed out on `host`; a race is possible, so bind soon (or hold it:
    `PortHold`)."""
    hold = PortHold(host)
    hold.close()
    return hold.port


class PortHold:
    """An ephemeral port kept for one owner until `close()`, through every restart of what listens on it.

    A server the harness crashes and restarts must come back on its own port, and while it is down that
    port is free: another run's `free_port`, or the local end of any outgoing connection, can take it, and
    the restart then fails with "address in use". The hold is a socket bound to the port with SO_REUSEADDR
    that never listens. The kernel hands a bound port to nobody else (not to `bind(0)`, not to `connect`),
    yet lets a listener that also sets SO_REUSEADDR bind it beside the hold; every server the harness
    starts does (asyncio and aiohttp, Node.js, redis-server, Go's net package, PostgreSQL by default).
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        # Bound before SO_REUSEADDR is set, so the kernel picks a port no other socket is bound to (with the
        # option set first, it may share one with another hold); set after, it still lets a listener in.
        self._socket.bind((host, 0))
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.port: int = self._socket.getsockname()[1]

    def close(self) -> None:
        self._socket.close()


class ManagedProcess:
    """A child process owned by the harness, stopped by its PID (and its process group)."""

    def __init__(self, name: str, argv: Sequence[str], env: dict[str, str] | None = None,
                 cwd: str | None = None, log_path: str | os.PathLike[str] | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = env
        self.cwd = cwd
        self.log_path = Path(log_path) if log_path else None
        self.proc: asyncio.subprocess.Process | None = None
        self.paused = False
        self._forget: asyncio.Future[None] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode if self.proc else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def start(self) -> None:
        env = dict(os.environ)
        if self.env:
            env.update(self.env)
        out = open(self.log_path, "ab") if self.log_path else asyncio.subprocess.DEVNULL
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv, env=env, cwd=self.cwd, stdin=asyncio.subprocess.DEVNULL,
                stdout=out, stderr=asyncio.subprocess.STDOUT, start_new_session=True)
        except FileNotFoundError:
            raise ProcessStartError(f"{self.name}: cannot run {self.argv[0]!r}: not found") from None
        finally:
            if self.log_path:
                out.close()  # type: ignore[union-attr]
        _LIVE[self.proc.pid] = self
        # A child that ends on its own (a crash, a target that exits) leaves the registry too, so that
        # `stop_all` never signals a PID the system may have handed to another process since.
        self._forget = asyncio.ensure_future(self._forget_on_exit(self.proc))

    @staticmethod
    async def _forget_on_exit(proc: asyncio.subprocess.Process) -> None:
        await proc.wait()
        if _LIVE.get(proc.pid) is not None and _LIVE[proc.pid].proc is proc:
            del _LIVE[proc.pid]

    async def wait_http(self, url: str, timeout: float = 10.0, *, own_pid: bool = False) -> float:
        """Poll `url` until it answers 200; return seconds waited. Fails fast if the child exits.

        `own_pid`: the answer must be JSON whose `pid` is this child's. Another run's server that took the
        same port first (two `free_port` calls can hand out one port while neither has bound it yet) would
        otherwise pass for this one, and this run's clients would talk to that run's server."""
        start = time.monotonic()
        deadline = start + timeout
        async with aiohttp.ClientSession() as session:
            while True:
                if not self.running:
                    raise ProcessStartError(f"{self.name} exited with code {self._started().returncode} "
                                            f"before it was ready{self._log_hint()}")
                try:
                    async with session.get(url, timeout=aiohttp.ClientTimeout(total=1)) as resp:
                        if resp.status == 200 and (not own_pid or await self._answers_as_me(resp)):
                            return time.monotonic() - start
                except (TimeoutError, aiohttp.ClientError, OSError, ValueError):
                    pass
                if time.monotonic() > deadline:
                    raise ProcessStartError(f"{self.name} not ready at {url} after {timeout:.0f}s"
                                            f"{self._starvation_hint(time.monotonic() - start)}"
                                            f"{self._log_hint()}")
                # Polling is the only readiness signal a foreign process offers; keep the step short.
                await asyncio.sleep(0.01)

    async def _answers_as_me(self, resp: aiohttp.ClientResponse) -> bool:
        body = await resp.json(content_type=None)
        return isinstance(body, dict) and body.get("pid") == self.pid

    async def wait_tcp(self, host: str, port: int, timeout: float = 10.0) -> float:
        """Poll until a TCP connect to host:port succeeds; return seconds waited."""
        start = time.monotonic()
        while True:
            if not self.running:
                raise ProcessStartError(f"{self.name} exited with code {self._started().returncode} "
                                        f"before it was ready{self._log_hint()}")
            try:
                _, writer = await asyncio.open_connection(host, port)
                writer.close()
                return time.monotonic() - start
            except OSError:
                pass
            if time.monotonic() - start > timeout:
                raise ProcessStartError(f"{self.name} not listening on {host}:{port} after "
                                        f"{timeout:.0f}s{self._starvation_hint(time.monotonic() - start)}"
                                        f"{self._log_hint()}")
            await asyncio.sleep(0.01)

    def _starvation_hint(self, waited: float) -> str:
        """How much CPU the child had in `waited` seconds: a start that never ran tells a starved machine
        from a hung server, which the wall clock alone cannot."""
        cpu = self.cpu_seconds()
        if cpu is None:
            return ""
        return f" (it used {cpu:.1f} s of CPU in {waited:.0f} s; load average {os.getloadavg()[0]:.1f})"

    def cpu_seconds(self) -> float | None:
        """User + system CPU seconds of the child so far (Linux /proc), None when unknown."""
        if self.proc is None:
            return None
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        # Fields 14 and 15 of proc(5), counted after the ")" that ends the command name.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _log_hint(self) -> str:
        if self.log_path and self.log_path.exists():
            tail = self.log_path.read_text(errors="replace").strip().splitlines()[-3:]
            if tail:
                return " (log: " + " | ".join(tail) + ")"
        return ""

    def pause(self) -> None:
        """SIGSTOP: the process (group) freezes with its sockets open, as in a long GC pause."""
        if self.running and not self.paused:
            self._signal(signal.SIGSTOP)
            self.paused = True

    def resume(self) -> None:
        """SIGCONT: a paused process runs on from where it stopped."""
        if self.running and self.paused:
            self._signal(signal.SIGCONT)
        self.paused = False

    async def terminate(self, grace: float = 3.0) -> int | None:
        """SIGTERM, then SIGKILL after `grace` seconds; returns the exit code.

        A paused process is continued first: a stopped process would hold the SIGTERM until the grace
        ran out, and never get its graceful stop.
        """
        if not self.proc:
            return None
        if self.proc.returncode is None:
            self.resume()
            self._signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), grace)
            except TimeoutError:
                self._signal(signal.SIGKILL)
                await self.proc.wait()
        _LIVE.pop(self.proc.pid, None)
        return self.proc.returncode

    async def kill(self) -> int | None:
        """SIGKILL: a crash, no cleanup in the child."""
        if not self.proc:
            return None
        if self.proc.returncode is None:
            self._signal(signal.SIGKILL)
            await self.proc.wait()
        self.paused = False
        _LIVE.pop(self.proc.pid, None)
        return self.proc.returncode

    def _started(self) -> asyncio.subprocess.Process:
        if self.proc is None:
            raise ProcessStartError(f"{self.name} was never started")
        return self.proc

    def _signal(self, sig: int) -> None:
        pid = self._started().pid
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            os.kill(pid, sig)


_REAPED_BY_STOP_ALL: set[int] = set()
"""PIDs `stop_all` killed and reaped itself, behind the back of asyncio's child watcher."""

# What asyncio's child watcher logs when the child it waits for was reaped by someone else, or outlived
# the event loop that started it (see `_WatcherReports`).
_WATCHER_REPORTS = ("Unknown child process pid %d, will report returncode 255", "Loop %r that handles pid %r is closed")


class _WatcherReports(logging.Filter):
    """Drops asyncio's report on a child that `stop_all` has already killed and reaped.

    asyncio waits for each child in a thread of its own (`ThreadedChildWatcher`). A child still running
    when `stop_all` runs (interpreter exit after a crash or Ctrl-C, or SIGTERM) has such a thread blocked
    in waitpid; `stop_all` must not wait for it, because at exit the loop that would hear of the child's
    end is closed. So `stop_all` reaps the child itself, and the thread then wakes to find the child gone
    (or its loop closed) and says so on stderr. For those PIDs the report is expected and says nothing.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        return not (record.msg in _WATCHER_REPORTS and args and args[-1] in _REAPED_BY_STOP_ALL)


logging.getLogger("asyncio").addFilter(_WatcherReports())


async def run_command(argv: Sequence[str], *, cwd: str | None = None, what: str = "command",
                      timeout: float = 60.0) -> str:
    """Run a short command to its end and return its standard output; a failure raises ProcessStartError
    with its exit code and the last lines it wrote. A command still running at `timeout` is killed by PID."""
    try:
        proc = await asyncio.create_subprocess_exec(*argv, cwd=cwd, stdin=asyncio.subprocess.DEVNULL,
                                                    stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE, start_new_session=True)
    except OSError as exc:
        raise ProcessStartError(f"{what}: cannot run {argv[0]!r}: {exc.strerror}") from None
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except BaseException as exc:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        if isinstance(exc, TimeoutError):
            raise ProcessStartError(f"{what}: {' '.join(argv)} still running after {timeout:g}s; killed") from None
        raise
    if proc.returncode:
        tail = " | ".join(err.decode(errors="replace").strip().splitlines()[-3:]) or "no output"
        raise ProcessStartError(f"{what}: {' '.join(argv)} exited with code {proc.returncode} ({tail})")
    return out.decode(errors="replace")


def stop_all() -> None:
    """Synchronously SIGKILL every child still registered: the last line of defence at exit."""
    for pid in list(_LIVE):
        _REAPED_BY_STOP_ALL.add(pid)
        try:
            # SIGKILL ends a stopped process too; SIGCONT first lets nothing stay frozen if it does not.
            os.killpg(pid, signal.SIGCONT)
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        _LIVE.pop(pid, None)


def live_pids() -> list[int]:
    """PIDs of children started by this process and not yet stopped."""
    return list(_LIVE)


def _on_sigterm(signum: int, frame: object) -> None:
    stop_all()
    sys.exit(128 + signum)


atexit.register(stop_all)
if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
    signal.signal(signal.SIGTERM, _on_sigterm)


def python_module_argv(module: str, *args: str) -> list[str]:
    """argv running `python -m module` with the interpreter running the harness."""
    return [sys.executable, "-m", module, *args]


async def start_reference_server(port: int, db: str, profile: str = "baseline", *, host: str = "127.0.0.1",
                                 mutant: str | None = None, extra: Sequence[str] = (),
                                 log_path: str | os.PathLike[str] | None = None,
                                 ready_timeout: float = 30.0, name: str = "") -> ManagedProcess:
    """Start `python -m reference_server` and wait until its health endpoint answers.

    The server is ready in under a second on an idle machine; the bound is for a loaded CI machine, where
    a Python start was seen to take over 10 s (the error says how much CPU the child got meanwhile).
    """
    argv = python_module_argv("reference_server", "--host", host, "--port", str(port), "--db", db,
                              "--profile", profile, *extra)
    if mutant:
        argv += ["--mutant", mutant, "--i-know-this-breaks-delivery"]
    proc = ManagedProcess(f"reference server {name + ' ' if name else ''}({profile})", argv, log_path=log_path)
    await proc.start()
    try:
        await proc.wait_http(f"http://{host}:{port}/health", timeout=ready_timeout, own_pid=True)
    except BaseException:
        await proc.kill()
        raise
    return proc
