"""The matrix's terminal table at 80 and 160 columns, on made-up cells (no runs)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rich.console import Console

from harness.commands.matrix_table import matrix_table
from harness.guarantees import FAMILIES
from harness.steps import STEPS as PROFILES

# The longest words a cell can hold: every category the checker counts, with two-digit counts.
HEAVY = "duplicated 12, out_of_order 3, redelivered 40, abandoned 7, unexpected 2"


@dataclass
class MadeUpCell:
    profile: str
    family: str
    observed: str = "at-most-once"
    keeps_promise: bool = True
    as_expected: bool = True
    inconclusive: bool = False
    finding: bool = False
    counts: str = "clean"


def made_up_cells() -> list[MadeUpCell]:
    cells = [MadeUpCell(p, f) for p in PROFILES for f in FAMILIES]
    by_key = {(c.profile, c.family): c for c in cells}
    by_key[("exactly-once", "lost_ack")].counts = HEAVY
    by_key[("exactly-once", "lost_ack")].keeps_promise = False
    by_key[("at-least-once", "page_refresh")].finding = True
    by_key[("baseline", "server_restart")].as_expected = False
    by_key[("baseline", "blackhole")].counts = "missed 1, abandoned 1"
    by_key[("csr", "bad_network")].observed = "exactly-once"
    by_key[("server-delivery", "disconnect")].observed = "none"
    return cells


def render(width: int, cells: list[MadeUpCell] | None = None) -> tuple[list[str], object]:
    console = Console(width=width, record=True)
    table = matrix_table(cells or made_up_cells(), list(PROFILES), list(FAMILIES), width)
    console.print(table)
    return [line.rstrip() for line in console.export_text().splitlines()], table


def words(lines: list[str]) -> set[str]:
    return {w for line in lines for w in re.split(r"[\s,]+", line) if w}


def test_at_80_columns_one_row_per_fault_and_no_word_is_cut():
    lines, _ = render(80)
    assert max(map(len, lines)) <= 80
    seen = words(lines)
    # Every fault heads its own row, whole; every violation category and count comes out whole.
    for family in FAMILIES:
        assert any(line.startswith(family + " ") for line in lines), family
    assert {"duplicated", "out_of_order", "redelivered", "abandoned", "unexpected", "12", "40"} <= seen
    # Short guarantee names, with their marks, and the legend that explains them.
    assert {"AMO", "EO", "AMO*", "AMO!", "none", "[ALO]", "[EO]"} <= seen
    row_heads = [line.split()[1:] for line in lines if line.split()[:1] and line.split()[0] in FAMILIES]
    assert len(row_heads) == len(FAMILIES)
    assert {name.rstrip("*!") for head in row_heads for name in head} <= {"AMO", "ALO", "EO", "none"}
    text = " ".join(" ".join(lines).split())
    assert "AMO at-most-once, ALO at-least-once, EO exactly-once" in text
    # A step name too long for its column breaks after its last hyphen, not inside a word.
    assert {"server-", "delivery", "at-least-", "exactly-", "once"} <= seen


def test_at_80_columns_a_full_demo_keeps_each_count_on_one_line():
    # The counts of a `make demo` on a loaded machine: two-digit counts in the three at-most-once columns.
    cells = [MadeUpCell(p, f, counts="clean" if p in ("at-least-once", "exactly-once") else "abandoned 10, missed 15")
             for p in PROFILES for f in FAMILIES]
    next(c for c in cells if c.profile == "at-least-once").counts = "duplicated 12"
    next(c for c in cells if c.profile == "exactly-once").counts = "abandoned 6"
    lines, _ = render(80, cells)
    assert max(map(len, lines)) <= 80
    text = "\n".join(lines)
    assert text.count("abandoned 10") == 3 * len(FAMILIES)
    assert text.count("missed 15") == 3 * len(FAMILIES)
    assert "duplicated 12" in text and "abandoned 6" in text


def test_at_160_columns_full_names_described_faults_and_counts_on_one_line():
    lines, _ = render(160)
    assert max(map(len, lines)) <= 160
    assert max(map(len, lines)) > 120, "a wide terminal's width is used"
    seen = words(lines)
    assert {"at-most-once", "at-most-once*", "exactly-once", "at-most-once!", "[at-least-once]"} <= seen
    assert "AMO" not in seen
    assert any("missed 1, abandoned 1" in line for line in lines)
    assert any("graceful server restart" in line for line in lines)
    assert "AMO at-most-once" not in " ".join(lines)


def test_the_colour_says_whether_the_promise_is_kept():
    _, table = render(80)
    columns = {c.header.split("\n")[0]: c for c in table.columns}
    lost_ack = list(FAMILIES).index("lost_ack")
    eo_cell = list(columns["exactly-"].cells)[lost_ack]
    baseline_cell = list(columns["baseline"].cells)[lost_ack]
    assert eo_cell.style == "red" and eo_cell.plain.startswith("AMO\nduplicated 12\n")
    assert baseline_cell.style == "green"
