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
from harness.expectations import (
    CATEGORIES,
    CLIENT_TO_SERVER,
    DEFAULT_EXPECTED,
    GUARANTEES,
    SERVER_TO_CLIENT,
    ExpectationError,
    Expectations,
)

__all__ = ["CATEGORIES", "CLIENT_TO_SERVER", "DEFAULT_EXPECTED", "GUARANTEES", "SERVER_TO_CLIENT",
           "ExpectationError", "Expectations", "Histogram", "LatencyStats", "Recovery", "Verdict",
           "VerdictFormatError"]


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




class VerdictFormatError(HarnessError):
    """A saved verdict.json is not a verdict this version can read (re-check the run instead)."""


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
    """The result of checking one run. Times are milliseconds since the first event of the history.

    `guarantees` maps each guarantee to True (held), False (violated) or None (inconclusive: no
    evidence); `inconclusive` lists what evidence was missing (empty: the verdict is conclusive).
    Whether the run passed is not the verdict's to say: `harness.outcome.decide` says it.
    """

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
    expected_absent: list[str] = field(default_factory=list)
    inconclusive: list[str] = field(default_factory=list)
    """Why evidence is missing (the run did not become quiet, the history is torn, ...); empty when
    the verdict is conclusive."""
    undecided: list[str] = field(default_factory=list)
    """The categories whose absence the evidence cannot prove: a count of 0 there means "not seen"."""
    reconnects: dict[str, int] = field(default_factory=dict)
    """Reconnects after a recoverable disconnect (`RECOVERABLE_REASONS`), by the `recovered` flag of
    their connect: `{"recovered": n, "not_recovered": m}`."""
    expected_recovery: dict[str, Any] | None = None

    @property
    def counts(self) -> dict[str, int]:
        """Offending messages per category; server->client categories summed over lineages."""
        counts = {name: len(self.client_to_server.get(name, ())) for name in CLIENT_TO_SERVER}
        for name in SERVER_TO_CLIENT:
            counts[name] = sum(len(per.get(name, ())) for per in self.server_to_client.values())
        return counts

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
