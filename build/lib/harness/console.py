"""What the run commands print: a live stage line while a run works, then its verdict in a few lines.

A failing run always ends with its report path and the exact replay command, so the failure can be
reproduced from a copy of the terminal output alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.runner import Progress, RunResult, verdict_counts
from harness.scenario import Scenario

# soft_wrap: a report path or replay command is never broken across lines, so it can be copied.
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


@contextlib.contextmanager
def stages(title: str) -> Iterator[Progress]:
    """A spinner naming the current stage of a run (on stderr, and only on a terminal)."""
    if not err.is_terminal:
        yield lambda stage: None
        return
    with err.status(f"{title}: starting") as status:
        yield lambda stage: status.update(f"{title}: {stage}")


def counts_text(counts: dict[str, int]) -> str:
    """Violations found, e.g. `duplicated 1, missed 3`; `recovered` is not one (unacked, stored once)."""
    found = [f"{k} {v}" for k, v in counts.items() if v and k != "recovered"]
    text = ", ".join(found) if found else "no violation"
    if counts.get("recovered"):
        text += f" ({counts['recovered']} unacknowledged but stored once)"
    return text


def print_result(result: RunResult) -> None:
    s = result.scenario
    mark = "[green]PASS[/]" if result.passed else "[red]FAIL[/]"
    out.print(f"{mark} {s.name} (seed {s.seed}) in {result.seconds:.2f}s: "
              f"{counts_text(verdict_counts(result.verdict))}")
    _print_expectations(s, result.unmet)
    if not result.quiet.reached:
        out.print(f"  [yellow]quiet not reached after {result.quiet.waited:.1f}s[/]")
    out.print(f"  report: {result.run_dir / 'report.html'}")
    if not result.passed:
        out.print(f"  replay: {result.replay_command}")


def print_check(run_dir: Path, scenario: Scenario, verdict: Any, unmet: list[str]) -> None:
    mark = "[green]PASS[/]" if not unmet else "[red]FAIL[/]"
    out.print(f"{mark} {scenario.name} (re-checked {run_dir}): {counts_text(verdict_counts(verdict))}")
    _print_expectations(scenario, unmet)


def _print_expectations(scenario: Scenario, unmet: list[str]) -> None:
    held = [g for g in scenario.expectations.guarantees if not any(u.startswith(g + " ") for u in unmet)]
    if held:
        out.print(f"  holds: {', '.join(held)}")
    for line in unmet:
        out.print(f"  [red]unmet:[/] {line}")


def compare_counts(saved: dict[str, int] | None, now: dict[str, int]) -> bool | None:
    """Print whether a replay reproduced the saved verdict; None when there was none to compare."""
    if saved is None:
        return None
    keys = sorted(set(saved) | set(now))
    diff = [f"{k}: {saved.get(k, 0)} -> {now.get(k, 0)}" for k in keys if saved.get(k, 0) != now.get(k, 0)]
    if diff:
        out.print(f"  [yellow]verdict differs from the saved run:[/] {'; '.join(diff)}")
        return False
    out.print("  same verdict as the saved run")
    return True
