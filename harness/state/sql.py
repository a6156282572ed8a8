"""The `sqlite` and `postgres` state readers: the target's own query, its columns taken by name."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from harness.errors import BackendUnavailableError


async def read_sqlite(path: str, query: str) -> list[dict[str, Any]]:
    import aiosqlite

    file = Path(path)
    if not file.is_file():
        raise BackendUnavailableError(f"state.path {path}: no such file after the run; point state.path at "
                                      f"the file the server writes (e.g. {{db_path}}, passed to it)")
    try:
        # Read-only: reading the state must not change it (nor create a file at a wrong path).
        async with aiosqlite.connect(f"file:{file.resolve()}?mode=ro", uri=True, timeout=5) as db:
            cursor = await db.execute(query)
            names = [d[0] for d in cursor.description or ()]
            records = await cursor.fetchall()
    except sqlite3.Error as exc:
        raise BackendUnavailableError(f"state.query failed on {path}: {exc}") from None
    return [dict(zip(names, record, strict=True)) for record in records]


async def read_postgres(dsn: str, query: str) -> list[dict[str, Any]]:
    import asyncpg

    from harness.databases import redact

    try:
        conn = await asyncpg.connect(dsn, timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise BackendUnavailableError(f"PostgreSQL at {redact(dsn)} is not reachable: {exc}") from None
    try:
        records = await conn.fetch(query)
    except asyncpg.PostgresError as exc:
        raise BackendUnavailableError(f"state.query failed on PostgreSQL: {exc}") from None
    finally:
        await conn.close()
    return [dict(r) for r in records]
