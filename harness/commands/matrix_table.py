"""The matrix's table on the terminal: one row per fault family, one column per tutorial step.

Nine families by five steps fit 80 columns only this way round, with the guarantees shortened (AMO, ALO,
EO, explained under the table) and one violation count a line, so that no word is ever cut. A wider
terminal gets the full names, the fault's description beside its name, and the counts on one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from harness.guarantees import FAMILIES, row_step
from harness.steps import PROMISES

SHORT = {"exactly-once": "EO", "at-least-once": "ALO", "at-most-once": "AMO", "none": "none"}
# From this width on the full names fit: 5 step columns of "at-least-once*!" beside a described fault.
WIDE = 120


class MatrixCell(Protocol):
    """What the table shows of a cell (`harness.commands.matrix.Cell`)."""

    profile: str
    family: str

    @property
    def observed(self) -> str: ...
    @property
    def keeps_promise(self) -> bool: ...
    @property
    def as_expected(self) -> bool: ...
    @property
    def inconclusive(self) -> bool: ...
    @property
    def finding(self) -> bool: ...
    @property
    def counts(self) -> str: ...


def matrix_table(cells: Sequence[MatrixCell], profiles: Sequence[str], families: Sequence[str],
                 width: int) -> Table:
    """The table for a terminal `width` columns wide."""
    wide = width >= WIDE

    def name(guarantee: str) -> str:
        return guarantee if wide else SHORT.get(guarantee, guarantee)

    by_key = {(c.profile, c.family): c for c in cells}
    headers = ["fault"]
    for profile in profiles:
        # A step's name breaks after its last hyphen in a narrow column (rich breaks lines only at spaces).
        head, hyphen, tail = profile.rpartition("-")
        label = f"{head}-\n{tail}" if hyphen and not wide else profile
        headers.append(f"{label}\n[{', '.join(name(g) for g in PROMISES[row_step(profile)])}]")
    rows: list[list[Text]] = []
    for family in families:
        row = [Text.assemble((family, "bold"), f"\n{FAMILIES[family].title}") if wide else Text(family)]
        for profile in profiles:
            cell = by_key[(profile, family)]
            mark = ("*" if cell.finding else "") + ("" if cell.as_expected else "?" if cell.inconclusive else "!")
            counts = cell.counts if wide else cell.counts.replace(", ", "\n")
            row.append(Text(f"{name(cell.observed)}{mark}\n{counts}",
                            style="green" if cell.keeps_promise else "red"))
        rows.append(row)
    # Two spaces between columns, or one when that keeps every count on one line in a narrow terminal.
    natural = sum(max(len(line) for text in column for line in str(text).splitlines())
                  for column in zip(headers, *rows))
    gap = 2 if wide or natural + 2 * len(profiles) <= width else 1
    legend = ("" if wide else "AMO at-most-once, ALO at-least-once, EO exactly-once; ")
    table = Table(title=escape("Observed guarantee per fault (row) and tutorial step (column) [its promise]"),
                  caption=f"{legend}green keeps the step's promise, red breaks it; "
                          "* a documented finding; ! not what the guarantee suite expects; ? inconclusive",
                  caption_justify="left", box=None, padding=(0, gap, 0, 0), pad_edge=False, show_edge=False,
                  header_style="bold", expand=False)
    table.add_column("fault", no_wrap=not wide)
    for header in headers[1:]:
        table.add_column(escape(header), min_width=max(map(len, header.splitlines())))
    for row in rows:
        table.add_row(*row)
    return table
