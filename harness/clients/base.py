"""What every client driver offers the runner, whichever Socket.IO client sits underneath.

A driver is one client *slot* (`c1`, `c2`, ...). It plays the tutorial's chat page: it connects with
`auth.serverOffset`, sends `chat message` events, applies received broadcasts, and records every
observation in the run's history (see `harness.history` for the events and their values). A page
refresh throws the page away and starts a fresh one in the same slot under a new process name
(`c1` -> `c1.1`), so the slot object lives on while its lineage changes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from harness.history import HistoryWriter
from harness.protocol import Protocol
from harness.scenario import ClientSettings


class ClientDriver(ABC):
    """One client slot driven by the runner. All methods are coroutines on the runner's loop.

    Its page connects to `url` and behaves as `settings` say, speaking `protocol` (the events and offsets
    of the app, `harness.protocol`; the tutorial's by default); `seed` seeds the page's random draws
    (backoff jitter, random offsets), one stream per process name (`<seed>:<proc>`).
    """

    def __init__(self, slot: str, settings: ClientSettings, history: HistoryWriter, *, url: str,
                 seed: int = 0, protocol: Protocol | None = None) -> None:
        self.slot = slot
        self.settings = settings
        self.history = history
        self.url = url
        self.seed = seed
        self.protocol = protocol or Protocol()

    @property
    @abstractmethod
    def proc(self) -> str:
        """The current lineage's process name in the history (`c1`, then `c1.1` after a refresh)."""

    @property
    @abstractmethod
    def connected(self) -> bool:
        """True while the Socket.IO connection is established."""

    @property
    @abstractmethod
    def pending(self) -> int:
        """Sends whose outcome (ack, failure, give-up) is not yet known."""

    @property
    @abstractmethod
    def server_offset(self) -> int | str:
        """The `auth.serverOffset` the page would send on its next (re)connect."""

    @abstractmethod
    async def start(self) -> None:
        """Open the page: connect and wait for the first `connect` (or its failure)."""

    @abstractmethod
    async def send(self, text: str) -> str:
        """Emit one `chat message` as the page's form submit does; return its message id.

        Returns as soon as the emit is made (or buffered): the ack, if any, is recorded later.
        """

    @abstractmethod
    async def page_refresh(self) -> None:
        """Throw the page away mid-whatever with its buffers and queue; start a fresh page in this slot."""

    @abstractmethod
    async def wait_connected(self, timeout: float) -> bool:
        """Wait until connected (reconnection included); False on timeout."""

    @abstractmethod
    async def close(self) -> None:
        """Close the page for good (end of run): records `end` with the final connection state first."""
