"""The balancer of a multi-node run: which node each client's link points at, and failover.

Each client has a home node, dealt round robin from a seeded start, and its own proxy link, which
points at the node it is on. The harness plays a load balancer with a health check: a node fault marks
its node down (`node_down`), and from then on each client of that node is moved, when its connection
ends (a `disconnect` or a failed `connect` in the history), to another node by re-pointing its link's
upstream through the Toxiproxy API (`POST /proxies/{name}` with a new `upstream`; both the embedded
proxy and the real Toxiproxy restart the listener on the same address, closing what was open, which
is why a client is moved only once its connection is gone). Policies (`target.failover`):

- `next`: the next live node after the current one, in node order;
- `random`: a live node drawn from the run's seed;
- `sticky-wait`: never moved; the client retries its home until the node is back.

A client that failed over stays where it is when its home comes back (moving it back would cut a
live connection). Each client's link is its own, so every request of one Engine.IO session (polling
included) reaches the same node: routing is sticky per session without cookies.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal

from harness.history import HistoryWriter, lineage_root

Failover = Literal["next", "random", "sticky-wait"]
FAILOVERS: tuple[str, ...] = ("next", "random", "sticky-wait")


class Router:
    """Home and current node of every client slot; moves clients off nodes that are down."""

    def __init__(self, nodes: Sequence[str], slots: Sequence[str], *, failover: str, seed: int,
                 repoint: Callable[[str, str], Awaitable[Any]], history: HistoryWriter) -> None:
        self.nodes = list(nodes)
        self.failover = failover
        self._rng = random.Random(seed)
        start = self._rng.randrange(len(self.nodes))
        self.home = {slot: self.nodes[(start + i) % len(self.nodes)] for i, slot in enumerate(slots)}
        self.current = dict(self.home)
        self.down: set[str] = set()
        self.connected = dict.fromkeys(slots, False)
        self._repoint = repoint
        self._history = history
        self._moves: set[asyncio.Task[None]] = set()

    def node_of(self, slot: str) -> str:
        return self.current[slot]

    async def node_down(self, node: str) -> None:
        """The node failed its health check: clients already cut off from it move now, the others
        as soon as their connection ends."""
        self.down.add(node)
        for slot, at in list(self.current.items()):
            if at == node and not self.connected[slot]:
                await self._move(slot)

    async def node_up(self, node: str) -> None:
        self.down.discard(node)

    def observe(self, proc: str, type_: str, f: str, value: dict[str, Any]) -> dict[str, Any]:
        """The history's annotate hook: tags a client's `connect` with its node, and moves a client
        whose connection ended on a node that is down."""
        slot = lineage_root(proc)
        if slot not in self.current:
            return value
        if f == "connect" and type_ == "ok":
            self.connected[slot] = True
            return {**value, "node": self.current[slot]}
        if f == "disconnect" or (f == "connect" and type_ == "fail"):
            self.connected[slot] = False
            if self.current[slot] in self.down:
                task = asyncio.get_running_loop().create_task(self._move(slot))
                self._moves.add(task)
                task.add_done_callback(self._moves.discard)
        return value

    def _pick(self, slot: str) -> str | None:
        if self.failover == "sticky-wait":
            return None
        live = [n for n in self.nodes if n not in self.down]
        if not live:
            return None
        if self.failover == "random":
            return self._rng.choice(live)
        at = self.nodes.index(self.current[slot])
        return next(n for n in self.nodes[at + 1:] + self.nodes[:at + 1] if n not in self.down)

    async def _move(self, slot: str) -> None:
        was = self.current[slot]
        if was not in self.down:
            return
        target = self._pick(slot)
        if target is None:
            return
        # Set before the API call, so the next event of this client does not move it a second time.
        self.current[slot] = target
        self._history.append("harness", "info", "route", {"client": slot, "node": target, "from": was})
        await self._repoint(slot, target)

    async def settle(self) -> None:
        """Wait for the moves under way."""
        await asyncio.gather(*self._moves)

    async def close(self) -> None:
        for task in list(self._moves):
            task.cancel()
        await asyncio.gather(*self._moves, return_exceptions=True)
