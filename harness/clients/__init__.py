"""Client drivers: the tutorial's chat page, played by python-socketio, the official JS client or a browser."""

from __future__ import annotations

from harness.clients.base import ClientDriver
from harness.errors import ScenarioError
from harness.history import HistoryWriter
from harness.scenario import ClientSettings

DRIVERS = ("python", "node", "browser")


def make_driver(kind: str, slot: str, settings: ClientSettings, history: HistoryWriter, *, url: str,
                seed: int = 0) -> ClientDriver:
    """The driver named `kind` for client slot `slot` (`c1`, ...) connecting to `url`, recording into
    `history`."""
    if kind != "browser" and settings.page != "tutorial":
        raise ScenarioError(f"page {settings.page!r} needs the browser driver (the {kind} driver plays only "
                            f"the tutorial's page)")
    if kind == "browser":
        from harness.clients.browser_driver import BrowserDriver
        return BrowserDriver(slot, settings, history, url=url, seed=seed)
    if kind == "python":
        from harness.clients.python_driver import PythonDriver
        return PythonDriver(slot, settings, history, url=url, seed=seed)
    if kind == "node":
        from harness.clients.node_driver import NodeDriver
        return NodeDriver(slot, settings, history, url=url, seed=seed)
    raise ScenarioError(f"unknown client driver {kind!r}: use one of {', '.join(DRIVERS)}")
