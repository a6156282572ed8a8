"""The fault kinds, one module per family, and the registry everything else derives from.

The scenario schema's `kind` enum, the resolver's defaults (target, duration, frame trigger), the
property search's draws and the report timeline's lanes all read `KINDS`; the nemesis starts a fault
through its kind. Adding a kind is one module (or one entry in a family's module) registered below,
and its test: see docs/faults.md.
"""

from __future__ import annotations

from harness.errors import ScenarioError
from harness.faults import browser, database, frames, network, nodes, page_refresh, partition, redis, server
from harness.faults.base import Fault, FaultKind

KINDS: dict[str, FaultKind] = {k.name: k for family in (network, partition, page_refresh, server, database, frames,
                                                              nodes, redis, browser)
                               for k in family.KINDS}


def kind(name: str) -> FaultKind:
    """The kind called `name`; ScenarioError naming the known ones otherwise."""
    try:
        return KINDS[name]
    except KeyError:
        raise ScenarioError(f"unknown fault kind {name!r}; choose one of {', '.join(KINDS)}") from None


__all__ = ["KINDS", "Fault", "FaultKind", "kind"]
