"""The handles of a running topology that the nemesis records to and its faults act on."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.clients.base import ClientDriver
from harness.faults.base import NodeControl, ProxyControl, RedisControl, RouterControl, ServerControl
from harness.history import HistoryWriter


@dataclass
class NemesisContext:
    """What `Topology.nemesis_context()` hands the nemesis; satisfies `harness.faults.base.FaultContext`."""

    history: HistoryWriter
    proxies: ProxyControl
    links: dict[str, str]
    """client slot -> name of the proxy in front of it"""
    drivers: dict[str, ClientDriver]
    server: ServerControl
    storage: str = "sqlite"
    sqlite_path: Path | None = None
    db_link: str | None = None
    """name of the proxy between the server and PostgreSQL"""
    frame_toxics: bool = True
    """False when the proxy backend cannot parse frames (the real Toxiproxy)."""
    lock_sqlite: Callable[[Path], contextlib.AbstractAsyncContextManager[Any]] | None = None
    nodes: Mapping[str, NodeControl] = field(default_factory=dict)
    """n1, n2, ... with several nodes (docs/multinode.md); empty for one server"""
    redis: RedisControl | None = None
    redis_links: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    """node -> (publish link, subscribe link)"""
    router: RouterControl | None = None
