"""The guarantee suite's fixtures: run one cell of the expected matrix and assert its expectation.

Options come from the sio-harness pytest plugin: `--chaos-proxy` (embedded | toxiproxy | auto),
`--chaos-db` (sqlite | postgres | both), `--chaos-driver` (python | node | browser), `--chaos-seed`,
`--chaos-reports`. A cell whose fault is
frame-aware (a dropped ack, a dropped frame) always runs on the embedded proxy, because the real Toxiproxy
cannot parse Socket.IO frames; the test records that as the user property `proxy`. At the end of the
session `index.html` and `summary.md` are written over every run folder under `--chaos-reports`, and
`guarantees.md` (the expected matrix with the cells this session observed) is written and appended to
`summary.md`. `SIO_HARNESS_TARGET` points the cells at the user's own server (`external_target`).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from harness.guarantees import EXPECTED, FAMILIES, cell_data, matrix_markdown
from harness.runfolder import RunFolder
from harness.runner import RunResult, run_scenario
from harness.scenario import Scenario, resolve

_STARTED = pytest.StashKey[float]()

CELL_TIMEOUT = 90
"""Seconds a single cell may take before pytest-timeout fails it (a cell normally takes 2-5 s)."""


def external_target() -> tuple[dict[str, Any], str] | None:
    """The user's own server, when `SIO_HARNESS_TARGET` names a JSON file holding a scenario `target`
    object of kind `external`; `SIO_HARNESS_TARGET_PROFILE` says which tutorial step it claims to
    implement (default exactly-once), and only that column of the matrix runs against it."""
    path = os.environ.get("SIO_HARNESS_TARGET")
    if not path:
        return None
    from harness.errors import ScenarioError
    from harness.steps import STEPS

    try:
        target = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise pytest.UsageError(f"SIO_HARNESS_TARGET={path}: cannot read a JSON target: {exc}") from None
    profile = os.environ.get("SIO_HARNESS_TARGET_PROFILE", "exactly-once")
    if profile not in STEPS:
        raise pytest.UsageError(f"SIO_HARNESS_TARGET_PROFILE={profile}: choose one of {', '.join(STEPS)}")
    try:
        resolve({"name": "external-target-check", "target": target}, source=f"SIO_HARNESS_TARGET={path}")
    except ScenarioError as exc:
        raise pytest.UsageError(str(exc)) from None
    return target, profile


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
    return (f"counts {counts or 'none'}\n  report: {RunFolder(result.run_dir).report}\n"
            f"  replay: {result.replay_command}")


def suite_scenario(data: dict[str, Any], *, storage: str, proxy: str, frames: bool,
                   seed: int | None) -> Scenario:
    """The scenario the suite runs for `data` under its options (the storage pinned, the proxy of
    `--chaos-proxy` unless the faults need frames, `--chaos-seed`); its expectations are the cell's own."""
    if data.get("target", {}).get("kind", "reference") == "reference":
        data = {**data, "target": {**data.get("target", {}), "storage": storage}}
    data = {**data, "proxy": "embedded" if frames else proxy}
    return resolve(data, seed=seed, source=data["name"])


@pytest.fixture
def storage_ready(chaos_storage: str) -> str:
    """The `--chaos-db` storage, once it is known to be usable (PostgreSQL needs its DSN)."""
    if chaos_storage == "postgres":
        needs_postgres()
    return chaos_storage


@pytest.fixture
def run_data(request: pytest.FixtureRequest, chaos_reports: Path) -> Callable[..., Awaitable[RunResult]]:
    """Run a scenario given as data with the `--chaos-*` options applied; returns the RunResult.

    `storage` pins the reference server's storage (the database-outage module runs both); `frames=True`
    keeps the embedded proxy whatever `--chaos-proxy` says.
    """
    config = request.config

    async def _run(data: dict[str, Any], *, storage: str, frames: bool = False) -> RunResult:
        backend = config.getoption("--chaos-proxy")
        driver = config.getoption("--chaos-driver")
        # A page only the browser plays (the durable row) keeps its driver whatever the option says.
        if driver and data.get("clients", {}).get("page", "tutorial") == "tutorial":
            data = {**data, "clients": {**data.get("clients", {}), "driver": driver}}
        if frames and backend != "embedded":
            request.node.user_properties.append(("proxy", "embedded (frame-aware fault)"))
        scenario = suite_scenario(data, storage=storage, proxy=backend, frames=frames,
                                  seed=config.getoption("--chaos-seed"))
        if scenario.target.storage == "postgres":
            needs_postgres()
        return await run_scenario(scenario, chaos_reports)

    return _run


@pytest.fixture
def run_cell(run_data: Callable[..., Awaitable[RunResult]], chaos_storage: str,
             request: pytest.FixtureRequest) -> Callable[..., Awaitable[RunResult]]:
    """`await run_cell(family, profile)`: run one cell of harness.guarantees and assert its expectation.

    `storage` pins the storage whatever `--chaos-db` says (the database-outage cells run on both); mark
    such a test `@pytest.mark.storage(name)` so that `--chaos-db both` collects it once.
    """
    external = external_target()

    async def _run(family: str, profile: str, storage: str | None = None) -> RunResult:
        storage = storage or chaos_storage
        data = cell_data(family, profile, storage=storage)
        if external is not None:
            target, claimed = external
            if profile != claimed:
                pytest.skip(f"the external target claims the {claimed} step; this cell is {profile}'s")
            if storage != "sqlite":
                pytest.skip("an external target brings its own storage (read through target.sqlite_path)")
            if FAMILIES[family].multinode:
                pytest.skip("a multi-node cell runs several reference-server nodes (docs/multinode.md)")
            data["target"] = target
        result = await run_data(data, storage=storage, frames=FAMILIES[family].needs_frames(profile))
        expected = EXPECTED[(family, profile)]
        # The run's outcome is harness.outcome's, over the cell's own expectations (absent included),
        # exactly as `sio-harness matrix` decides it; an inconclusive cell fails with its reason.
        outcome = result.outcome
        assert outcome.passed, (f"{profile} under {FAMILIES[family].title} ({storage}): {outcome.status}: "
                                f"{'; '.join(outcome.reasons)}\n  tutorial: {expected.claim}\n  {_describe(result)}")
        return result

    return _run


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "storage(name): a cell pinned to one storage; under --chaos-db both "
                                       "it is collected once, with that storage")
    config.addinivalue_line("markers", "multinode: several server nodes over Redis (docs/multinode.md)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    both = config.getoption("--chaos-db") == "both"
    kept: list[pytest.Item] = []
    other_storage: list[pytest.Item] = []
    for item in items:
        # The hook sees the whole session's items (tests/ too, under `make test`); only ours get the limit.
        if item.path.is_relative_to(here) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(CELL_TIMEOUT))
        pinned = item.get_closest_marker("storage")
        variant = item.callspec.params.get("chaos_storage") if hasattr(item, "callspec") else None
        # Deselected, not skipped: under CI=true a skip must mean a missing backend, and this is not one.
        (other_storage if both and pinned and variant and pinned.args[0] != variant else kept).append(item)
    if other_storage:
        config.hook.pytest_deselected(items=other_storage)
        items[:] = kept


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_STARTED] = time.time()


def pytest_sessionfinish(session: pytest.Session) -> None:
    if hasattr(session.config, "workerinput"):
        return  # an xdist worker: the controller writes the index once every worker is done
    reports = Path(session.config.getoption("--chaos-reports"))
    if not (reports.is_dir() and any(reports.iterdir())):
        return
    from harness.report import write_suite_index

    write_suite_index(reports)
    observed = _observed_cells(reports, session.config.stash.get(_STARTED, 0.0))
    if observed:
        table = "## Expected matrix, this session\n\n" + matrix_markdown(observed)
        (reports / "guarantees.md").write_text(table, encoding="utf-8")
        with (reports / "summary.md").open("a", encoding="utf-8") as summary:
            summary.write("\n" + table)


def _observed_cells(reports: Path, since: float) -> dict[tuple[str, str], tuple[bool, dict[str, int]]]:
    """Cells run in this session (their run folders are newer than its start), read from the folders,
    which also works when xdist workers ran them."""
    from harness.checkers.verdict import Verdict
    from harness.outcome import saved_outcome

    names = {f"cell-{family}-{profile}": (family, profile) for family, profile in EXPECTED}
    observed = {}
    for folder in (RunFolder(p) for p in sorted(reports.iterdir())):
        if not folder.verdict.is_file() or folder.verdict.stat().st_mtime < since:
            continue
        scenario = json.loads(folder.scenario.read_text())
        key = names.get(scenario.get("name", ""))
        if key is None:
            continue
        verdict = Verdict.from_json(folder.verdict.read_bytes())
        counts = {c: n for c, n in verdict.counts.items() if n}
        observed[key] = (saved_outcome(verdict, folder.read_run()).passed, counts)
    return observed
