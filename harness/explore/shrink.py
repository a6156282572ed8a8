"""Shrinking a failing scenario with what the harness knows about it, inside the time left.

Hypothesis's generic shrinker knows nothing of runs: every candidate it tries is a 2-5 s real run, and it
tries hundreds. A delivery violation has a small cause (one reconnect, one lost ack), and the harness
knows which edits bring a scenario closer to it: keep one fault alone (the likeliest cause first: an
outage, then a lost frame, then a cut connection) or the likeliest with one other, drop one fault, drop a
client, send fewer messages, move a fault earlier, slow the rate. Fault durations are left alone: a shorter
outage is no smaller a case, and the ack-before-commit cases shrunk with halved outages replayed only 1
and 2 times of 3. Each candidate is run and kept when it still shows one of the original violation
categories (the same cause, not any failure) twice. Passes repeat until none is kept or the time is up;
the smallest case so far is kept either way (docs/explore.md).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from harness.faults import kind as fault_kind
from harness.strategies import CAUSE_FAULTS, RATE, RECONNECTING, TAIL

Trial = Callable[[dict[str, Any], dict[str, Any]], frozenset[str] | None]
"""Runs a candidate (the second argument is the case it was made from): the violation categories it
showed, or None when there was no time to run it."""

CAUSE_TARGET = CAUSE_FAULTS
"""Faults a single-cause case is shrunk to at least: the time it takes to get there is worth the proof's
fallback time (see `Session._follow`)."""


@dataclass
class Shrunk:
    data: dict[str, Any]
    runs: int = 0
    kept: list[str] = field(default_factory=list)
    """The edits kept, in order."""
    steps: list[dict[str, Any]] = field(default_factory=list)
    """The case before each kept edit, in order: what the proof falls back to when the smallest case
    fails only some of the time."""
    cut_short: bool = False
    """The time ran out before a pass kept nothing."""


EARLIEST = 2
"""The earliest message a shrunk fault is moved to. A restart right after the first send lands before that
message's broadcast may have reached the client (measured on replay-bug at load average 21: a case
shrunk to a restart after message 1 replayed only 2 of 3)."""


def size(data: dict[str, Any]) -> tuple[int, int, int]:
    """What shrinking makes smaller, most important first: faults, messages in all, clients."""
    clients = int(data["clients"]["count"])
    return len(data["faults"]), int(data["workload"]["messages"]) * clients, clients


def _trigger_n(fault: dict[str, Any]) -> int:
    trigger = fault.get("trigger") or {}
    spec = trigger.get("after_sends") or trigger.get("frame") or {}
    return int(spec.get("n", spec.get("nth", 0)))


def _with_trigger_n(fault: dict[str, Any], n: int) -> dict[str, Any]:
    fault = copy.deepcopy(fault)
    trigger = fault["trigger"]
    if "after_sends" in trigger:
        trigger["after_sends"]["n"] = n
    else:
        trigger["frame"]["nth"] = n
    return fault


def _fits(data: dict[str, Any]) -> dict[str, Any]:
    """The workload shortened to the last trigger plus the tail, so every fault is followed by traffic."""
    last = max((_trigger_n(f) for f in data["faults"]), default=0)
    data["workload"]["messages"] = min(int(data["workload"]["messages"]), max(last, 1) + TAIL)
    return data


def _likely_cause(fault: dict[str, Any]) -> int:
    """How likely a fault is to be a delivery violation's cause, most likely 0: an outage of the server or
    its database, then a lost or mangled frame, then a cut connection, then anything that only slows."""
    kind = fault_kind(fault["kind"])
    if kind.acts_on != "client":
        return 0
    if kind.needs_frames:
        return 1
    return 2 if fault["kind"] in RECONNECTING else 3


def candidates(data: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Smaller variants of `data`, the ones most likely to shrink it most first."""
    faults = data["faults"]
    by_cause = sorted(range(len(faults)), key=lambda i: (_likely_cause(faults[i]), i))
    if len(faults) > 2:
        # Most violations have one cause: try each fault alone, likeliest cause first, before taking them
        # away one by one.
        for i in by_cause:
            alone = copy.deepcopy(data)
            alone["faults"] = [copy.deepcopy(faults[i])]
            yield f"only fault {i} ({faults[i]['kind']})", _fits(alone)
        # Then the likeliest cause with each other fault, in their scheduled order: a fault started at the
        # same send before it shifts it by the milliseconds its own start takes (measured on
        # ack-before-commit: a crash alone at c1's first send came before the ack and lost nothing; after
        # a disconnect of c2 at that send it fell between ack and commit every time, and the case, shrunk
        # one drop at a time, stayed at four faults when the budget ended).
        first = by_cause[0]
        for j in by_cause[1:]:
            pair = copy.deepcopy(data)
            pair["faults"] = [copy.deepcopy(faults[k]) for k in sorted((first, j))]
            yield f"only faults {min(first, j)} and {max(first, j)}", _fits(pair)
    for i in reversed(by_cause):
        smaller = copy.deepcopy(data)
        del smaller["faults"][i]
        yield f"drop fault {i} ({faults[i]['kind']})", _fits(smaller)
    count = int(data["clients"]["count"])
    if count > 1:
        smaller = copy.deepcopy(data)
        smaller["clients"]["count"] = count - 1
        slots = {f"c{i}" for i in range(1, count)}
        for fault in smaller["faults"]:
            if fault.get("target", "c1").startswith("c") and fault.get("target") not in slots | {None}:
                fault["target"] = "c1"
            after = fault["trigger"].get("after_sends")
            if after and after["client"] not in slots:
                after["client"] = "c1"
        yield f"{count - 1} client(s)", smaller
    fitted = _fits(copy.deepcopy(data))
    if fitted["workload"]["messages"] < data["workload"]["messages"]:
        yield f"{fitted['workload']['messages']} messages", fitted
    for i, fault in enumerate(faults):
        n = _trigger_n(fault)
        if n > EARLIEST:
            smaller = copy.deepcopy(data)
            smaller["faults"][i] = _with_trigger_n(fault, max(EARLIEST, n // 2))
            yield f"fault {i} at message {max(EARLIEST, n // 2)}", _fits(smaller)
    rate = data["workload"].get("rate") or 0
    if rate > RATE / 2:
        smaller = copy.deepcopy(data)
        smaller["workload"]["rate"] = RATE / 2
        yield f"rate {RATE / 2:g}/s", smaller


def shrink(data: dict[str, Any], cause: frozenset[str], trial: Trial, *, confirm: bool = True) -> Shrunk:
    """Shrink `data`, which showed the violation categories `cause`, keeping each candidate that still
    shows one of them (with `confirm`, in two runs in a row: an edit can leave a case that fails only
    some of the time, such as a restart placed where the client may not have seen a message yet, and
    such a case would then fail its proof)."""
    best = Shrunk(copy.deepcopy(data))
    rejected: set[tuple[str, int, int]] = set()
    """Edits that lost the violation, with the faults and clients they were tried at: not tried again
    while those stay (dropping the one fault left loses it again after a shorter workload, too)."""
    progress = True
    while progress:
        progress = False
        for edit, candidate in candidates(best.data):
            faults, _, clients = size(best.data)
            tried = (edit, faults, clients)
            if tried in rejected:
                continue
            shown = trial(candidate, best.data)
            if shown is None:
                best.cut_short = True
                return best
            best.runs += 1
            if shown & cause and confirm:
                shown = trial(candidate, best.data)
                if shown is None:
                    best.cut_short = True
                    return best
                best.runs += 1
            if shown & cause:
                best.steps.append(best.data)
                best.data = candidate
                best.kept.append(edit)
                progress = True
                break
            rejected.add(tried)
    return best
