"""The tutorial's delivery steps as profiles: named, cumulative sets of four switches.

The tutorial builds each step on the previous one (its server-delivery code already enables connection
state recovery), so the profiles are cumulative. Every switch can also be set one by one on top of a
profile (`--profile exactly-once --no-csr`), which is how a step is tested in isolation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace


@dataclass(frozen=True)
class Switches:
    """What the server does beyond storing and broadcasting (which it always does)."""

    csr: bool = False
    """Socket.IO connection state recovery (reference_server.recovery)."""
    replay: bool = False
    """On a connection that was not recovered, send the rows with `id > auth.serverOffset`."""
    ack: bool = False
    """Acknowledge `chat message` once its row is committed; no ack when the store failed."""
    dedupe: bool = False
    """Store the clientOffset in the UNIQUE column; a duplicate is acknowledged, not stored again."""

    def as_dict(self) -> dict[str, bool]:
        return asdict(self)


SWITCH_NAMES: tuple[str, ...] = ("csr", "replay", "ack", "dedupe")

PROFILES: dict[str, Switches] = {
    "baseline": Switches(),
    "csr": Switches(csr=True),
    "server-delivery": Switches(csr=True, replay=True),
    "at-least-once": Switches(csr=True, replay=True, ack=True),
    "exactly-once": Switches(csr=True, replay=True, ack=True, dedupe=True),
}

PROFILE_SUMMARY: dict[str, str] = {
    "baseline": "store, then broadcast; no ack, no replay, no recovery (at-most-once)",
    "csr": "+ connection state recovery",
    "server-delivery": "+ replay of id > auth.serverOffset on a connection that was not recovered",
    "at-least-once": "+ ack after the row is committed (clients retry with ackTimeout + retries)",
    "exactly-once": "+ clientOffset stored UNIQUE; a duplicate is acknowledged, not stored again",
}


def resolve(profile: str, overrides: dict[str, bool | None] | None = None) -> Switches:
    """The switches of `profile` with each non-None override applied on top.

    Raises KeyError for an unknown profile; the command line turns that into a usage error.
    """
    base = PROFILES[profile]
    changes = {name: value for name, value in (overrides or {}).items() if value is not None}
    unknown = set(changes) - set(SWITCH_NAMES)
    if unknown:
        raise KeyError(f"unknown switch(es): {', '.join(sorted(unknown))}")
    return replace(base, **changes)
