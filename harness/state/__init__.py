"""The final state of an external target: the messages it stored, read the way its target file says.

`sqlite` and `postgres` run the target's query (harness.state.sql), `command` runs the target's own dump
command (harness.state.command), `replay` asks the live server itself: a fresh client connects from
offset 0 and what it is replayed is the state (harness.state.replay). Every reader returns rows
`{"id", "content", "client_offset"}`; ids are integers up to 2**63-1 or strings. A reader that cannot
read raises a HarnessError with one line (exit 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.errors import BackendUnavailableError
from harness.protocol import Protocol
from harness.targetfile import State

Row = dict[str, Any]

MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class Where:
    """Where the state is for this run: the placeholders filled in."""

    url: str
    """The server's own address (not a proxy link)."""
    rows_url: str
    """The database as the harness reads it (a direct link, never the proxy the server goes through)."""
    sqlite_path: str
    cwd: str
    command: tuple[str, ...] = ()


def rows_from(records: list[dict[str, Any]], state: State, what: str) -> list[Row]:
    """Rows of `records` (column/field name -> value): `id` and `content` required, `client_offset` optional;
    ordered by id for `order: integer`, kept as read for `order: read`."""
    rows = []
    for number, record in enumerate(records, 1):
        missing = [k for k in ("id", "content") if k not in record]
        if missing:
            raise BackendUnavailableError(f"{what}: row {number} has no {' and no '.join(missing)} (it has "
                                          f"{', '.join(record) or 'nothing'}); select or print id, content "
                                          f"and optionally client_offset")
        row_id = record["id"]
        if isinstance(row_id, bool) or not isinstance(row_id, (int, str)) or \
                (isinstance(row_id, int) and not 1 <= row_id <= MAX_ID):
            raise BackendUnavailableError(f"{what}: row {number}: id {row_id!r} is neither an integer in "
                                          f"1..2**63-1 nor a string")
        rows.append({"id": row_id, "content": record["content"], "client_offset": record.get("client_offset")})
    if state.order == "integer":
        if any(isinstance(r["id"], str) for r in rows):
            raise BackendUnavailableError(f"{what}: string ids with state.order integer; set state.order read")
        rows.sort(key=lambda r: r["id"])
    return rows


async def read_state(state: State, protocol: Protocol, where: Where) -> list[Row]:
    """The target's stored messages after the run."""
    if state.kind == "sqlite":
        from harness.state.sql import read_sqlite
        records = await read_sqlite(where.sqlite_path, state.query)
        return rows_from(records, state, f"state.query on {where.sqlite_path}")
    if state.kind == "postgres":
        from harness.state.sql import read_postgres
        return rows_from(await read_postgres(where.rows_url, state.query), state, "state.query on PostgreSQL")
    if state.kind == "command":
        from harness.state.command import read_command
        return rows_from(await read_command(where.command, where.cwd), state, "state.command")
    from harness.state.replay import read_replay
    return rows_from(await read_replay(where.url, protocol, state), state, f"state replay from {where.url}")
