"""The node and Redis fault kinds (harness/faults/nodes.py, redis.py) against fakes of a two-node topology,
and how a scenario names their targets."""

from __future__ import annotations

from typing import Any

import pytest
from faults_support import FakeProxies, FakeServer

from harness.errors import ScenarioError
from harness.faults import kind
from harness.faults.base import Fault, Heal
from harness.scenario import resolve


class FakeNode(FakeServer):
    async def pause(self) -> None:
        self.calls.append("pause")

    async def resume(self) -> None:
        self.calls.append("resume")


class FakeRedis:
    def __init__(self, restartable: bool = True) -> None:
        self.restartable = restartable
        self.calls: list[str] = []

    async def start(self) -> None:
        self.calls.append("start")

    async def stop(self) -> None:
        self.calls.append("stop")


class FakeRouter:
    def __init__(self, nodes: dict[str, FakeNode]) -> None:
        self.calls: list[tuple[str, str]] = []
        self.nodes = nodes
        self.node_at_up: list[str] = []
        """What had been done to the node when the balancer heard it was up."""

    async def node_down(self, node: str) -> None:
        self.calls.append(("down", node))

    async def node_up(self, node: str) -> None:
        self.calls.append(("up", node))
        self.node_at_up = list(self.nodes[node].calls)


class TwoNodes:
    def __init__(self, restartable: bool = True) -> None:
        self.proxies = FakeProxies()
        self.nodes = {"n1": FakeNode(), "n2": FakeNode()}
        self.redis = FakeRedis(restartable)
        self.redis_links = {"n1": ("r-n1", "r-n1-sub"), "n2": ("r-n2", "r-n2-sub")}
        self.router = FakeRouter(self.nodes)


def _fault(name: str, target: str) -> Fault:
    return Fault(kind=name, target=target, trigger={"at": 0}, duration=None)


async def _started(ctx: Any, f: Fault) -> Heal:
    kind(f.kind).check(ctx, f)
    heal = Heal(f"{f.kind}-0")
    await kind(f.kind).start(ctx, f, heal)
    return heal


@pytest.mark.parametrize("name, signal, undo", [("node_crash", "crash", "start"),
                                                 ("node_restart", "stop", "start"),
                                                 ("node_pause", "pause", "resume")])
async def test_node_kinds_act_on_one_node_and_tell_the_balancer(name: str, signal: str, undo: str) -> None:
    ctx = TwoNodes()
    heal = await _started(ctx, _fault(name, "n2"))
    assert ctx.nodes["n2"].calls == [signal] and ctx.nodes["n1"].calls == []
    assert ctx.router.calls == [("down", "n2")]
    await heal()
    assert ctx.nodes["n2"].calls == [signal, undo]
    assert ctx.router.calls == [("down", "n2"), ("up", "n2")]
    assert ctx.router.node_at_up == [signal, undo], "the balancer hears the node is up once it serves again"


async def test_redis_outage_cuts_both_links_of_one_node_or_of_all() -> None:
    ctx = TwoNodes()
    heal = await _started(ctx, _fault("redis_outage", "n1"))
    assert ctx.proxies.calls == [("enabled", "r-n1", False), ("enabled", "r-n1-sub", False)]
    await heal()
    assert ctx.proxies.calls[2:] == [("enabled", "r-n1-sub", True), ("enabled", "r-n1", True)]
    ctx = TwoNodes()
    await _started(ctx, _fault("redis_outage", "all"))
    assert {c[1] for c in ctx.proxies.calls} == {"r-n1", "r-n1-sub", "r-n2", "r-n2-sub"}


async def test_deaf_node_silences_only_the_subscription_downstream() -> None:
    ctx = TwoNodes()
    heal = await _started(ctx, _fault("deaf_node", "n1"))
    assert ctx.proxies.calls == [("add", "r-n1-sub", "deaf_node-0", "timeout", "downstream", {"timeout": 0})]
    await heal()
    assert ctx.proxies.calls[-1] == ("remove", "r-n1-sub", "deaf_node-0")


async def test_redis_restart_stops_then_starts_and_refuses_a_shared_redis() -> None:
    ctx = TwoNodes()
    heal = await _started(ctx, _fault("redis_restart", "redis"))
    assert ctx.redis.calls == ["stop"]
    await heal()
    assert ctx.redis.calls == ["stop", "start"]
    with pytest.raises(ScenarioError, match="REDIS_URL"):
        kind("redis_restart").check(TwoNodes(restartable=False), _fault("redis_restart", "redis"))


def _resolve(faults: list[dict[str, Any]], nodes: int = 2) -> list[Fault]:
    target = {"kind": "reference", "nodes": nodes} if nodes > 1 else {"kind": "reference"}
    return resolve({"name": "t", "seed": 3, "target": target, "faults": faults}).faults


def test_node_targets_resolve_and_are_checked() -> None:
    (f,) = _resolve([{"kind": "node_crash"}])
    assert f.target == "n1"
    (f,) = _resolve([{"kind": "node_pause", "target": "any"}], nodes=3)
    assert f.target in ("n1", "n2", "n3")
    (f,) = _resolve([{"kind": "redis_outage", "target": "all"}])
    assert f.target == "all"
    with pytest.raises(ScenarioError, match="needs a node"):
        _resolve([{"kind": "node_crash", "target": "n3"}])
    with pytest.raises(ScenarioError, match="needs a node"):
        _resolve([{"kind": "deaf_node", "target": "all"}])
    with pytest.raises(ScenarioError, match="several server nodes"):
        _resolve([{"kind": "node_crash"}], nodes=1)
    with pytest.raises(ScenarioError, match="node_crash"):
        _resolve([{"kind": "server_crash"}])
