"""A run folder, `reports/<run-id>/`: the one place that spells the names of the files in it.

The runner writes it; checkers, reports, `replay` and `check` read it. Nothing else names these files, so
a new file (or a renamed one) is one line here (docs/reports.md lists what each file holds).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson


class RunFolder:
    """The files of one run: `scenario.json`, `history.jsonl`, `rows.jsonl`, `verdict.json`, `run.json`
    (timings, quiet, untriggered faults and the run's outcome), `report.html`, `junit.xml`,
    `libraries.log` and, for the browser driver, `browser-trace-cN.zip`."""

    SCENARIO = "scenario.json"
    HISTORY = "history.jsonl"
    ROWS = "rows.jsonl"
    VERDICT = "verdict.json"
    RUN = "run.json"
    REPORT = "report.html"
    JUNIT = "junit.xml"
    LIBRARIES = "libraries.log"
    BROWSER_TRACE = "browser-trace-{slot}.zip"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def scenario(self) -> Path:
        return self.path / self.SCENARIO

    @property
    def history(self) -> Path:
        return self.path / self.HISTORY

    @property
    def rows(self) -> Path:
        return self.path / self.ROWS

    @property
    def verdict(self) -> Path:
        return self.path / self.VERDICT

    @property
    def run(self) -> Path:
        return self.path / self.RUN

    @property
    def report(self) -> Path:
        return self.path / self.REPORT

    @property
    def junit(self) -> Path:
        return self.path / self.JUNIT

    @property
    def libraries(self) -> Path:
        """Warnings of python-socketio / python-engineio during the run, kept off the terminal."""
        return self.path / self.LIBRARIES

    def browser_trace(self, slot: str) -> Path:
        """The Playwright trace of a `browser` driver slot's page (docs/clients.md)."""
        return self.path / self.BROWSER_TRACE.format(slot=slot)

    def browser_traces(self) -> list[Path]:
        return sorted(self.path.glob(self.BROWSER_TRACE.format(slot="*")))

    def write_run(self, meta: dict[str, Any]) -> None:
        self.run.write_bytes(orjson.dumps(meta, option=orjson.OPT_INDENT_2))

    def read_run(self) -> dict[str, Any] | None:
        """`run.json` as a dict, or None when the folder has none (a hand-made folder) or it is unreadable."""
        try:
            data = orjson.loads(self.run.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return None
        return data if isinstance(data, dict) else None
