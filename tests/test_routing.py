"""The harness's balancer (harness/routing.py): homes dealt round robin, failover on a dead node's
disconnects only, per policy; the `node` on each connect."""

from __future__ import annotations

from typing import Any

import pytest

from harness.routing import Router


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str, dict[str, Any]]] = []

    def append(self, proc: str, type_: str, f: str, value: dict[str, Any] | None = None) -> None:
        self.events.append((proc, type_, f, value or {}))


def _router(failover: str = "next", nodes: int = 3, seed: int = 7) -> tuple[Router, list[tuple[str, str]]]:
    moves: list[tuple[str, str]] = []

    async def repoint(slot: str, node: str) -> None:
        moves.append((slot, node))

    names = [f"n{i}" for i in range(1, nodes + 1)]
    return Router(names, ["c1", "c2", "c3", "c4"], failover=failover, seed=seed, repoint=repoint,
                  history=Recorder()), moves  # type: ignore[arg-type]


def test_homes_are_round_robin_from_a_seeded_start() -> None:
    router, _ = _router()
    homes = list(router.home.values())
    assert sorted(homes[:3]) == ["n1", "n2", "n3"] and homes[3] == homes[0]
    assert router.home == _router()[0].home
    assert {tuple(_router(seed=s)[0].home.values())[0] for s in range(20)} == {"n1", "n2", "n3"}


async def test_a_client_moves_when_its_connection_ends_on_a_down_node() -> None:
    router, moves = _router()
    slot = next(s for s, n in router.home.items() if n == "n1")
    assert router.observe(slot, "ok", "connect", {"sid": "x"})["node"] == "n1"
    await router.node_down("n1")
    assert moves == [], "a live connection is not cut by the balancer"
    router.observe(slot, "info", "disconnect", {"reason": "transport close"})
    await router.settle()
    assert router.current[slot] == "n2"
    assert router.observe(f"{slot}.1", "ok", "connect", {})["node"] == "n2", "a refreshed page keeps the slot"


async def test_a_client_already_cut_off_moves_at_once() -> None:
    router, moves = _router(nodes=2)
    slot = next(s for s, n in router.home.items() if n == "n2")
    await router.node_down("n2")
    assert (slot, "n1") in moves


@pytest.mark.parametrize("failover", ["sticky-wait"])
async def test_sticky_wait_never_moves(failover: str) -> None:
    router, moves = _router(failover)
    await router.node_down("n1")
    assert moves == [] and router.current == router.home


async def test_random_picks_a_live_node_and_none_when_all_are_down() -> None:
    router, moves = _router("random")
    await router.node_down("n1")
    assert all(node != "n1" for _, node in moves)
    await router.node_down("n2")
    await router.node_down("n3")
    before = dict(router.current)
    for slot in router.current:
        router.observe(slot, "fail", "connect", {"reason": "refused"})
    await router.settle()
    assert router.current == before
