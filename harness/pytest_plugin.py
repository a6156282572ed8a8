"""The sio-harness pytest plugin: `--chaos-*` options and fixtures for delivery scenarios.

Registered through the `pytest11` entry point. Nothing heavy is imported at collection time: the
runner, proxies and drivers are imported inside the fixtures that need them.

Two ways to write a test:

- whole scenarios: `result = await run_scenario("at-least-once-lost-ack")` then `assert result.passed`;
- by hand: `chat_server`, `proxy`, `clients` and `nemesis` give the pieces of one topology for a test that
  drives them itself. Each fixture returns what its name says:

  | fixture | returns |
  |---|---|
  | `chat_server` | the server under test (`ServerHandle`) |
  | `proxy` | its client links (`Proxies`: the Toxiproxy API client, each slot's proxy name and address) |
  | `clients` | the connected client drivers, `{"c1": driver, ...}` |
  | `nemesis` | a `Nemesis` over them |
  | `chaos_topology` | the `Topology` that owns all of the above (start and stop by PID) |
  | `chaos_scenario` | the `Scenario` it follows |
  | `run_scenario` | a coroutine function running a whole scenario to a `RunResult` |

Configure the hand-built topology with `@pytest.mark.chaos(profile="csr", clients=2, ...)`: any top-level
scenario field (`target`, `clients`, `workload`, `proxy`) plus the shortcuts `profile`, `storage`,
`mutant` and `clients=<count>`. A failing test prints each run's report path and the exact replay command.
Under pytest-xdist every run has its own run id, folder and ephemeral ports.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness.runfolder import RunFolder

if TYPE_CHECKING:
    from harness.clients.base import ClientDriver
    from harness.nemesis import Nemesis
    from harness.proxy.control import ToxiproxyClient
    from harness.runner import RunResult
    from harness.scenario import Scenario
    from harness.target import ServerHandle
    from harness.topology import Topology

_RUNS = pytest.StashKey[list["RunResult"]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chaos", "sio-harness delivery scenarios")
    group.addoption("--chaos-seed", type=int, default=None,
                    help="seed for fault schedules and random toxics (default: each scenario's own)")
    group.addoption("--chaos-proxy", choices=["embedded", "toxiproxy", "auto"], default="auto",
                    help="fault-injecting proxy backend; auto prefers the real Toxiproxy when found")
    group.addoption("--chaos-db", choices=["sqlite", "postgres", "both"], default="sqlite",
                    help="storage of the reference server (postgres needs SIO_HARNESS_POSTGRES_DSN)")
    group.addoption("--chaos-driver", choices=["python", "node", "browser"], default=None,
                    help="client driver of every scenario (default: each scenario's own, python); browser "
                         "plays the tutorial's page in Chromium")
    group.addoption("--chaos-reports", default=os.environ.get("SIO_HARNESS_REPORTS", "reports"),
                    help="folder where run reports are written")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chaos(**fields): scenario fields for the chat_server/proxy/clients/"
                                       "nemesis fixtures, e.g. chaos(profile='csr', clients=2)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "chaos_storage" in metafunc.fixturenames:
        choice = metafunc.config.getoption("--chaos-db")
        storages = ["sqlite", "postgres"] if choice == "both" else [choice]
        metafunc.parametrize("chaos_storage", storages, indirect=True, ids=[f"db={s}" for s in storages])


@pytest.fixture
def chaos_storage(request: pytest.FixtureRequest) -> str:
    """The reference server's storage for this test: `--chaos-db` (a test runs once per storage with `both`)."""
    return getattr(request, "param", request.config.getoption("--chaos-db"))


@pytest.fixture
def chaos_reports(request: pytest.FixtureRequest) -> Path:
    """The folder run reports go to (`--chaos-reports`)."""
    return Path(request.config.getoption("--chaos-reports"))


def _overrides(config: pytest.Config, storage: str) -> dict[str, Any]:
    return {"seed": config.getoption("--chaos-seed"), "proxy": config.getoption("--chaos-proxy"),
            "storage": storage, "driver": config.getoption("--chaos-driver")}


def _apply(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    data = dict(data)
    if overrides.get("proxy") and overrides["proxy"] != "auto":
        data["proxy"] = overrides["proxy"]
    if overrides.get("driver"):
        data["clients"] = {**data.get("clients", {}), "driver": overrides["driver"]}
    target = dict(data.get("target", {}))
    if target.get("kind", "reference") == "reference" and overrides.get("storage"):
        target["storage"] = overrides["storage"]
        data["target"] = target
    return data


@pytest.fixture
def run_scenario(request: pytest.FixtureRequest, chaos_storage: str,
                 chaos_reports: Path) -> Callable[..., Awaitable[RunResult]]:
    """Run a whole scenario: `await run_scenario(file | bundled name | dict, seed=None) -> RunResult`.

    `--chaos-seed`, `--chaos-proxy` and `--chaos-db` override the scenario's own values. The run
    folder goes under `--chaos-reports`; if the test then fails, its report path and the replay command
    are printed with the failure.
    """
    from harness.runner import run_scenario as run
    from harness.scenario import load_raw, resolve

    overrides = _overrides(request.config, chaos_storage)
    runs = request.node.stash.setdefault(_RUNS, [])

    async def _run(scenario: str | Path | dict[str, Any], seed: int | None = None) -> RunResult:
        if isinstance(scenario, dict):
            data, source = scenario, "scenario"
        else:
            data, source = load_raw(scenario)
        resolved = resolve(_apply(data, overrides), seed=seed if seed is not None else overrides["seed"],
                           source=source)
        result = await run(resolved, chaos_reports)
        runs.append(result)
        return result

    return _run


@pytest.fixture
def chaos_scenario(request: pytest.FixtureRequest, chaos_storage: str) -> Scenario:
    """The scenario the hand-built topology follows: the test's `chaos` marker plus the `--chaos-*` options."""
    from harness.scenario import resolve

    marker = request.node.get_closest_marker("chaos")
    fields = dict(marker.kwargs) if marker else {}
    data: dict[str, Any] = {"name": "fixture"}
    target = dict(fields.pop("target", {}))
    for key in ("profile", "storage", "mutant"):
        if key in fields:
            target[key] = fields.pop(key)
    if target:
        data["target"] = target
    if isinstance(fields.get("clients"), int):
        fields["clients"] = {"count": fields["clients"]}
    data.update(fields)
    overrides = _overrides(request.config, chaos_storage)
    if "storage" in target:
        overrides["storage"] = None
    return resolve(_apply(data, overrides), seed=overrides["seed"], source=f"chaos marker of {request.node.name}")


@pytest.fixture
async def chaos_topology(chaos_scenario: Scenario, chaos_reports: Path) -> AsyncIterator[Topology]:
    """An empty topology for this test, torn down (every process stopped by PID) after it, pass or fail."""
    from harness.runner import RunHistory, new_run_id
    from harness.topology import Topology

    run_dir = chaos_reports / new_run_id(f"{chaos_scenario.name}-{secrets.token_hex(2)}")
    run_dir.mkdir(parents=True)
    history = RunHistory(RunFolder(run_dir).history)
    topo = Topology(chaos_scenario, run_dir, history)
    try:
        await topo.start_backend()
        yield topo
    finally:
        try:
            await topo.close()
        finally:
            history.close()


@pytest.fixture
async def chat_server(chaos_topology: Topology) -> ServerHandle:
    """The server under test, running on a free port: `.url`, `.port`, `.db_url`, `.crash()`, `.stop()`, `.start()`.

    The reference server by default (profile, storage and mutant from the `chaos` marker and
    `--chaos-db`); its history events (start, crash, stop) go to the test's run folder.
    """
    from harness.target import ServerHandle as OneServer

    server = await chaos_topology.start_server()
    if not isinstance(server, OneServer):
        raise pytest.UsageError("chat_server is one server; a target with several nodes runs through run_scenario")
    return server


@dataclass(frozen=True)
class Proxies:
    """The client links of a hand-built topology, what the `proxy` fixture returns."""

    kind: str
    """The backend: `embedded` or `toxiproxy`."""
    control: ToxiproxyClient
    """The Toxiproxy API client of the backend (toxics added by hand go through it)."""
    links: dict[str, str]
    """Client slot (`c1`, ...) -> the name of its proxy."""
    listen: dict[str, str]
    """Client slot -> the `host:port` the client connects to."""


@pytest.fixture
async def proxy(chat_server: ServerHandle, chaos_topology: Topology) -> Proxies:
    """One proxy per client in front of `chat_server`: `.control` is the Toxiproxy API client,
    `.links[slot]` the proxy name and `.listen[slot]` the address a client connects to."""
    await chaos_topology.start_links()
    backend = chaos_topology.backend
    return Proxies(backend.kind, backend.control, chaos_topology.links, chaos_topology.listen)


@pytest.fixture
async def clients(proxy: Proxies, chaos_topology: Topology) -> dict[str, ClientDriver]:
    """The scenario's clients (`c1`, `c2`, ...), connected through their proxies, closed after the test."""
    return await chaos_topology.start_clients()


@pytest.fixture
async def nemesis(clients: dict[str, ClientDriver], chaos_topology: Topology) -> AsyncIterator[Nemesis]:
    """A nemesis over the topology: `active = await nemesis.inject("partition", target="c1")`, then
    `await nemesis.heal(active)`. Every fault still active at the end of the test is healed."""
    from harness.nemesis import Nemesis

    nem = Nemesis(chaos_topology.nemesis_context(), [])
    try:
        yield nem
    finally:
        await nem.heal_all()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    runs = item.stash.get(_RUNS, [])
    if runs and report.failed:
        lines = []
        for result in runs:
            verdict = "passed" if result.passed else "FAILED: " + "; ".join(result.outcome.reasons)
            lines += [f"{result.scenario.name} (seed {result.scenario.seed}) {verdict}",
                      f"  report: {RunFolder(result.run_dir).report}",
                      f"  replay: {result.replay_command}"]
        report.sections.append(("sio-harness runs", "\n".join(lines)))
    return report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    failed = terminalreporter.stats.get("failed", [])
    lines = [text for report in failed for name, text in report.sections if name == "sio-harness runs"]
    if lines:
        terminalreporter.section("sio-harness: replay failing runs")
        for text in lines:
            terminalreporter.line(text)
