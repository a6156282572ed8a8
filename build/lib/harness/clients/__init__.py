"""Client drivers: the tutorial's chat page, played by python-socketio or the official JS client."""

from __future__ import annotations

from harness.clients.base import ClientConfig, ClientDriver
from harness.errors import ScenarioError
from harness.history import HistoryWriter

DRIVERS = ("python", "node")


def make_driver(kind: str, slot: str, config: ClientConfig, history: HistoryWriter) -> ClientDriver:
    """The driver named `kind` for client slot `slot` (`c1`, ...), recording into `history`."""
    if kind == "python":
        from harness.clients.python_driver import PythonDriver
        return PythonDriver(slot, config, history)
    if kind == "node":
        from harness.clients.node_driver import NodeDriver
        return NodeDriver(slot, config, history)
    raise ScenarioError(f"unknown client driver {kind!r}: use one of {', '.join(DRIVERS)}")
