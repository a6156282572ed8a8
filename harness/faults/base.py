"""What a fault kind is, the `Fault` it is given, and the handles of a running topology it acts through.

A fault kind knows everything about itself (see docs/faults.md): what it acts on, its default duration,
whether it needs frame toxics, its timeline lane, how the property search draws it, and how to start it.
It acts only through the protocols below, so this package imports no proxy, process or client module;
the nemesis hands it the real handles (`harness.nemesis.NemesisContext` satisfies `FaultContext`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

Acts = Literal["client", "server", "db", "node", "redis"]
"""What a kind acts on: a client's link or page (`cN`, or `all` where allowed), the server, the database,
one node of several (`nN`, or `all` where allowed), the nodes' Redis."""

Lane = Literal["client", "server", "database"]
"""The timeline lane a fault is shaded on: the target client's lanes, the server's, the database's."""


@dataclass
class Fault:
    """One scheduled fault, exact after resolution: a trigger, a target, a duration until its heal."""

    kind: str
    target: str
    trigger: dict[str, Any]
    duration: float | None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.kind}@{self.target}"


class ServerControl(Protocol):
    """The process under test (the runner's `harness.target.ServerHandle`)."""

    async def crash(self) -> None: ...
    async def stop(self) -> None: ...
    async def start(self) -> None: ...
    async def ensure_running(self) -> None: ...


class NodeControl(ServerControl, Protocol):
    """One node of several (`harness.target.ServerHandle` with a node name)."""

    async def pause(self) -> None: ...
    async def resume(self) -> None: ...


class RedisControl(Protocol):
    """The Redis the nodes share (`harness.redis.RedisServer`)."""

    @property
    def restartable(self) -> bool:
        """False for an existing Redis at REDIS_URL, which the harness never stops."""
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class RouterControl(Protocol):
    """The harness's balancer (`harness.routing.Router`): a node fault tells it its node is down or back."""

    async def node_down(self, node: str) -> None: ...
    async def node_up(self, node: str) -> None: ...


class ProxyControl(Protocol):
    """The Toxiproxy API calls faults make (`harness.proxy.control.ToxiproxyClient`)."""

    async def set_enabled(self, name: str, enabled: bool) -> Any: ...
    async def add_toxic(self, proxy: str, type: str, *, stream: str = "downstream", name: str | None = None,
                        toxicity: float = 1.0, attributes: dict[str, Any] | None = None) -> Any: ...
    async def update_toxic(self, proxy: str, name: str, *, attributes: dict[str, Any] | None = None,
                           toxicity: float | None = None) -> Any: ...
    async def remove_toxic(self, proxy: str, name: str) -> Any: ...
    async def get_toxic(self, proxy: str, name: str) -> dict[str, Any]: ...


class Page(Protocol):
    """A client slot's page, as far as a fault touches it (`harness.clients.base.ClientDriver`)."""

    @property
    def proc(self) -> str: ...
    async def page_refresh(self) -> None: ...


class FaultContext(Protocol):
    """The handles of a running topology that faults act on."""

    @property
    def proxies(self) -> ProxyControl: ...
    @property
    def links(self) -> Mapping[str, str]:
        """client slot -> name of the proxy in front of it"""
    @property
    def drivers(self) -> Mapping[str, Page]: ...
    @property
    def server(self) -> ServerControl: ...
    @property
    def storage(self) -> str:
        """`sqlite` or `postgres`"""
    @property
    def sqlite_path(self) -> Path | None: ...
    @property
    def db_link(self) -> str | None:
        """name of the proxy between the server and PostgreSQL"""
    @property
    def frame_toxics(self) -> bool:
        """False when the proxy backend cannot parse frames (the real Toxiproxy)."""
    @property
    def lock_sqlite(self) -> Callable[[Path], contextlib.AbstractAsyncContextManager[Any]] | None: ...
    @property
    def nodes(self) -> Mapping[str, NodeControl]:
        """n1, n2, ... with several nodes; empty for one server"""
    @property
    def redis(self) -> RedisControl | None: ...
    @property
    def redis_links(self) -> Mapping[str, tuple[str, str]]:
        """node -> (name of its publish link to Redis, name of its subscribe link)"""
    @property
    def router(self) -> RouterControl | None: ...


def links(ctx: FaultContext, fault: Fault) -> list[str]:
    """The proxies a client fault acts on: its target's, or every client's for target `all`."""
    return list(ctx.links.values()) if fault.target == "all" else [ctx.links[fault.target]]


class Heal:
    """How to undo one started fault, filled in by the kind as it acts, and what its heal event reports.

    A kind registers each undo step right after the change it undoes, so a start that fails half way is
    still undone as far as it got. Steps run newest first, each even when one before it failed.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        """Unique within the run (`latency-0`): names the fault's toxics, which the heal event lists."""
        self.detail: dict[str, Any] = {}
        """Written into the heal event (toxics, frames fired, the lineages of a page refresh)."""
        self._steps: list[Callable[[], Awaitable[Any]]] = []

    def then(self, step: Callable[[], Awaitable[Any]]) -> None:
        self._steps.append(step)

    async def __call__(self) -> None:
        steps, self._steps = self._steps, []
        errors = []
        for step in reversed(steps):
            try:
                await step()
            except Exception as exc:  # one failed undo must not leave the others undone
                errors.append(exc)
        if errors:
            raise errors[0]


@dataclass(frozen=True, kw_only=True)
class FaultKind:
    """One fault kind. Subclasses are the families (toxics, frames, server, ...); instances the kinds."""

    name: str
    acts_on: Acts
    lane: Lane
    duration: float | None
    """Seconds until the heal when the scenario gives none; None: the kind decides (see `lasts`)."""
    needs_frames: bool = False
    """A frame toxic of the embedded proxy: armed before the clients connect, lasts until it has acted."""
    targets_all: bool = True
    """Whether a client kind may take target `all`."""
    searched: bool = False
    """Whether the property search (`harness.strategies`) draws this kind by default."""
    drivers: tuple[str, ...] = ()
    """The client drivers that can carry the kind out (`browser` for a closed tab); empty: any."""

    def check(self, ctx: FaultContext, fault: Fault) -> None:
        """Raise ScenarioError when this topology cannot carry the fault out (before anything runs)."""

    async def arm(self, ctx: FaultContext, fault: Fault, heal: Heal) -> bool:
        """Install, before the clients connect, what must exist from the start; True if anything was."""
        return False

    async def start(self, ctx: FaultContext, fault: Fault, heal: Heal) -> None:
        """Make the fault happen now, registering its undo steps on `heal` (the one `arm` got, if armed)."""
        raise NotImplementedError(f"fault kind {self.name} has no start")

    async def lasts(self, ctx: FaultContext, fault: Fault, heal: Heal) -> None:
        """Return when the started fault is due to be healed."""
        if fault.duration:
            await asyncio.sleep(fault.duration)

    def strategy(self, max_duration: float) -> SearchStrategy[dict[str, Any]]:
        """The `duration` / `params` part of a fault the property search draws (harness.strategies)."""
        from hypothesis import strategies as st

        durations = [d for d in (0.1, 0.3, 0.6) if d < max_duration] + [max_duration]
        return st.fixed_dictionaries({"duration": st.sampled_from(durations)})
