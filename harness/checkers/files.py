"""Checking saved runs: a history file and a rows file, or a run folder, each file read once."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from harness.checkers.delivery import TORN_HIDES, check, check_records
from harness.checkers.records import RecordError, read_records
from harness.checkers.verdict import Expectations, Verdict
from harness.errors import HarnessError
from harness.history import HistoryError, read_history, read_rows
from harness.runfolder import RunFolder


class RunFolderError(HarnessError):
    """A run folder does not exist, or its scenario.json cannot be read."""


def check_files(history_path: str | os.PathLike[str], rows_path: str | os.PathLike[str],
                expected: Expectations | Iterable[str] | None = None) -> Verdict:
    """Check a saved history against saved rows, streaming the history.

    The history is decoded a chunk of lines at a time straight into the checker's typed records
    (`records.read_records`, no per-line Python call), which keeps the whole check near the cost
    of parsing. Only when that fast path meets a line it cannot decode (a blank line, a torn last line,
    garbage, an event of the wrong shape) is the file read again with `read_history`, which skips what a
    killed writer leaves and names the bad line; a skipped line makes the verdict inconclusive where it
    could hide evidence.
    """
    history_path, rows_path = Path(history_path), Path(rows_path)
    for path in (history_path, rows_path):
        if not path.is_file():
            raise HistoryError(f"{path}: no such file")
    rows = _rows(rows_path)
    if _ends_with_newline(history_path):
        try:
            with open(history_path, "rb") as fh:
                return check_records(read_records(fh), rows, expected)
        except RecordError:
            pass
    skipped: list[int] = []
    verdict = check(read_history(history_path, skipped), rows, expected)
    if skipped:
        lines = ", ".join(map(str, skipped))
        verdict = verdict.missing_evidence(
            f"history torn: {len(skipped)} line{'s' if len(skipped) > 1 else ''} skipped (line {lines})",
            TORN_HIDES)
    return verdict


def check_run_dir(run_dir: str | os.PathLike[str],
                  expected: Expectations | Iterable[str] | None = None) -> Verdict:
    """Check a run folder (`history.jsonl`, `rows.jsonl`, optional `scenario.json`).

    Without `expected`, the scenario's expectations apply, else exactly-once.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunFolderError(f"{run_dir}: no such run folder (expected history.jsonl and rows.jsonl in it)")
    if expected is None:
        expected = Expectations.from_scenario(load_scenario(run_dir))
    folder = RunFolder(run_dir)
    return check_files(folder.history, folder.rows, expected)


def load_scenario(run_dir: Path) -> dict[str, Any] | None:
    """The run's resolved scenario, or None when the folder has none."""
    path = RunFolder(run_dir).scenario
    if not path.is_file():
        return None
    try:
        scenario = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise RunFolderError(f"{path}: not JSON ({exc})") from exc
    if not isinstance(scenario, dict):
        raise RunFolderError(f"{path}: a scenario must be a JSON object")
    return scenario


def _rows(path: Path) -> list[dict[str, Any]]:
    """All rows; parsed in one go when every line is JSON, else by `read_rows` to name the bad line."""
    try:
        with open(path, "rb") as fh:
            return [orjson.loads(line) for line in fh if not line.isspace()]
    except orjson.JSONDecodeError:
        return list(read_rows(path))


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        if fh.tell() == 0:
            return True
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"
