"""What a check concludes: the anomalies found, the guarantees they break, latencies and recoveries.

A `Verdict` is plain data. It round-trips through JSON (`to_json` / `from_json`) so a saved run's
`verdict.json` can be re-read by reports and by `sio-harness report` without re-checking anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import orjson

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
    "no-phantoms": ("unexpected", "phantom"),
}
"""Each guarantee and the categories that break it. `recovered` breaks none."""

DEFAULT_EXPECTED = ("exactly-once",)


def judge(counts: Mapping[str, int], undecided: Iterable[str]) -> dict[str, bool | None]:
    """Each guarantee: False when a decided category breaking it was found, else None when one of
    them could not be judged, else True. A guarantee is never held on evidence that is missing, and
    never broken by what an undecided category merely saw (a delivery still in flight)."""
    unknown = set(undecided)
    out: dict[str, bool | None] = {}
    for name, categories in GUARANTEES.items():
        if any(counts.get(c, 0) for c in categories if c not in unknown):
            out[name] = False
        else:
            out[name] = None if unknown.intersection(categories) else True
    return out


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
    guarantees: dict[str, bool | None]
    """True held, False violated, None inconclusive: no violation found and some evidence missing."""
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
    inconclusive: list[str] = field(default_factory=list)
    """Why evidence is missing (the run did not become quiet, the history is torn, ...); empty when
    the verdict is conclusive."""
    undecided: list[str] = field(default_factory=list)
    """The categories whose absence the evidence cannot prove: a count of 0 there means "not seen"."""

    @property
    def counts(self) -> dict[str, int]:
        """Offending messages per category; server->client categories summed over lineages."""
        counts = {name: len(self.client_to_server.get(name, ())) for name in CLIENT_TO_SERVER}
        for name in SERVER_TO_CLIENT:
            counts[name] = sum(len(per.get(name, ())) for per in self.server_to_client.values())
        return counts

    @property
    def failures(self) -> list[str]:
        """Each unmet expectation as one sentence, inconclusive ones included (they say so); empty
        when the run meets its expectations. `harness.outcome` tells fail from inconclusive by
        `guarantees` (None) and `undecided`."""
        counts = self.counts
        out = []
        why = "; ".join(self.inconclusive) or "no evidence"
        for name in self.expected:
            held = self.guarantees.get(name, False)
            if held is None:
                out.append(f"{name} inconclusive: {why}")
            elif not held:
                broken = [f"{counts[c]} {c}" for c in GUARANTEES[name] if counts[c]]
                out.append(f"{name} violated: {', '.join(broken)}")
        for name, minimum in self.expected_violations.items():
            if counts.get(name, 0) < minimum:
                undecided = " (inconclusive: " + why + ")" if name in self.undecided else ""
                out.append(f"expected at least {minimum} {name}, found {counts.get(name, 0)}{undecided}")
        return out

    @property
    def passed(self) -> bool:
        """No unmet expectation, decided or not: a verdict never passes on missing evidence."""
        return not self.failures

    def missing_evidence(self, reason: str, categories: Iterable[str] = CATEGORIES) -> Verdict:
        """This verdict with `reason` added and `categories` undecided (a torn history, say)."""
        undecided = [c for c in CATEGORIES if c in self.undecided or c in set(categories)]
        return replace(self, inconclusive=[*self.inconclusive, reason], undecided=undecided,
                       guarantees=judge(self.counts, undecided))

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
