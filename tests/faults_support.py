"""Fakes of the handles a fault acts through (harness.faults.base), recording every call."""

from __future__ import annotations

from typing import Any


class FakeProxies:
    """Records the Toxiproxy calls; a frame toxic 'fires' when the test says so."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.toxics: dict[tuple[str, str], dict[str, Any]] = {}

    async def set_enabled(self, name: str, enabled: bool) -> None:
        self.calls.append(("enabled", name, enabled))

    async def add_toxic(self, proxy: str, type: str, *, stream: str = "downstream", name: str | None = None,
                        toxicity: float = 1.0, attributes: dict[str, Any] | None = None) -> None:
        self.calls.append(("add", proxy, name, type, stream, dict(attributes or {})))
        self.toxics[(proxy, name)] = {"name": name, "type": type, "fired": 0, "matched": 0,
                                      "attributes": attributes}

    async def update_toxic(self, proxy: str, name: str, *, attributes: dict[str, Any] | None = None,
                           toxicity: float | None = None) -> dict[str, Any]:
        self.calls.append(("update", proxy, name, dict(attributes or {})))
        return self.toxics[(proxy, name)]

    async def remove_toxic(self, proxy: str, name: str) -> None:
        self.calls.append(("remove", proxy, name))
        self.toxics.pop((proxy, name), None)

    async def get_toxic(self, proxy: str, name: str) -> dict[str, Any]:
        return self.toxics[(proxy, name)]

    def fire(self, proxy: str, name: str) -> None:
        self.toxics[(proxy, name)]["fired"] += 1


class FakeServer:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.running = True

    async def crash(self) -> None:
        self.calls.append("crash")
        self.running = False

    async def stop(self) -> None:
        self.calls.append("stop")
        self.running = False

    async def start(self) -> None:
        self.calls.append("start")
        self.running = True

    async def ensure_running(self) -> None:
        if not self.running:
            await self.start()

    async def pause(self) -> None:
        self.calls.append("pause")

    async def resume(self) -> None:
        self.calls.append("resume")


class FakeDriver:
    def __init__(self, slot: str) -> None:
        self.proc = slot
        self.refreshes = 0

    async def page_refresh(self) -> None:
        self.refreshes += 1
        self.proc = f"{self.proc.split('.')[0]}.{self.refreshes}"
