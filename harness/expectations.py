"""What a run must show: the anomaly categories, the guarantees they break, and one run's expectations.

Ground layer: scenarios, checkers, the outcome rule and the guarantee matrix all read these tables, so
every category and guarantee has exactly one name and one definition (docs/checkers.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.errors import HarnessError

CLIENT_TO_SERVER = ("lost", "abandoned", "indeterminate", "duplicated", "unexpected", "recovered",
                    "reordered")
"""Per logical message, judged against the final database rows (docs/checkers.md). `abandoned` never
left the page (`fail`); `indeterminate` may have (`info`, or no completion) yet no row holds it."""

SERVER_TO_CLIENT = ("missed", "redelivered", "out_of_order", "phantom")
"""Per client lineage. `missed` needs the lineage's final sync (connected at the end, or a successor
page that resumed past a gap); the others are certain on every lineage. `out_of_order` is the
server->client `reordered`, renamed so that every category has exactly one name."""

CATEGORIES = CLIENT_TO_SERVER + SERVER_TO_CLIENT

GUARANTEES: dict[str, tuple[str, ...]] = {
    "at-most-once": ("duplicated", "redelivered"),
    "at-least-once": ("lost", "abandoned", "indeterminate", "missed"),
    # Like Jepsen's total-queue: valid only with nothing lost and nothing unexpected (docs/checkers.md).
    "exactly-once": ("lost", "abandoned", "indeterminate", "duplicated", "unexpected", "missed",
                     "redelivered", "phantom"),
    "ordered": ("reordered", "out_of_order"),
    # Nothing appears that nobody sent or that the database does not hold.
    "no-phantoms": ("unexpected", "phantom"),
}
"""Each guarantee and the categories that break it. `recovered` breaks none."""

DEFAULT_EXPECTED = ("exactly-once",)

RECOVERABLE_REASONS = ("transport close", "transport error", "ping timeout")
"""The client-side disconnect reasons after which a server with connection state recovery keeps the
session (socket.io 4.8 persists it for these, never after `io client disconnect` or `io server
disconnect`): the next connect of the same page is a reconnect that should recover (docs/checkers.md)."""

RECOVERY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["recovered"],
    "description": "at least `min` (default 1) reconnects after a recoverable disconnect whose connect "
                   "carried this `recovered` flag",
    "properties": {"recovered": {"type": "boolean"}, "min": {"type": "integer", "minimum": 1}},
}
"""The scenario schema of `expectations.recovery` (harness.scenario.schema() inserts it)."""


class ExpectationError(HarnessError):
    """An expectation names a guarantee or category the checker does not know, or contradicts itself."""


@dataclass(frozen=True)
class Expectations:
    """What a run must show.

    `guarantees` must hold; `violations` maps a category to the minimum number of offending messages
    that must be found (a mutant's scenario expects, say, `{"duplicated": 1}`); `absent` names categories
    that must be found zero times where no guarantee names exactly them (CSR's "nothing missed").
    """

    guarantees: tuple[str, ...] = DEFAULT_EXPECTED
    violations: Mapping[str, int] = field(default_factory=dict)
    absent: tuple[str, ...] = ()
    recovery: Mapping[str, Any] | None = None
    """`{"recovered": False, "min": 1}`: at least one reconnect that should have recovered its session
    did not (a reported CSR bug); `{"recovered": True, "min": n}`: at least n did."""

    def __post_init__(self) -> None:
        # Lists from JSON become tuples, so that two equal expectations compare (and hash) equal.
        object.__setattr__(self, "guarantees", tuple(self.guarantees))
        object.__setattr__(self, "absent", tuple(self.absent))
        object.__setattr__(self, "violations", dict(self.violations))
        if self.recovery is not None:
            object.__setattr__(self, "recovery", _recovery(self.recovery))
        for name in self.guarantees:
            if name not in GUARANTEES:
                raise ExpectationError(
                    f"unknown guarantee {name!r}; expected one of: {', '.join(GUARANTEES)}")
        for name, minimum in self.violations.items():
            if name not in CATEGORIES:
                raise ExpectationError(
                    f"unknown violation category {name!r}; expected one of: {', '.join(CATEGORIES)}")
            if not isinstance(minimum, int) or isinstance(minimum, bool) or minimum < 1:
                raise ExpectationError(
                    f"violation {name!r} needs a minimum count >= 1, got {minimum!r}")
        for name in self.absent:
            if name not in CATEGORIES:
                raise ExpectationError(
                    f"unknown absent category {name!r}; expected one of: {', '.join(CATEGORIES)}")
            if name in self.violations:
                raise ExpectationError(
                    f"category {name!r} cannot be both a required violation and absent")

    @classmethod
    def of(cls, expected: Expectations | Iterable[str] | None) -> Expectations:
        """Accept an `Expectations`, a list of guarantee names, or None (exactly-once)."""
        if expected is None:
            return cls()
        if isinstance(expected, Expectations):
            return expected
        if isinstance(expected, str):
            expected = [expected]
        return cls(guarantees=tuple(expected))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Expectations:
        """Read `{"guarantees": [...], "violations": {cat: min} | [cat], "absent": [cat]}`; missing
        fields are empty (no guarantee, no violation)."""
        if not isinstance(data, Mapping):
            raise ExpectationError(
                "'expectations' must be an object like "
                '{"guarantees": ["exactly-once"], "violations": {"duplicated": 1}, "absent": ["missed"]}')
        guarantees = data.get("guarantees", [])
        if isinstance(guarantees, str):
            guarantees = [guarantees]
        violations = data.get("violations", {})
        if isinstance(violations, (list, tuple)):
            violations = {name: 1 for name in violations}
        absent = data.get("absent", [])
        if isinstance(absent, str):
            absent = [absent]
        return cls(guarantees=tuple(guarantees), violations=dict(violations), absent=tuple(absent),
                   recovery=data.get("recovery"))

    @classmethod
    def from_scenario(cls, scenario: Mapping[str, Any] | None) -> Expectations:
        """Read `scenario["expectations"]`; a scenario without expectations expects exactly-once, the
        strongest promise of the tutorial."""
        exp = (scenario or {}).get("expectations")
        if not exp:
            return cls()
        return cls.from_dict(exp)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"guarantees": list(self.guarantees), "violations": dict(self.violations),
                                "absent": list(self.absent)}
        if self.recovery is not None:
            data["recovery"] = dict(self.recovery)
        return data

    @property
    def empty(self) -> bool:
        """Nothing is expected: the run only reports what it observed."""
        return not (self.guarantees or self.violations or self.absent or self.recovery)


def _recovery(data: Any) -> dict[str, Any]:
    """`{"recovered": bool, "min": int >= 1}` with `min` filled, or ExpectationError."""
    if not isinstance(data, Mapping) or not isinstance(data.get("recovered"), bool) \
            or set(data) - {"recovered", "min"}:
        raise ExpectationError(f'recovery must be like {{"recovered": false, "min": 1}}, got {data!r}')
    minimum = data.get("min", 1)
    if not isinstance(minimum, int) or isinstance(minimum, bool) or minimum < 1:
        raise ExpectationError(f"recovery needs a minimum count >= 1, got {minimum!r}")
    return {"recovered": data["recovered"], "min": minimum}
