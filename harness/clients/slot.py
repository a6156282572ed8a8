"""A client slot that holds one page at a time: what the python and the node driver share.

A *page* is one load of the tutorial's chat page (a python-socketio socket, or a Node.js process running
socket.io-client). A page refresh discards it with everything in it and opens a fresh one in the same slot
under the next process name (`c1` -> `c1.1`), keeping the offset only when the page persists it.
"""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from typing import Any, Generic, Protocol, TypeVar

from harness.clients.base import ClientDriver
from harness.clients.recorder import PageRecorder, SendPolicy
from harness.history import HistoryWriter
from harness.protocol import Protocol as AppProtocol
from harness.scenario import ClientSettings


def page_offset(value: Any) -> int | str:
    """`auth.serverOffset` as the history records it: the server treats a missing one as 0; a server with
    string ids has string offsets."""
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    return 0


class PageBase:
    """The state every page load has, whatever client runs it: its lineage's recorder and its offset,
    and its slot driver's settings, url and seed (a reload keeps them)."""

    def __init__(self, proc: str, driver: ClientDriver, policy: SendPolicy, server_offset: Any) -> None:
        self.proc = proc
        self.settings = driver.settings
        self.url = driver.url
        self.seed = driver.seed
        self.protocol = driver.protocol
        self.policy = policy
        self.recorder = PageRecorder(driver.history, proc, policy)
        self.server_offset = server_offset
        self.connected = asyncio.Event()


class Page(Protocol):
    proc: str
    recorder: PageRecorder
    server_offset: Any
    connected: asyncio.Event

    @property
    def is_connected(self) -> bool: ...

    async def open(self) -> None: ...

    async def send(self, text: str) -> str: ...

    async def discard(self) -> None: ...


P = TypeVar("P", bound=Page)


class PageSlotDriver(ClientDriver, Generic[P]):
    """A ClientDriver whose page (of type P) is made by `_new_page`; refresh, close and the properties
    are shared."""

    def __init__(self, slot: str, settings: ClientSettings, history: HistoryWriter, *, url: str,
                 seed: int = 0, protocol: AppProtocol | None = None) -> None:
        super().__init__(slot, settings, history, url=url, seed=seed, protocol=protocol)
        self._policy = SendPolicy.of(settings)
        self._refreshes = 0
        self._page = self._new_page(slot, 0)

    @abstractmethod
    def _new_page(self, proc: str, server_offset: Any) -> P:
        """A fresh, unopened page for process `proc` that will connect with `server_offset`."""

    @property
    def proc(self) -> str:
        return self._page.proc

    @property
    def connected(self) -> bool:
        return self._page.is_connected

    @property
    def pending(self) -> int:
        return self._page.recorder.pending

    @property
    def server_offset(self) -> int | str:
        return page_offset(self._page.server_offset)

    async def start(self) -> None:
        try:
            await self._page.open()
        except BaseException:
            await self._page.discard()
            raise

    async def send(self, text: str) -> str:
        return await self._page.send(text)

    async def page_refresh(self) -> None:
        old = self._page
        self._refreshes += 1
        next_proc = f"{self.slot}.{self._refreshes}"
        await old.discard()
        old.recorder.refresh(next_proc)
        # localStorage survives the reload; the page's variables do not.
        offset = old.server_offset if self.settings.persist_offset else 0
        self._page = self._new_page(next_proc, offset)
        await self.start()

    async def wait_connected(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._page.connected.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        connected = self._page.is_connected
        await self._page.discard()
        self._page.recorder.end(connected)
