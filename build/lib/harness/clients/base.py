"""What every client driver offers the runner, whichever Socket.IO client sits underneath.

A driver is one client *slot* (`c1`, `c2`, ...). It plays the tutorial's chat page: it connects with
`auth.serverOffset`, sends `chat message` events, applies received broadcasts, and records every
observation in the run's history (see `harness.history` for the events and their values). A page
refresh throws the page away and starts a fresh one in the same slot under a new process name
(`c1` -> `c1.1`), so the slot object lives on while its lineage changes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Literal

from harness.history import HistoryWriter

RetryMode = Literal["none", "queue", "manual"]
"""`none`: fire and forget (or a plain ack callback with no timeout); `queue`: socket.io-client's
`retries` option (ordered, one in flight); `manual`: the tutorial's recursive `socket.timeout().emit`."""

OffsetStyle = Literal["none", "socket-id", "socket-id-undefined", "random"]
"""`socket-id`: `<socket id>-<counter>` taken from the live socket; `socket-id-undefined`: the same but
reproducing the tutorial's trap (`undefined-<counter>` while offline); `random`: a random id."""


@dataclass
class ClientConfig:
    """The settings of the tutorial's client, one field per option it shows."""

    url: str
    ack: bool = False
    ack_timeout: float | None = None
    retries: int = 0
    retry_mode: RetryMode = "none"
    client_offset: OffsetStyle = "none"
    persist_offset: bool = False
    reconnection_delay: float = 1.0
    reconnection_delay_max: float = 5.0
    randomization_factor: float = 0.5
    transports: list[str] = field(default_factory=lambda: ["websocket"])
    seed: int = 0


class ClientDriver(ABC):
    """One client slot driven by the runner. All methods are coroutines on the runner's loop."""

    def __init__(self, slot: str, config: ClientConfig, history: HistoryWriter) -> None:
        self.slot = slot
        self.config = config
        self.history = history

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
    def server_offset(self) -> int:
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
