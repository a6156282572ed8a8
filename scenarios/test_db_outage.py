"""Database outage for 0.5 s after c1's 6th message, on SQLite and on PostgreSQL.

SQLite: the harness holds an exclusive lock, so the server's inserts fail with SQLITE_BUSY.
PostgreSQL: the server's link to the database is cut at the proxy. The tutorial: a message is lost
when 'the database is temporarily not available'; the at-least-once step only acks after a commit,
so its clients retry until the database is back. Both storages run whatever `--chaos-db` says.
"""

import pytest

from harness.steps import STEPS


@pytest.mark.storage("sqlite")
@pytest.mark.parametrize("profile", STEPS)
async def test_db_outage_sqlite(profile: str, run_cell) -> None:
    await run_cell("db_outage", profile, storage="sqlite")


@pytest.mark.storage("postgres")
@pytest.mark.parametrize("profile", STEPS)
async def test_db_outage_postgres(profile: str, run_cell) -> None:
    await run_cell("db_outage", profile, storage="postgres")
