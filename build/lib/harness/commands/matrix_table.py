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

from harness.guarantees import FAMILIES
from harness.scenario import PROMISES

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
    def finding(self) -> bool: ...
    @property
    def counts(self) -> str: ...


def matrix_table(cells: Sequence[MatrixCell], profiles: Sequence[str], families: Sequence[str],
                 width: int) -> Table:
    """The table for a terminal `width` columns wide."""
    wide = width >= WIDE

    def name(guarantee: str) -> str:
        return guarantee if wide else SHORT.get(guarantee, guarantee)

    legend = ("" if wide else "AMO at-most-once, ALO at-least-once, EO exactly-once; ")
    table = Table(title=escape("Observed guarantee per fault (row) and tutorial step (column) [its promise]"),
                  caption=f"{legend}green keeps the step's promise, red breaks it; "
                          "* a documented finding; ! not what the guarantee suite expects",
                  caption_justify="left", box=None, padding=(0, 1), pad_edge=False, show_edge=False,
                  header_style="bold", expand=False)
    table.add_column("fault", no_wrap=not wide)
    for profile in profiles:
        # A step's name breaks after its last hyphen in a narrow column (rich breaks lines only at spaces).
        head, hyphen, tail = profile.rpartition("-")
        label = f"{head}-\n{tail}" if hyphen and not wide else profile
        header = f"{label}\n[{', '.join(name(g) for g in PROMISES[profile])}]"
        table.add_column(escape(header), min_width=max(map(len, header.splitlines())))
    by_key = {(c.profile, c.family): c for c in cells}
    for family in families:
        row: list[Text | str] = [Text.assemble((family, "bold"), f"\n{FAMILIES[family].title}") if wide
                                 else family]
        for profile in profiles:
            cell = by_key[(profile, family)]
            colour = "green" if cell.keeps_promise else "red"
            mark = ("*" if cell.finding else "") + ("" if cell.as_expected else "!")
            counts = cell.counts if wide else cell.counts.replace(", ", "\n")
            row.append(Text(f"{name(cell.observed)}{mark}\n{counts}", style=colour))
        table.add_row(*row)
    return table
