"""The chat's storage seen from outside the server: fresh databases, the final rows, a SQLite outage.

The harness reads and disturbs the database of whichever server it tests, so this module speaks the
tutorial's schema directly (`messages(id, client_offset, content)`) and never imports a server.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from harness.errors import BackendUnavailableError, HarnessError

Row = dict[str, Any]


def sqlite_url(path: str | Path) -> str:
    """The `--db` URL of a SQLite file: `sqlite:///` + its absolute path."""
    return "sqlite:///" + str(Path(path).resolve())


def sqlite_path(db_url: str) -> Path:
    """The file behind a `sqlite:///...` URL (or a bare path)."""
    if db_url.startswith("sqlite:///"):
        return Path(db_url[len("sqlite:///"):])
    if "://" in db_url:
        raise HarnessError(f"{db_url!r} is not a SQLite URL (sqlite:///path.db)")
    return Path(db_url)


def is_postgres(db_url: str) -> bool:
    return db_url.startswith(("postgresql://", "postgres://"))


@asynccontextmanager
async def fresh_postgres_database(admin_dsn: str) -> AsyncIterator[str]:
    """A new, empty PostgreSQL database for one run; yields its DSN and drops it afterwards.

    `admin_dsn` must name a role that may CREATE DATABASE. Sessions still attached at the end (a server
    that was SIGKILLed leaves its connection behind until PostgreSQL notices) are terminated by the
    DROP ... WITH (FORCE).
    """
    import asyncpg

    name = f"sio_harness_{uuid.uuid4().hex[:16]}"
    admin = await _connect_admin(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield _with_database(admin_dsn, name)
    finally:
        admin = await _connect_admin(admin_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except asyncpg.PostgresError as exc:
            raise BackendUnavailableError(f"could not drop test database {name}: {exc}") from exc
        finally:
            await admin.close()


async def _connect_admin(admin_dsn: str) -> Any:
    import asyncpg

    try:
        return await asyncpg.connect(admin_dsn, timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise BackendUnavailableError(f"PostgreSQL at {redact(admin_dsn)} is not reachable: {exc}") from None


def _with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + database))


def redact(dsn: str) -> str:
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)))


async def read_db_rows(db_url: str) -> list[Row]:
    """Every message the database holds as `{"id", "client_offset", "content"}`, in id order: the final
    capture (the rows file of a run folder is read by `harness.history.read_rows`).

    A database without the table yet (the server never started) reads as empty.
    """
    records = await _fetch(db_url, "SELECT id, client_offset, content FROM messages ORDER BY id")
    return [{"id": i, "client_offset": o, "content": c} for i, o, c in records]


async def count_db_rows(db_url: str) -> int:
    """How many messages the database holds now: the runner's check that the server has stopped storing."""
    records = await _fetch(db_url, "SELECT count(*) FROM messages")
    return int(records[0][0]) if records else 0


async def _fetch(db_url: str, query: str) -> list[tuple[Any, ...]]:
    """The rows of `query` on either backend; none while the table does not exist yet."""
    if is_postgres(db_url):
        import asyncpg

        try:
            conn = await asyncpg.connect(db_url, timeout=5)
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            raise BackendUnavailableError(f"PostgreSQL at {redact(db_url)} is not reachable: {exc}") from None
        try:
            return [tuple(r) for r in await conn.fetch(query)]
        except asyncpg.UndefinedTableError:
            return []
        finally:
            await conn.close()
    import aiosqlite

    path = sqlite_path(db_url)
    if not path.exists():
        return []
    # A generous busy timeout: the capture may start while a server is still committing.
    async with aiosqlite.connect(path, timeout=5) as db:
        try:
            return [tuple(r) for r in await db.execute_fetchall(query)]
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise BackendUnavailableError(f"cannot read {path}: {exc}") from None


@asynccontextmanager
async def hold_sqlite_lock(path: str | Path, acquire_timeout: float = 5.0) -> AsyncIterator[None]:
    """Hold the write lock of a SQLite file (`BEGIN EXCLUSIVE`) for the duration: the db_outage fault.

    Every other writer then fails with SQLITE_BUSY once its own busy timeout runs out. Acquiring waits
    up to `acquire_timeout` for a write already in progress to finish. Releasing rolls back, so the
    outage leaves no trace in the data.
    """
    import aiosqlite

    db = await aiosqlite.connect(Path(path), timeout=acquire_timeout, isolation_level=None)
    try:
        try:
            await db.execute("BEGIN EXCLUSIVE")
        except sqlite3.OperationalError as exc:
            raise BackendUnavailableError(f"could not lock {path}: {exc}") from None
        try:
            yield
        finally:
            await db.execute("ROLLBACK")
    finally:
        await db.close()
