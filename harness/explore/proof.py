"""The proof that a found case replays: its scenario file run N times afresh, the failures counted.

A case is reported as found only when at least one replay shows one of its violation categories; the
report says how often ("3 of 3 replays violate exactly-once: redelivered 1"). A case no replay shows is
reported as not reproducible, with the run folders of its replays (docs/explore.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.runner import RunResult


@dataclass
class Replay:
    run_dir: str
    status: str
    reasons: list[str]
    violated: bool
    """It showed one of the case's violation categories."""


@dataclass
class Proof:
    scenario: Path
    wanted: int
    replays: list[Replay] = field(default_factory=list)

    @property
    def reproduced(self) -> int:
        return sum(r.violated for r in self.replays)

    @property
    def complete(self) -> bool:
        return len(self.replays) == self.wanted

    def sentence(self) -> str:
        """`3 of 3 replays violate exactly-once: redelivered 1`."""
        shown = next((r for r in self.replays if r.violated), None)
        what = "; ".join(shown.reasons) if shown else "no replay showed the violation"
        text = f"{self.reproduced} of {len(self.replays)} replays {_verb(what)}"
        if not self.complete and self.replays and not self.replays[-1].violated:
            text += " (stopped at the first replay without it)"
        elif not self.complete:
            text += f" ({self.wanted - len(self.replays)} not run: the budget ran out)"
        return text

    def to_json(self) -> dict[str, Any]:
        return {"scenario": str(self.scenario), "wanted": self.wanted, "reproduced": self.reproduced,
                "sentence": self.sentence(), "replays": [r.__dict__ for r in self.replays]}


def _verb(reason: str) -> str:
    """`exactly-once violated: redelivered 1` -> `violate exactly-once: redelivered 1`."""
    head, sep, tail = reason.partition(" violated")
    return f"violate {head}{tail}" if sep else reason


def replay(result: RunResult, cause: frozenset[str]) -> Replay:
    from harness.strategies import violations

    return Replay(str(result.run_dir), result.outcome.status, list(result.outcome.reasons),
                  result.outcome.status == "fail" and bool(violations(result) & cause))
