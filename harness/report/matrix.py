"""The matrix page, `<reports>/matrix-<stamp>/index.html`: tutorial steps (rows) against fault families
(columns), each cell linking to its run's report.

The command (`harness/commands/matrix.py`) decides what each cell shows; this module only lays it out
(`templates/matrix.html`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.report.templating import render


@dataclass(frozen=True)
class MatrixCell:
    observed: str
    """The strongest guarantee the run showed."""
    counts: str
    """The violations counted, as one line."""
    keeps_promise: bool
    link: str
    """The cell's run report, relative to the matrix folder."""
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class MatrixRow:
    profile: str
    promise: tuple[str, ...]
    cells: tuple[MatrixCell, ...]


def write_matrix_page(folder: Path, columns: list[str], rows: list[MatrixRow]) -> Path:
    """Write `folder/index.html` (columns: the fault families' titles) and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    page = folder / "index.html"
    page.write_text(render("matrix.html", columns=columns, rows=rows), encoding="utf-8")
    return page
