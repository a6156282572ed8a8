"""What every benchmark shares: repeated measurement, and one table of medians with min and max beside them.

A figure is a list of samples (one per repetition) with its unit and, when the project has one, its target.
The table shows the median as the figure and the min and max of the samples so the spread is visible: the
machine is shared, and a single number would hide how much it moved.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table

# Wide enough for the table when the output is a file or a pipe (rich would fold it to 80 columns).
console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)

COLUMNS = ("figure", "median", "min", "max", "unit", "runs", "target", "")
"""The table's columns; the last one says whether the median meets the target."""


@dataclass
class Figure:
    """One measured quantity. `at_most` / `at_least` is the target the median is held to, if any."""

    name: str
    samples: list[float]
    unit: str
    at_most: float | None = None
    at_least: float | None = None
    note: str = ""
    scale: float = 1.0
    """Samples are multiplied by this for display (seconds -> ms, bytes -> MB)."""

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def met(self) -> bool | None:
        if not self.samples:
            return None
        if self.at_most is not None:
            return self.median <= self.at_most
        if self.at_least is not None:
            return self.median >= self.at_least
        return None

    @property
    def target(self) -> str:
        if self.at_most is not None:
            return f"<= {_fmt(self.at_most * self.scale)}"
        if self.at_least is not None:
            return f">= {_fmt(self.at_least * self.scale)}"
        return ""


def ratio(name: str, numerator: Figure, denominator: Figure, *, at_most: float | None = None,
          at_least: float | None = None, note: str = "") -> Figure:
    """The ratio of two figures run for run (sample i over sample i), so the spread of the ratio is honest.

    Runs of one repetition were measured side by side, so pairing them cancels most of the machine's drift.
    """
    pairs = zip(numerator.samples, denominator.samples)
    return Figure(name, [a / b for a, b in pairs if b], "x", at_most=at_most, at_least=at_least, note=note)


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 10_000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def table(title: str, figures: Sequence[Figure]) -> Table:
    t = Table(title=title, title_justify="left")
    for col in COLUMNS:
        t.add_column(col, justify="left" if col in ("figure", "unit", "target", "") else "right")
    for f in figures:
        if not f.samples:
            t.add_row(f.name, "-", "-", "-", f.unit, "0", f.target, f.note or "not measured")
            continue
        status = {True: "[green]met[/]", False: "[red]MISSED[/]", None: ""}[f.met]
        if f.note:
            status = f"{status} {f.note}".strip()
        t.add_row(f.name, _fmt(f.median * f.scale), _fmt(min(f.samples) * f.scale),
                  _fmt(max(f.samples) * f.scale), f.unit, str(len(f.samples)), f.target, status)
    return t


printed: list[tuple[str, Figure]] = []
"""Every figure printed in this process, with its table's title: `sio-harness bench all` ends with a
summary of those that have a target."""


def print_table(title: str, figures: Sequence[Figure], caption: str = "") -> None:
    """The table, then `caption` (the machine line) unwrapped beneath it."""
    printed.extend((title, f) for f in figures)
    console.print(table(title, figures))
    if caption:
        console.print(caption)


def timed(repeat: int, fn: Callable[[], object]) -> list[float]:
    """Seconds taken by `fn`, once per repetition."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def machine() -> str:
    """One line naming the machine and how busy it was, printed with every table."""
    model = platform.processor() or platform.machine()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False, timeout=5).stdout
        model = next((line.split(":", 1)[1].strip() for line in out.splitlines()
                      if line.startswith("Model name")), model)
    except (OSError, subprocess.SubprocessError):
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (f"{stamp}; {os.cpu_count()} CPUs ({model}); Python {platform.python_version()}; "
            f"load average {load}")
