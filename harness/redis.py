"""The Redis of a multi-node run: a `redis-server` started per run, or an existing one at `REDIS_URL`.

Started: `$REDIS_BIN` or `redis-server` on PATH, on an ephemeral port of 127.0.0.1, without persistence
(no RDB, no AOF), stopped by its PID; `restart()` is a real restart (SIGTERM, then a new process on the
same port), so every pub/sub subscription is lost, which is what `redis_restart` is about.
Existing (`REDIS_URL`, used when set unless the run must restart Redis): never stopped or restarted by
the harness; runs keep apart through their own channel and key prefix (`channel`), so two runs on one
Redis never hear each other.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

from harness.errors import MissingBinaryError, ProcessStartError
from harness.processes import ManagedProcess, PortHold


def find_redis_binary() -> str | None:
    """$REDIS_BIN, else `redis-server` on PATH; None when neither is an executable file."""
    for candidate in (os.environ.get("REDIS_BIN"), shutil.which("redis-server")):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def redis_available() -> bool:
    return bool(os.environ.get("REDIS_URL")) or find_redis_binary() is not None


class RedisServer:
    """One Redis for a run: its address, its channel, and (when the harness started it) its process."""

    def __init__(self, run_dir: Path, prefix: str, *, own: bool = False) -> None:
        """`own`: start a redis-server even when REDIS_URL is set (a run that restarts Redis)."""
        self.run_dir = run_dir
        self.channel = f"sio-harness-{prefix}"
        """The run's pub/sub channel; CSR session keys are `<channel>:session:<pid>`."""
        self.external = None if own else os.environ.get("REDIS_URL") or None
        self.host = "127.0.0.1"
        self.port = 0
        self.process: ManagedProcess | None = None
        self._hold: PortHold | None = None
        """Keeps the port from anyone else while Redis is down between a stop and a restart."""

    @property
    def address(self) -> str:
        """host:port, what each node's proxy link points at."""
        return f"{self.host}:{self.port}"

    @property
    def restartable(self) -> bool:
        return self.external is None

    async def start(self) -> None:
        if self.external:
            parts = urlsplit(self.external)
            self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 6379
            return
        if self._hold is None:
            self._hold = PortHold(self.host)
            self.port = self._hold.port
        binary = find_redis_binary()
        if binary is None:
            named = os.environ.get("REDIS_BIN")
            raise MissingBinaryError(f"REDIS_BIN={named} is not an executable file" if named else
                                     "several nodes need Redis: install redis-server (apt-get install "
                                     "redis-server), or set REDIS_BIN or REDIS_URL")
        argv = [binary, "--bind", self.host, "--port", str(self.port), "--save", "", "--appendonly", "no",
                "--dir", str(self.run_dir)]
        process = ManagedProcess("redis-server", argv, log_path=self.run_dir / "redis.log")
        await process.start()
        try:
            await process.wait_tcp(self.host, self.port, timeout=10.0)
        except BaseException:
            await process.kill()
            raise
        self.process = process

    async def stop(self) -> None:
        """Stop the process; its port stays held, for a `start` on it again (a fault's heal)."""
        if self.process is not None:
            await self.process.terminate()
            self.process = None

    async def close(self) -> None:
        """The end of the run: stop the process and let the port go."""
        await self.stop()
        if self._hold is not None:
            self._hold.close()
            self._hold = None

    async def restart(self) -> None:
        """Stop the process and start a new one on the same port: every subscription is gone."""
        if not self.restartable:
            raise ProcessStartError(f"Redis at REDIS_URL={self.external} is not the harness's to restart")
        await self.stop()
        await self.start()

    def url_at(self, address: str, db: int = 0) -> str:
        """The URL a node uses to reach this Redis through `address` (its proxy link's listen address)."""
        auth = ""
        if self.external:
            parts = urlsplit(self.external)
            if parts.password:
                auth = f"{parts.username or ''}:{parts.password}@"
            if parts.path.strip("/").isdigit():
                db = int(parts.path.strip("/"))
        return f"redis://{auth}{address}/{db}"
