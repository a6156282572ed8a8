"""What the run commands print: a live stage line while a run works, then its verdict in a few lines.

A failing run always ends with its report path and the exact replay command, so the failure can be
reproduced from a copy of the terminal output alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console

from harness.checkers.verdict import Verdict
from harness.outcome import Outcome, observed
from harness.runfolder import RunFolder
from harness.runner import Progress, RunResult
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


MARKS = {"pass": "[green]PASS[/]", "fail": "[red]FAIL[/]", "inconclusive": "[yellow]INCONCLUSIVE[/]"}


def _headline(scenario: Scenario, verdict: Verdict, outcome: Outcome, where: str) -> None:
    """One line: the outcome and the counts; a run that expected nothing says what it observed instead,
    so a PASS never stands beside a violation it was not asked about."""
    if scenario.expectations.empty and outcome.passed:
        out.print(f"{scenario.name} {where}: {observed(verdict)}")
        return
    out.print(f"{MARKS[outcome.status]} {scenario.name} {where}: {counts_text(verdict.counts)}")
    held = [g for g in scenario.expectations.guarantees if verdict.guarantees.get(g) is True]
    if held:
        out.print(f"  holds: {', '.join(held)}")
    if any(verdict.reconnects.values()):
        out.print(f"  reconnects after a recoverable disconnect: {verdict.reconnects.get('recovered', 0)} "
                  f"recovered, {verdict.reconnects.get('not_recovered', 0)} not recovered")
    colour = "red" if outcome.status == "fail" else "yellow"
    for line in outcome.reasons:
        out.print(f"  [{colour}]unmet:[/] {line}")


def print_result(result: RunResult) -> None:
    s = result.scenario
    _headline(s, result.verdict, result.outcome, f"(seed {s.seed}) in {result.seconds:.2f}s")
    if not result.quiet.reached:
        out.print(f"  [yellow]quiet not reached after {result.quiet.waited:.1f}s[/] "
                  f"(not connected: {result.quiet.not_connected or 'none'}, "
                  f"pending: {result.quiet.pending or 'none'}"
                  f"{'; the server was still storing messages' if result.quiet.storing else ''})")
    out.print(f"  report: {RunFolder(result.run_dir).report}")
    if not result.passed:
        out.print(f"  replay: {result.replay_command}")


def print_check(run_dir: Path, scenario: Scenario, verdict: Verdict, outcome: Outcome) -> None:
    _headline(scenario, verdict, outcome, f"(re-checked {run_dir})")


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
