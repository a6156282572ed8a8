"""The flake campaign: the guarantee suite run N times under a CPU load, failures counted per cell.

Each run is `python -m pytest <suite>` in its own process, with its JUnit XML and run folders under
`<reports>/run-<i>/`; K processes spinning on the CPU run beside the whole campaign, started before the
first run and stopped by PID after the last. A cell is flaky when it fails in some runs and passes in
others; the table lists every cell that did not pass every time (docs/reliability.md).
"""

from __future__ import annotations

import contextlib
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.processes import ManagedProcess

BURN = "while True: pass"
OUTCOMES = ("passed", "skipped", "failed", "error")
"""In order of severity: when pytest reports a case twice (a failure, then an error at teardown), the
worse one counts."""


@dataclass
class SuiteRun:
    """One pytest run of the suite: its exit code, seconds, and each cell's outcome."""

    index: int
    exit_code: int
    seconds: float
    outcomes: dict[str, str]
    """Cell id (`file::test[params]`) -> passed | failed | error | skipped."""
    log: Path


@dataclass
class Campaign:
    runs: list[SuiteRun] = field(default_factory=list)

    def failures(self) -> dict[str, list[int]]:
        """Cell -> the runs (1-based) in which it failed or errored; cells that always passed are left out."""
        bad: dict[str, list[int]] = {}
        for run in self.runs:
            for cell, outcome in run.outcomes.items():
                if outcome in ("failed", "error"):
                    bad.setdefault(cell, []).append(run.index)
        return bad

    @property
    def broken_runs(self) -> list[SuiteRun]:
        """Runs that failed without a failing cell to show for it (a collection error, a crash)."""
        return [r for r in self.runs if r.exit_code not in (0, 1, 5) or
                (r.exit_code == 1 and not any(o in ("failed", "error") for o in r.outcomes.values()))]


def read_junit(path: Path) -> dict[str, str]:
    """Each test case of a pytest JUnit XML file as `file::name` -> outcome; empty if the file is absent."""
    if not path.is_file():
        return {}
    outcomes: dict[str, str] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        module = case.get("classname", "")
        cell = f"{module.replace('.', '/')}.py::{case.get('name', '')}"
        kinds = {child.tag for child in case}
        outcome = "failed" if "failure" in kinds else "error" if "error" in kinds else \
            "skipped" if "skipped" in kinds else "passed"
        if cell not in outcomes or OUTCOMES.index(outcome) > OUTCOMES.index(outcomes[cell]):
            outcomes[cell] = outcome
    return outcomes


@contextlib.asynccontextmanager
async def cpu_load(processes: int) -> AsyncIterator[list[int]]:
    """`processes` Python processes spinning on the CPU for the duration; yields their PIDs."""
    burners = [ManagedProcess(f"cpu burner {i + 1}", [sys.executable, "-c", BURN]) for i in range(processes)]
    try:
        for burner in burners:
            await burner.start()
        yield [b.pid for b in burners if b.pid is not None]
    finally:
        for burner in burners:
            await burner.kill()


async def run_suite(index: int, suite: str, out: Path, pytest_args: Sequence[str]) -> SuiteRun:
    """Run the suite once in its own pytest process, its output in `out/pytest.log`."""
    out.mkdir(parents=True, exist_ok=True)
    junit = out / "junit.xml"
    argv = [sys.executable, "-m", "pytest", suite, "-q", "-p", "no:cacheprovider", f"--junitxml={junit}",
            f"--chaos-reports={out / 'reports'}", *pytest_args]
    proc = ManagedProcess(f"suite run {index}", argv, log_path=out / "pytest.log")
    started = time.monotonic()
    await proc.start()
    try:
        assert proc.proc is not None
        code = await proc.proc.wait()
    finally:
        await proc.kill()
    return SuiteRun(index, code, time.monotonic() - started, read_junit(junit), out / "pytest.log")


async def campaign(suite: str, runs: int, load: int, reports: Path, pytest_args: Sequence[str] = (),
                   on_run: Callable[[SuiteRun], None] | None = None) -> Campaign:
    """`runs` consecutive runs of the suite with `load` CPU burners beside them."""
    result = Campaign()
    async with cpu_load(load):
        for i in range(1, runs + 1):
            run = await run_suite(i, suite, reports / f"run-{i}", pytest_args)
            result.runs.append(run)
            if on_run is not None:
                on_run(run)
    return result


def summary_line(run: SuiteRun) -> str:
    counts = {o: sum(1 for v in run.outcomes.values() if v == o) for o in OUTCOMES}
    shown = ", ".join(f"{n} {o}" for o, n in counts.items() if n) or "no test cases"
    return f"run {run.index}: {shown} ({run.seconds:.0f} s, exit {run.exit_code})"


def failure_table(result: Campaign) -> str:
    """Failures per cell as a text table, worst first, with the runs they failed in."""
    total = len(result.runs)
    bad = result.failures()
    if not bad:
        cells = len({c for r in result.runs for c in r.outcomes})
        return f"0 failures: {cells} cells x {total} runs"
    width = max(len(c) for c in bad)
    lines = [f"{'cell':<{width}}  failed  runs", f"{'-' * width}  ------  ----"]
    for cell, failed in sorted(bad.items(), key=lambda item: (-len(item[1]), item[0])):
        lines.append(f"{cell:<{width}}  {len(failed):>2}/{total:<3}  {', '.join(map(str, failed))}")
    return "\n".join(lines)
