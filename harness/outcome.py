"""The one rule that says whether a run passed: pass, fail or inconclusive, from a verdict and expectations.

Every command that judges a run (`run`, `replay`, `check`, `matrix`, `soak`, `explore`, the guarantee
suite) calls `decide`, so two of them can never disagree about the same run (docs/runner.md, "Outcome").

- **fail**: an expectation that was decided is unmet: an expected guarantee is violated, a required
  violation was judged and not found (or too few), or a category that must be absent was found;
- **inconclusive**: nothing failed, but evidence is missing: an expected guarantee could not be judged,
  a required or absent category could not be judged, the run did not become quiet, or a fault's trigger
  never fired (the schedule did not happen as written);
- **pass**: otherwise.

Above all of these, a run whose harness was overloaded (its own event loop lagging, its proxy holding a
backlog for a client that could not read: `harness.harnessload`) is **inconclusive** whatever it found:
its losses and timeouts may be the harness's, not the server's, and its pass proves nothing under a load
the harness could not carry. Its reasons name the overload first, then what the run would have shown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from harness.checkers.verdict import Verdict
from harness.expectations import GUARANTEES, Expectations

Status = Literal["pass", "fail", "inconclusive"]

EXIT_CODES: dict[str, int] = {"pass": 0, "fail": 1, "inconclusive": 3}
"""Process exit code per status; 2 stays "bad usage or configuration" (harness.errors)."""

NOT_QUIET = "the run did not become quiet"


@dataclass(frozen=True)
class Outcome:
    """A run's status and why: the unmet expectations first, then the missing evidence."""

    status: Status
    reasons: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "reasons": list(self.reasons)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Outcome:
        status = data.get("status")
        if status not in EXIT_CODES:
            raise ValueError(f"not an outcome status: {status!r}")
        return cls(cast(Status, status), [str(r) for r in data.get("reasons", [])])


def _unjudged(verdict: Verdict, category: str) -> bool:
    """Whether the verdict could not judge `category`: the checker says so (`undecided`), or every
    guarantee it breaks is inconclusive (a verdict written before `undecided` existed)."""
    if category in verdict.undecided:
        return True
    names = [g for g, cats in GUARANTEES.items() if category in cats]
    return bool(names) and all(g in verdict.guarantees and verdict.guarantees[g] is None for g in names)


def decide(verdict: Verdict, expectations: Expectations, *, untriggered: Iterable[str] = (),
           quiet_reached: bool = True, overloaded: Iterable[str] = ()) -> Outcome:
    """The run's outcome under `expectations` (see the module docstring for the rule); `overloaded`: the
    reasons `harness.harnessload.overload_reasons` gave, if any."""
    counts = verdict.counts
    failed: list[str] = []
    missing: list[str] = []
    for name in expectations.guarantees:
        held = verdict.guarantees.get(name, False)
        if held is None:
            missing.append(f"{name} could not be judged")
        elif not held:
            broken = [f"{counts[c]} {c}" for c in GUARANTEES[name] if counts.get(c)]
            failed.append(f"{name} violated: {', '.join(broken)}" if broken else f"{name} violated")
    for name, minimum in expectations.violations.items():
        found = counts.get(name, 0)
        if found >= minimum and name not in verdict.undecided:
            continue
        if _unjudged(verdict, name):
            missing.append(f"expected at least {minimum} {name}, found {found}, but {name} could not be judged")
        else:
            failed.append(f"expected at least {minimum} {name}, found {found}")
    for name in expectations.absent:
        if counts.get(name, 0) and name not in verdict.undecided:
            failed.append(f"expected no {name}, found {counts[name]}")
        elif _unjudged(verdict, name):
            missing.append(f"expected no {name}, but {name} could not be judged")
    _recovery(verdict, expectations, failed, missing)
    if missing:
        missing += [r for r in verdict.inconclusive if r not in missing]
    if not quiet_reached and not any(r.startswith(NOT_QUIET) for r in missing):
        missing.append(NOT_QUIET)
    fired_not = list(untriggered)
    if fired_not:
        missing.append(f"fault trigger never fired: {', '.join(fired_not)}")
    overload = list(overloaded)
    if overload:
        return Outcome("inconclusive", overload + failed + missing)
    status: Status = "fail" if failed else "inconclusive" if missing else "pass"
    return Outcome(status, failed + missing)


def _recovery(verdict: Verdict, expectations: Expectations, failed: list[str], missing: list[str]) -> None:
    """The recovery expectation: too few reconnects with the wanted flag fails, unless no reconnect
    that could recover happened at all (the schedule gave the server nothing to restore)."""
    wanted = expectations.recovery
    if wanted is None:
        return
    flag = "recovered" if wanted["recovered"] else "not_recovered"
    found = verdict.reconnects.get(flag, 0)
    total = sum(verdict.reconnects.values())
    if found >= wanted["min"]:
        return
    text = (f"expected at least {wanted['min']} reconnects with recovered={str(wanted['recovered']).lower()}, "
            f"found {found}")
    if total:
        failed.append(f"{text} of {total}")
    else:
        missing.append(f"{text}: no reconnect after a recoverable disconnect")


def decide_saved(verdict: Verdict, expectations: Expectations, run_meta: Mapping[str, Any] | None) -> Outcome:
    """`decide` for a saved run: quiet, untriggered faults and the harness's overload come from its
    `run.json` (None: a folder without one, such as a hand-made history, which has none to report)."""
    meta = run_meta or {}
    quiet = meta.get("quiet") or {}
    load = meta.get("harness_load") or {}
    return decide(verdict, expectations, untriggered=[str(u) for u in meta.get("untriggered", [])],
                  quiet_reached=bool(quiet.get("reached", True)),
                  overloaded=[str(r) for r in load.get("overloaded", [])])


def expectations_of(verdict: Verdict) -> Expectations:
    """The expectations a verdict was checked against, as it recorded them."""
    return Expectations(guarantees=tuple(verdict.expected), violations=dict(verdict.expected_violations),
                        absent=tuple(verdict.expected_absent), recovery=verdict.expected_recovery)


def observed(verdict: Verdict) -> str:
    """What a run showed, for a run that expected nothing:
    `observed: at-most-once holds; exactly-once violated: lost 3`."""
    counts = verdict.counts
    held = [g for g, h in verdict.guarantees.items() if h is True]
    parts = []
    if held:
        parts.append(f"{', '.join(held)} {'holds' if len(held) == 1 else 'hold'}")
    for name, h in verdict.guarantees.items():
        if h is False:
            broken = ", ".join(f"{c} {counts[c]}" for c in GUARANTEES.get(name, ()) if counts.get(c))
            parts.append(f"{name} violated" + (f": {broken}" if broken else ""))
        elif h is None:
            parts.append(f"{name} inconclusive")
    return "observed: " + ("; ".join(parts) or "nothing judged")


def saved_outcome(verdict: Verdict, run_meta: Mapping[str, Any] | None) -> Outcome:
    """The outcome a run recorded in its `run.json`, else the one its verdict and `run.json` give."""
    stored = (run_meta or {}).get("outcome")
    if isinstance(stored, Mapping):
        try:
            return Outcome.from_dict(stored)
        except ValueError:
            pass
    return decide_saved(verdict, expectations_of(verdict), run_meta)
