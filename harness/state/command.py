"""The `command` state reader: the target's own command prints one JSON object per stored message."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from harness.errors import BackendUnavailableError
from harness.processes import run_command


async def read_command(argv: Sequence[str], cwd: str) -> list[dict[str, Any]]:
    out = await run_command(argv, cwd=cwd, what="state.command")
    records = []
    for number, line in enumerate(out.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise BackendUnavailableError(f"state.command: line {number} is not JSON: {line[:80]!r}; print one "
                                          f"object per line, e.g. {{\"id\": 1, \"content\": \"...\"}}") from None
        if not isinstance(record, dict):
            raise BackendUnavailableError(f"state.command: line {number} is not a JSON object")
        records.append(record)
    return records
