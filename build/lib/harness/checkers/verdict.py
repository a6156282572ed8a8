"""What a check concludes: the anomalies found, the guarantees they break, latencies and recoveries.

A `Verdict` is plain data. It round-trips through JSON (`to_json` / `from_json`) so a saved run's
`verdict.json` can be re-read by reports and by `sio-harness report` without re-checking anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from harness.errors import HarnessError

CLIENT_TO_SERVER = ("lost", "abandoned", "duplicated", "unexpected", "recovered", "reordered")
"""Per logical message, judged against the final database rows (DESIGN.md section 8)."""

SERVER_TO_CLIENT = ("missed", "redelivered", "out_of_order", "phantom")
"""Per client lineage connected at the end. `out_of_order` is section 8's server->client `reordered`,
renamed so that every category has exactly one name in counts and expectations."""

CATEGORIES = CLIENT_TO_SERVER + SERVER_TO_CLIENT

GUARANTEES: dict[str, tuple[str, ...]] = {
    "at-most-once": ("duplicated", "redelivered"),
    "at-least-once": ("lost", "abandoned", "missed"),
    "exactly-once": ("duplicated", "redelivered", "lost", "abandoned", "missed"),
    "ordered": ("reordered", "out_of_order"),
    # Not in DESIGN.md section 8: nothing appears that nobody sent or that the database does not hold.
    # Kept out of exactly-once so section 8's definitions stay exact; expect it explicitly.
    "no-phantoms": ("unexpected", "phantom"),
}
"""Each guarantee and the categories that break it."""

DEFAULT_EXPECTED = ("exactly-once",)


class ExpectationError(HarnessError):
    """An expectation names a guarantee or category the checker does not know."""


class VerdictFormatError(HarnessError):
    """A saved verdict.json is not a verdict this version can read (re-check the run instead)."""


@dataclass(frozen=True)
class Expectations:
    """What a run must show: guarantees that must hold, and violations that must be found.

    `violations` maps a category to the minimum number of offending messages (a mutant's scenario
    expects, say, `{"duplicated": 1}`).
    """

    guarantees: tuple[str, ...] = DEFAULT_EXPECTED
    violations: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in self.guarantees:
            if name not in GUARANTEES:
                raise ExpectationError(
                    f"unknown guarantee {name!r}; expected one of: {', '.join(GUARANTEES)}")
        for name, minimum in self.violations.items():
            if name not in CATEGORIES:
                raise ExpectationError(
                    f"unknown violation category {name!r}; expected one of: {', '.join(CATEGORIES)}")
            if not isinstance(minimum, int) or minimum < 1:
                raise ExpectationError(
                    f"violation {name!r} needs a minimum count >= 1, got {minimum!r}")

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
    def from_scenario(cls, scenario: Mapping[str, Any] | None) -> Expectations:
        """Read `scenario["expectations"]`: `{"guarantees": [...], "violations": {cat: min} | [cat]}`.

        A scenario without expectations expects exactly-once, the strongest promise of the tutorial.
        """
        exp = (scenario or {}).get("expectations")
        if not exp:
            return cls()
        if not isinstance(exp, Mapping):
            raise ExpectationError(
                "scenario 'expectations' must be an object like "
                '{"guarantees": ["exactly-once"], "violations": {"duplicated": 1}}')
        guarantees = exp.get("guarantees", [])
        if isinstance(guarantees, str):
            guarantees = [guarantees]
        violations = exp.get("violations", {})
        if isinstance(violations, (list, tuple)):
            violations = {name: 1 for name in violations}
        return cls(guarantees=tuple(guarantees), violations=dict(violations))


@dataclass
class LatencyStats:
    """Nearest-rank percentiles of one latency series, in milliseconds."""

    count: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


@dataclass
class Histogram:
    """Counts of latencies per bucket: bucket i spans [edges_ms[i], edges_ms[i+1]), the last is open."""

    edges_ms: list[float]
    counts: list[int]


@dataclass
class Recovery:
    """One healed fault and how long the system took to make progress again.

    `recovery_ms` is the time from the heal to the first successful operation (a received message or
    an acknowledged send) of the faulted client, or of any client for a fault not aimed at one client;
    None when nothing succeeded after the heal.
    """

    fault: str
    target: str
    started_ms: float | None
    healed_ms: float
    recovery_ms: float | None


@dataclass
class Verdict:
    """The result of checking one run. Times are milliseconds since the first event of the history."""

    expected: list[str]
    expected_violations: dict[str, int]
    guarantees: dict[str, bool]
    client_to_server: dict[str, list[str]]
    server_to_client: dict[str, dict[str, list[str]]]
    unchecked_lineages: dict[str, str]
    latency: dict[str, dict[str, LatencyStats]]
    histograms: dict[str, Histogram]
    recoveries: list[Recovery]
    events: int
    messages: int
    rows: int
    duration_ms: float
    notes: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        """Offending messages per category; server->client categories summed over lineages."""
        counts = {name: len(self.client_to_server.get(name, ())) for name in CLIENT_TO_SERVER}
        for name in SERVER_TO_CLIENT:
            counts[name] = sum(len(per.get(name, ())) for per in self.server_to_client.values())
        return counts

    @property
    def failures(self) -> list[str]:
        """Each unmet expectation as one sentence; empty when the run meets its expectations."""
        counts = self.counts
        out = []
        for name in self.expected:
            if not self.guarantees.get(name, False):
                broken = [f"{counts[c]} {c}" for c in GUARANTEES[name] if counts[c]]
                out.append(f"{name} violated: {', '.join(broken)}")
        for name, minimum in self.expected_violations.items():
            if counts.get(name, 0) < minimum:
                out.append(f"expected at least {minimum} {name}, found {counts.get(name, 0)}")
        return out

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_json(self) -> str:
        return orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2).decode()

    @classmethod
    def from_json(cls, data: str | bytes | Mapping[str, Any]) -> Verdict:
        raw = orjson.loads(data) if isinstance(data, (str, bytes)) else dict(data)
        try:
            raw["latency"] = {kind: {who: LatencyStats(**s) for who, s in per.items()}
                              for kind, per in raw["latency"].items()}
            raw["histograms"] = {kind: Histogram(**h) for kind, h in raw["histograms"].items()}
            raw["recoveries"] = [Recovery(**r) for r in raw["recoveries"]]
            return cls(**raw)
        except (KeyError, TypeError) as exc:
            raise VerdictFormatError(
                f"not a verdict written by this version of sio-harness ({exc}); "
                "re-check the run with `sio-harness check RUN_DIR`") from exc
