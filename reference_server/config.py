"""Everything one server process is told on its command line, resolved and checked."""

from __future__ import annotations

from dataclasses import dataclass

from reference_server.mutants import Mutant
from reference_server.profiles import Switches

BROADCASTS = ("pubsub", "feed")
"""How rows reach the other nodes' sockets (docs/multinode.md)."""


@dataclass(frozen=True)
class ServerConfig:
    """The resolved options; defaults match the command line's."""

    host: str
    port: int
    db: str
    profile: str
    switches: Switches
    mutant: Mutant | None = None
    db_busy_timeout: float = 0.05
    db_timeout: float = 1.0
    max_content_bytes: int = 64 * 1024
    rate_limit: float = 500.0
    rate_burst: float = 1000.0
    max_disconnection_duration: float = 120.0
    csr_run_middlewares: bool = False
    connect_first: bool = True
    """The CONNECT before the connect handler (python-socketio's `always_connect`), so the catch-up follows it."""
    ping_interval: float = 25.0
    ping_timeout: float = 20.0
    node: str = ""
    """This process's name among several nodes (in /health and the log), empty on its own."""
    redis_url: str | None = None
    """Share broadcasts with other nodes through Redis (reference_server.cluster); None: one node."""
    redis_subscribe_url: str | None = None
    redis_channel: str = "socketio"
    session_store: str = "memory"
    broadcast: str = "pubsub"
    """With Redis: "pubsub" (AsyncRedisManager carries each row) or "feed" (reference_server.feed)."""
