"""Deliberately broken variants of the reference server, to prove that the checkers catch each break.

A mutant changes exactly one step of the message path and names the guarantee it breaks. The command
line accepts `--mutant NAME` only together with `--i-know-this-breaks-delivery`, so a mutant cannot be
switched on by a typo or a copied command line. A mutant needs the switch whose behaviour it breaks
(there is no ack to send early without `ack`); asking for it on a profile without that switch is a
usage error rather than a silent no-op.
"""

from __future__ import annotations

from dataclasses import dataclass

from reference_server.profiles import Switches


@dataclass(frozen=True)
class Mutant:
    name: str
    breaks: str
    """The guarantee (and the checker verdict) that must flag it."""
    what: str
    """What the server does differently."""
    needs: str | None
    """The switch this mutant corrupts, or None when it applies to every profile."""


MUTANTS: dict[str, Mutant] = {m.name: m for m in (
    Mutant("ack-before-commit",
           "at-least-once: an acked message is lost (`lost`) when the store then fails",
           "acknowledges first and stores in the background; a failed store is never reported",
           "ack"),
    Mutant("no-dedupe",
           "exactly-once: a retried message is stored again (`duplicated`)",
           "stores the row without its clientOffset, so the UNIQUE column never sees a duplicate",
           "dedupe"),
    Mutant("replay-off-by-one",
           "at-most-once on delivery: the last message a client saw is sent again (`redelivered`)",
           "replays rows with id >= auth.serverOffset instead of id > auth.serverOffset",
           "replay"),
    Mutant("broadcast-before-commit",
           "delivery of stored messages only: a message whose store fails was still broadcast "
           "(`phantom`)",
           "broadcasts with the id the row is expected to get (last id + 1), then stores it",
           None),
    Mutant("ack-on-db-error",
           "at-least-once: a message the database refused is acknowledged, so the client stops "
           "retrying (`lost`)",
           "acknowledges even when the insert failed",
           "ack"),
    Mutant("drop-replay",
           "at-least-once on delivery: messages sent while a client was away never reach it "
           "(`missed`)",
           "skips the serverOffset replay on reconnect (the connection is accepted as if it were "
           "up to date)",
           "replay"),
)}


class MutantError(ValueError):
    """A mutant that does not exist, or one whose switch the chosen profile lacks."""


def select(name: str, switches: Switches) -> Mutant:
    """The mutant called `name`, checked against the switches it corrupts."""
    try:
        mutant = MUTANTS[name]
    except KeyError:
        raise MutantError(f"unknown mutant {name!r}; choose one of: {', '.join(MUTANTS)}") from None
    if mutant.needs and not getattr(switches, mutant.needs):
        raise MutantError(f"mutant {name!r} breaks the {mutant.needs!r} switch, which is off; use a "
                          f"profile that has it (or --{mutant.needs})")
    return mutant


def describe() -> str:
    """One line per mutant, for `--help` and the docs."""
    return "\n".join(f"  {m.name}: {m.what}; breaks {m.breaks}" for m in MUTANTS.values())
