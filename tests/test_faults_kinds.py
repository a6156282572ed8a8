"""The fault registry is complete for every kind, and each family acts through the context as documented.

Every registered kind must appear in the schema's enum, draw a valid fault from its strategy, shade a
timeline lane, resolve with its defaults and be described in docs/faults.md, so a kind added to
`harness.faults` cannot be half-registered.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from faults_support import FakeDriver, FakeProxies, FakeServer
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import ScenarioError
from harness.faults import KINDS, kind
from harness.faults.base import Fault, FaultKind, Heal
from harness.report import timeline
from harness.scenario import resolve, schema, validate

ROOT = Path(__file__).resolve().parent.parent
NAMES = list(KINDS)
DEFAULT_TARGET = {"client": "c1", "node": "n1"}
"""The target a kind resolves to when the scenario names none (node kinds: the first node)."""


def _scenario(name: str, **fault: Any) -> dict[str, Any]:
    """A one-fault scenario; node and Redis kinds need a target with several nodes, browser kinds the browser."""
    data: dict[str, Any] = {"name": "t", "seed": 1, "faults": [{"kind": name, **fault}]}
    if kind(name).acts_on in ("node", "redis"):
        data["target"] = {"kind": "reference", "nodes": 2}
    if kind(name).drivers:
        data["clients"] = {"driver": kind(name).drivers[0]}
    return data


def test_the_schema_enum_is_the_registry() -> None:
    assert schema()["$defs"]["fault"]["properties"]["kind"]["enum"] == NAMES
    with pytest.raises(ScenarioError, match="faults.0.kind"):
        validate({"name": "t", "faults": [{"kind": "meteor"}]})


@pytest.mark.parametrize("name", NAMES)
def test_every_kind_resolves_with_its_defaults(name: str) -> None:
    k = kind(name)
    (fault,) = resolve(_scenario(name)).faults
    assert fault.target == DEFAULT_TARGET.get(k.acts_on, k.acts_on)
    assert fault.duration == k.duration
    assert type(k).start is not FaultKind.start, f"{name} cannot be started"


@pytest.mark.parametrize("name", NAMES)
def test_every_kind_has_a_timeline_lane(name: str) -> None:
    lanes = ["c1", "c2", timeline.SERVER, timeline.DATABASE, timeline.PROXY]
    expected = {"client": ["c1"], "server": [timeline.SERVER], "database": [timeline.DATABASE]}
    target = DEFAULT_TARGET.get(kind(name).acts_on, kind(name).acts_on)
    assert timeline._fault_lanes(name, target, lanes) == expected[kind(name).lane]


@pytest.mark.parametrize("name", NAMES)
def test_every_kind_is_documented(name: str) -> None:
    assert f"`{name}`" in (ROOT / "docs" / "faults.md").read_text()
    assert f"`{name}`" in (ROOT / "docs" / "scenarios.md").read_text()


@settings(max_examples=len(NAMES) * 4, deadline=None)
@given(data=st.data(), name=st.sampled_from(NAMES))
def test_every_kind_strategy_draws_a_valid_fault(data: st.DataObject, name: str) -> None:
    drawn = data.draw(kind(name).strategy(1.0))
    assert set(drawn) <= {"duration", "params"}
    scenario = _scenario(name, **drawn)
    validate(scenario)
    (fault,) = resolve(scenario).faults
    assert fault.duration is None or fault.duration <= 1.0


class Context:
    def __init__(self, storage: str = "sqlite", frame_toxics: bool = True, lock: Any = None,
                 db_link: str | None = None) -> None:
        self.proxies = FakeProxies()
        self.links = {"c1": "p-c1", "c2": "p-c2"}
        self.drivers = {s: FakeDriver(s) for s in self.links}
        self.server = FakeServer()
        self.storage = storage
        self.sqlite_path: Path | None = Path("chat.db")
        self.db_link = db_link
        self.frame_toxics = frame_toxics
        self.lock_sqlite = lock


def fault(name: str, target: str = "c1", **params: Any) -> Fault:
    return Fault(kind=name, target=target, trigger={"at": 0}, duration=None, params=params)


async def started(ctx: Context, f: Fault, index: int = 0) -> Heal:
    heal = Heal(f"{f.kind}-{index}")
    await kind(f.kind).start(ctx, f, heal)
    return heal


async def test_a_toxic_kind_adds_its_defaults_on_both_directions_and_heal_removes_them() -> None:
    ctx = Context()
    heal = await started(ctx, fault("jitter", "all", latency=40, toxicity=0.5))
    adds = [c for c in ctx.proxies.calls if c[0] == "add"]
    assert [(c[1], c[2], c[3], c[4]) for c in adds] == [
        ("p-c1", "jitter-0-upstream", "latency", "upstream"), ("p-c1", "jitter-0-downstream", "latency", "downstream"),
        ("p-c2", "jitter-0-upstream", "latency", "upstream"), ("p-c2", "jitter-0-downstream", "latency", "downstream")]
    assert adds[0][5] == {"latency": 40, "jitter": 100}
    assert heal.detail["toxics"][0] == ("p-c1", "jitter-0-upstream")
    await heal()
    assert [c[1:] for c in ctx.proxies.calls if c[0] == "remove"] == [
        ("p-c2", "jitter-0-downstream"), ("p-c2", "jitter-0-upstream"),
        ("p-c1", "jitter-0-downstream"), ("p-c1", "jitter-0-upstream")]
    assert ctx.proxies.toxics == {}


async def test_a_failed_undo_does_not_keep_the_others_from_running() -> None:
    ctx = Context()

    async def broken(name: str, enabled: bool) -> None:
        ctx.proxies.calls.append(("enabled", name, enabled))
        if name == "p-c2" and enabled:
            raise OSError("control API gone")

    ctx.proxies.set_enabled = broken  # type: ignore[method-assign]
    heal = await started(ctx, fault("partition", "all"))
    with pytest.raises(OSError):
        await heal()
    assert ctx.proxies.calls[-2:] == [("enabled", "p-c2", True), ("enabled", "p-c1", True)]


@pytest.mark.parametrize("name, sio_type, stream, action, delay", [
    ("ack_drop", "ACK", "downstream", "drop", 0), ("frame_drop", "EVENT", "upstream", "drop", 0),
    ("frame_delay", "EVENT", "upstream", "delay", 500), ("frame_dup", "EVENT", "upstream", "duplicate", 0),
    ("frame_cut", "EVENT", "upstream", "cut", 0)])
async def test_frame_kinds_match_their_default_frames(name: str, sio_type: str, stream: str, action: str,
                                                      delay: int) -> None:
    ctx = Context()
    await started(ctx, fault(name, "c2"), index=3)
    (add,) = ctx.proxies.calls
    assert add[:5] == ("add", "p-c2", f"{name}-3", "frame", stream)
    assert add[5] == {"sio_type": sio_type, "action": action, "nth": 1, "count": 1, "delay": delay}
    (resolved,) = resolve({"name": "t", "faults": [{"kind": name, "target": "c2",
                                                     "trigger": {"frame": {"nth": 2}}}]}).faults
    assert (resolved.trigger["frame"]["sio_type"], resolved.trigger["frame"]["stream"]) == (sio_type, stream)


def test_frame_kinds_need_frame_toxics() -> None:
    with pytest.raises(ScenarioError, match="embedded"):
        kind("frame_dup").check(Context(frame_toxics=False), fault("frame_dup"))


@pytest.mark.parametrize("name, call", [("server_crash", "crash"), ("server_restart", "stop")])
async def test_server_kinds_stop_the_server_and_heal_starts_it_once(name: str, call: str) -> None:
    ctx = Context()
    heal = await started(ctx, fault(name, "server"))
    assert ctx.server.calls == [call]
    await heal()
    assert ctx.server.calls == [call, "start"] and ctx.server.running


async def test_page_refresh_reports_both_lineages() -> None:
    ctx = Context()
    heal = await started(ctx, fault("page_refresh", "c2"))
    assert heal.detail == {"from": "c2", "to": "c2.1"}


async def test_db_outage_locks_sqlite_until_the_heal() -> None:
    held = []

    @contextlib.asynccontextmanager
    async def lock(path: Path) -> AsyncIterator[None]:
        held.append(path.name)
        yield
        held.remove(path.name)

    ctx = Context(lock=lock)
    heal = await started(ctx, fault("db_outage", "db"))
    assert held == ["chat.db"]
    await heal()
    assert held == []


async def test_db_outage_on_postgres_disables_the_db_link() -> None:
    ctx = Context(storage="postgres", db_link="p-db")
    heal = await started(ctx, fault("db_outage", "db"))
    await heal()
    assert ctx.proxies.calls == [("enabled", "p-db", False), ("enabled", "p-db", True)]
    with pytest.raises(ScenarioError, match="database link"):
        await started(Context(storage="postgres"), fault("db_outage", "db"))
