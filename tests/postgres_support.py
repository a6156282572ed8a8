"""A PostgreSQL server for the tests: `$SIO_HARNESS_POSTGRES_DSN` (CI), else a throwaway local one.

The local server is initialised in a temporary folder as the `postgres` user, listens on 127.0.0.1 on an
ephemeral port and is stopped by its PID at the end of the session. Without either, the test is skipped
(failed under CI=true).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from backends_support import missing_backend

from harness.processes import ManagedProcess, free_port

BIN = Path("/usr/lib/postgresql/15/bin")


def _as_postgres(*argv: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else list(argv)


@asynccontextmanager
async def postgres_dsn() -> AsyncIterator[str]:
    dsn = os.environ.get("SIO_HARNESS_POSTGRES_DSN")
    if dsn:
        yield dsn
        return
    if not (BIN / "initdb").exists() or (os.geteuid() == 0 and not shutil.which("runuser")):
        missing_backend("PostgreSQL (set SIO_HARNESS_POSTGRES_DSN, or install postgresql-15)")
    folder = Path(tempfile.mkdtemp(prefix="sio-pg-"))
    data = folder / "data"
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    init = subprocess.run(_as_postgres(str(BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"),
                          capture_output=True, text=True)
    if init.returncode:
        missing_backend(f"a local PostgreSQL (initdb failed: {init.stderr.strip()[-200:]})")
    port = free_port()
    server = ManagedProcess("postgres", _as_postgres(str(BIN / "postgres"), "-D", str(data), "-p", str(port),
                                                     "-k", str(folder), "-c", "listen_addresses=127.0.0.1",
                                                     "-c", "fsync=off"),
                            log_path=folder / "log")
    await server.start()
    try:
        await server.wait_tcp("127.0.0.1", port, timeout=30)
        # Accepting TCP is not accepting sessions: wait for the first successful login.
        import asyncpg

        dsn = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        for _ in range(100):
            try:
                await (await asyncpg.connect(dsn, timeout=2)).close()
                break
            except (OSError, asyncpg.PostgresError):
                await asyncio.sleep(0.1)
        yield dsn
    finally:
        await server.terminate(grace=10)
        shutil.rmtree(folder, ignore_errors=True)
