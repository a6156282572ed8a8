"""`db_outage`: the server's database goes away for the fault's duration.

SQLite: the harness holds `BEGIN EXCLUSIVE` on the file, so the server's writes fail with SQLITE_BUSY.
PostgreSQL: the server's database link, which goes through the proxy, is disabled.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass

from harness.errors import ScenarioError
from harness.faults.base import Acts, Fault, FaultContext, FaultKind, Heal, Lane


@dataclass(frozen=True, kw_only=True)
class DbOutage(FaultKind):
    acts_on: Acts = "db"
    lane: Lane = "database"

    def check(self, ctx: FaultContext, fault: Fault) -> None:
        if ctx.storage == "sqlite" and ctx.sqlite_path is None:
            raise ScenarioError(f"fault {fault.label}: no SQLite file known for this target")

    async def start(self, ctx: FaultContext, fault: Fault, heal: Heal) -> None:
        if ctx.storage == "postgres":
            if not ctx.db_link:
                raise ScenarioError("db_outage on PostgreSQL needs the server's database link to go "
                                    "through the proxy; this target has none")
            await ctx.proxies.set_enabled(ctx.db_link, False)
            heal.then(functools.partial(ctx.proxies.set_enabled, ctx.db_link, True))
            return
        if ctx.lock_sqlite is None or ctx.sqlite_path is None:
            raise ScenarioError("db_outage on SQLite needs the database file and a lock helper")
        stack = contextlib.AsyncExitStack()
        await stack.enter_async_context(ctx.lock_sqlite(ctx.sqlite_path))
        heal.then(stack.aclose)


DB_OUTAGE = DbOutage(name="db_outage", duration=1.0, searched=True)

KINDS = (DB_OUTAGE,)
