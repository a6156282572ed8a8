"""The tutorial's steps, by the names the reference server's profiles carry: one place for the harness.

Each step is one stage of the Socket.IO delivery tutorial: its server (a reference server profile), the
page code the tutorial shows at that step (the client preset) and what the tutorial promises of it.
`reference_server/profiles.py` keeps its own list of the same names, because the server under test
stands alone and imports nothing from the harness; a test compares the two.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Final

STEPS: Final = ("baseline", "csr", "server-delivery", "at-least-once", "exactly-once")
"""In tutorial order: each step adds to the one before."""

PROMISES: Final = MappingProxyType({
    "baseline": ("at-most-once",),
    "csr": ("at-most-once",),
    "server-delivery": ("at-most-once",),
    "at-least-once": ("at-least-once",),
    "exactly-once": ("exactly-once",),
})
"""What the tutorial promises at each step: the default expectations of a scenario."""

ACKING: Final = frozenset({"at-least-once", "exactly-once"})
"""Steps whose server acknowledges a `chat message` (and whose page asks for the ack and retries)."""

_ACKING_CLIENT: Final = MappingProxyType({"ack": True, "ack_timeout": 1.0, "retries": 3, "retry_mode": "queue"})


def client_preset(step: str) -> dict[str, Any]:
    """The client settings of the tutorial's page at `step`, with test-friendly timeouts.

    Returned as the fields of a scenario's `clients` block, so a scenario file can override any of them.
    """
    preset: dict[str, Any] = {"ack": False, "ack_timeout": None, "retries": 0, "retry_mode": "none",
                              "client_offset": "none"}
    if step in ACKING:
        preset.update(_ACKING_CLIENT)
    if step == "exactly-once":
        preset["client_offset"] = "socket-id"
    return preset
