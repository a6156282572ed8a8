"""The guarantee suite's fixtures: run one cell of the expected matrix and assert its expectation.

Options come from the sio-harness pytest plugin: `--chaos-proxy` (embedded | toxiproxy | auto),
`--chaos-db` (sqlite | postgres | both), `--chaos-seed`, `--chaos-reports`. A cell whose fault is
frame-aware (a dropped ack, a dropped frame) always runs on the embedded proxy, because the real Toxiproxy
cannot parse Socket.IO frames; the test records that as the user property `proxy`. At the end of the
session `index.html` and `summary.md` are written over every run folder under `--chaos-reports`.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from harness.guarantees import EXPECTED, FAMILIES, cell_data
from harness.runner import RunResult, run_scenario
from harness.scenario import resolve

CELL_TIMEOUT = 90
"""Seconds a single cell may take before pytest-timeout fails it (a cell normally takes 2-5 s)."""


def needs_postgres() -> None:
    """Skip a PostgreSQL cell when no server is configured; under CI=true that is a failure instead."""
    if os.environ.get("SIO_HARNESS_POSTGRES_DSN"):
        return
    message = "SIO_HARNESS_POSTGRES_DSN is not set (a PostgreSQL server that allows CREATE DATABASE)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def _describe(result: RunResult) -> str:
    counts = {k: v for k, v in result.verdict.counts.items() if v}
    return (f"counts {counts or 'none'}\n  report: {result.run_dir / 'report.html'}\n"
            f"  replay: {result.replay_command}")


@pytest.fixture
def run_data(request: pytest.FixtureRequest, chaos_reports: Path) -> Callable[..., Awaitable[RunResult]]:
    """Run a scenario given as data with the `--chaos-*` options applied; returns the RunResult.

    `storage` pins the reference server's storage (the database-outage module runs both); `frames=True`
    keeps the embedded proxy whatever `--chaos-proxy` says.
    """
    config = request.config

    async def _run(data: dict[str, Any], *, storage: str, frames: bool = False) -> RunResult:
        data = {**data, "target": {**data.get("target", {}), "storage": storage}}
        backend = config.getoption("--chaos-proxy")
        data["proxy"] = "embedded" if frames else backend
        if frames and backend != "embedded":
            request.node.user_properties.append(("proxy", "embedded (frame-aware fault)"))
        scenario = resolve(data, seed=config.getoption("--chaos-seed"), source=data["name"])
        if scenario.target.storage == "postgres":
            needs_postgres()
        return await run_scenario(scenario, chaos_reports)

    return _run


@pytest.fixture
def run_cell(run_data: Callable[..., Awaitable[RunResult]],
             chaos_storage: str) -> Callable[..., Awaitable[RunResult]]:
    """`await run_cell(family, profile)`: run one cell of harness.guarantees and assert its expectation."""

    async def _run(family: str, profile: str, storage: str | None = None) -> RunResult:
        storage = storage or chaos_storage
        result = await run_data(cell_data(family, profile, storage=storage), storage=storage,
                                frames=FAMILIES[family].needs_frames(profile))
        expected = EXPECTED[(family, profile)]
        counts = result.verdict.counts
        problems = list(result.unmet) + [f"expected no {c}, found {counts[c]}" for c in expected.absent
                                         if counts[c]]
        assert not problems, (f"{profile} under {FAMILIES[family].title} ({storage}): "
                              f"{'; '.join(problems)}\n  tutorial: {expected.claim}\n  {_describe(result)}")
        return result

    return _run


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(CELL_TIMEOUT))


def pytest_sessionfinish(session: pytest.Session) -> None:
    if hasattr(session.config, "workerinput"):
        return  # an xdist worker: the controller writes the index once every worker is done
    reports = Path(session.config.getoption("--chaos-reports"))
    if reports.is_dir() and any(reports.iterdir()):
        from harness.report import write_suite_index

        write_suite_index(reports)
