"""One exploration from start to result: search, shrink, prove, count coverage, within one budget.

The budget is split as the work goes (docs/explore.md): the search stops drawing while there is still
time for a found case's confirmation and the proof's replays (and draws no more faults than a cause once
shrinking would have no time); shrinking stops at the proof's time (twice it, once the case is down to
its cause), keeping the
smallest case so far and saying it was cut short; the proof's replays use what is left. A found case
whose replays never show its violation is recorded as not reproducible, one that some replays show is set
aside, and the search goes on while time remains (up to `give_up` such cases); the best case set aside is
reported if no case replays every time. The result is one JSON object (`explore.json`), also what
`--workers` and `--shard` merge.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.checkers.coverage import WINDOWS
from harness.errors import HarnessError
from harness.explore.proof import Proof, replay
from harness.explore.shrink import CAUSE_TARGET, Shrunk, shrink, size
from harness.report.explorations import EXIT_CODES, RESULT, merge
from harness.scenario import load_raw
from harness.strategies import KINDS, Campaign, Found, SearchOver, run_search, violations
from harness.targetfile import load_target


def target_block(path: str | None, step: str | None) -> tuple[dict[str, Any] | None, str]:
    """The scenario `target` block of `--target FILE` (None: the reference server) and the step searched.

    FILE is a target file (`"target_version": 1`, docs/targets.md), whose `step` is the default step; or a
    scenario file, whose `target` block is taken as it is.
    """
    if path is None:
        return None, step or "exactly-once"
    data, where = load_raw(path)
    if "target_version" in data:
        spec = load_target(path)
        return {"kind": "external", "file": str(Path(path).resolve())}, step or str(spec.step)
    block = data.get("target")
    if not isinstance(block, dict):
        raise HarnessError(f"--target {where}: neither a target file nor a scenario file with a `target` block")
    return block, step or str(block.get("profile") or "exactly-once")


def target_nodes(target: dict[str, Any] | None) -> int:
    """Server nodes of a scenario `target` block (1 for the reference server's default)."""
    if target is None:
        return 1
    if "file" in target:
        return load_target(target["file"]).nodes
    if "spec" in target:
        return int(target["spec"].get("nodes", 1))
    return int(target.get("nodes", 1))


@dataclass
class Session:
    profile: str
    mutant: str | None = None
    storage: str = "sqlite"
    reports: Path = Path("reports/explore")
    kinds: tuple[str, ...] = KINDS
    seed: int = 1
    target: dict[str, Any] | None = None
    nodes: int = 1
    """Server nodes of the target (see `target_nodes`)."""
    budget: float = 600.0
    replays: int = 3
    steps: int = 8
    database: Path | None = None
    """Where found cases are remembered (`<database>/<step>-<mutant>-<target>/`), None: remember nothing."""
    shard: str | None = None
    guess: float = 6.0
    """Seconds a run is taken to last before the first has run (see Campaign.guess)."""
    give_up: int = 3
    """Cases found that did not replay, after which the search stops: the target is not deterministic
    enough for a search to be worth its time (or the harness is not), and the report says so. Not in a
    hunt, which spends its whole budget."""
    hunt: bool = False
    """Go on after a proven case until the budget is spent: each case followed becomes a cause
    (`Campaign.explains`), failures it explains are counted, not followed, and the search looks for
    another. The remembered cases are not run first (they would be found again at once)."""
    findings: list[dict[str, Any]] = field(default_factory=list)
    """A hunt's proven cases, in the order found."""
    phase: str = "search"
    best: dict[str, Any] | None = None
    unreproducible: list[dict[str, Any]] = field(default_factory=list)
    partial: list[dict[str, Any]] = field(default_factory=list)
    """Cases some but not all of whose replays violated: kept in hand while the search looks for one that
    replays every time; the best is reported if none does."""
    unconfirmed: list[str] = field(default_factory=list)
    """First runs of failures that did not fail again on one more run: not shrunk, and the search goes on."""
    campaign: Campaign = field(init=False)

    def __post_init__(self) -> None:
        self.campaign = Campaign(profile=self.profile, mutant=self.mutant, storage=self.storage,
                                 reports=self.reports, kinds=self.kinds, seed=self.seed, target=self.target,
                                 nodes=self.nodes,
                                 budget=self.budget, proofs=self.replays, guess=self.guess)

    @property
    def label(self) -> str:
        name = _target_name(self.target)
        against = f"{self.profile} (target {name})" if name else self.profile
        return f"{against} with mutant {self.mutant}" if self.mutant else against

    def run(self, on_change: Callable[[Session], None] | None = None) -> dict[str, Any]:
        """Explore until a case is proven, or the budget or an interruption ends it; the result, written."""
        campaign = self.campaign
        if on_change is not None:
            campaign.on_run = lambda: on_change(self)
        result: dict[str, Any] | None = None
        with campaign.interruptible():
            found = None if self.hunt else self._remembered()
            while (result is None and not campaign.interrupted
                   and (self.hunt or len(self.unreproducible) + len(self.partial) < self.give_up)):
                found = found or run_search(campaign, self._settings())
                if found is None:
                    break
                result = self._follow(found, on_change)
                if self.hunt:
                    # Its failure is followed: read as a pass from now on, or the next search's first draw
                    # of the same schedule would end it with the kept failure and no case.
                    campaign.discount(found.data)
                    if result is not None:
                        _move_scenario(result, self._scenario_file(len(self.findings) + 1))
                        self._remember(result)
                        self.findings.append(result)
                        result = None
                found = None
        if self.hunt and self.findings:
            result = self.findings[0]
        if result is None and self.partial:
            result = max(self.partial, key=_rate)
            self.partial.remove(result)
            _move_scenario(result, self._scenario_file())
        if result is not None and not self.hunt:
            self._remember(result)
        final = self._result(result)
        write_result(self.reports, final)
        return final

    @property
    def memory(self) -> Path | None:
        """This target's folder of remembered cases: one scenario file per case that replayed."""
        if self.database is None:
            return None
        return self.database / f"{self.profile}-{self.mutant or 'none'}-{_target_name(self.target) or 'reference'}"

    def _remembered(self) -> Found | None:
        """Run each remembered case (newest first) until one fails again: a second search of the same
        target starts from what the first found."""
        folder = self.memory
        if folder is None or not folder.is_dir():
            return None
        for path in sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True):
            data, _ = load_raw(path)
            data["seed"] = self.seed
            try:
                if self.campaign.check(data):
                    return self.campaign.found
            except SearchOver:
                return None
        return None

    def _remember(self, case: dict[str, Any]) -> None:
        folder = self.memory
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            data, _ = load_raw(case["scenario"])
            key = hashlib.sha256(json.dumps(data["faults"], sort_keys=True).encode()).hexdigest()[:12]
            (folder / f"{key}.json").write_text(json.dumps(data, indent=2) + "\n")

    def _settings(self) -> Any:
        from hypothesis import HealthCheck, Phase, Verbosity, settings

        return settings(max_examples=100_000, deadline=None, database=None, report_multiple_bugs=False,
                        phases=[Phase.generate], stateful_step_count=self.steps,
                        suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet)

    def _follow(self, found: Found, on_change: Callable[[Session], None] | None) -> dict[str, Any] | None:
        """Shrink and prove `found`; its case when it replays, else None (recorded, and the search goes on)."""
        campaign = self.campaign
        self.phase = "confirming"
        again = campaign.execute(found.data, reserve=campaign.reserve())
        if again is None:
            # No time to confirm it, so none to shrink or prove it either (a proof run squeezed into the last
            # seconds would call a case that fails only sometimes not reproducible): unproven, as drawn.
            self._scenario_file().parent.mkdir(parents=True, exist_ok=True)
            self._scenario_file().write_text(json.dumps(found.data, indent=2) + "\n")
            campaign.found = None
            return _case(found, Shrunk(found.data, cut_short=True), Proof(self._scenario_file(), self.replays))
        if not (violations(again) & found.categories and again.outcome.status == "fail"):
            # A failure that does not fail twice would spend the shrinking budget on a case that fails only
            # sometimes (measured: 20 shrinking runs kept nothing, or a proof of 1 of 2).
            self.unconfirmed.append(str(found.run_dir))
            campaign.found = None
            campaign.discount(found.data)
            self.phase = "search"
            return None
        self.phase = "shrinking"
        self.best = {"data": found.data, "runs_to_find": found.runs, "seconds_to_find": round(found.seconds, 1)}

        def trial(data: dict[str, Any], current: dict[str, Any]) -> frozenset[str] | None:
            # Twice the proof's time is kept back, as the proof may have to fall back to a larger case; but
            # not while the case holds more faults than its cause: getting there is worth more than a fallback.
            keep = 1 if len(current["faults"]) > CAUSE_TARGET else 2
            ran = campaign.execute(data, reserve=keep * campaign.reserve())
            if ran is None:
                return None
            shown = violations(ran) if ran.outcome.status == "fail" else frozenset()
            if shown & found.categories and self.best is not None and size(data) < size(self.best["data"]):
                self.best["data"] = data
            return shown

        shrunk = shrink(found.data, found.categories, trial)
        self.phase = "proving"
        if on_change is not None:
            on_change(self)
        shrunk, proof = self._prove(shrunk, found.categories)
        case = _case(found, shrunk, proof)
        campaign.found = None
        if self.hunt and self._repeats(case, found.categories):
            self.phase = "search"
            self.best = None
            return None
        if proof.reproduced == self.replays or not proof.replays:
            # Not one replay could run (the budget or an interruption ended first): unproven, not unreproducible.
            return case
        # A case that replays only sometimes is a weak report (measured: an ack-before-commit case of a
        # crash right after the first send, 2 of 3): search on for one that replays every time.
        if proof.reproduced:
            # Its file is set aside: the next case's proof writes the scenario file afresh.
            aside = proof.scenario.with_name(f"{proof.scenario.stem}-partial-{len(self.partial) + 1}.json")
            _move_scenario(case, aside)
            self.partial.append(case)
        else:
            self.unreproducible.append(case)
        campaign.discount(found.data)
        self.phase = "search"
        self.best = None
        return None

    def _repeats(self, case: dict[str, Any], categories: frozenset[str]) -> bool:
        """Make a hunt's case a cause; whether a cause followed before already explains it (a schedule of
        two causes can shrink to one of them): then it is counted as explained, not found again."""
        kinds = frozenset(case["faults"])
        causes = self.campaign.causes
        again = any(cause <= kinds and shown & categories for cause, shown in causes)
        causes.append((kinds, categories))
        if again:
            self.campaign.explained += 1
        return again

    def _prove(self, shrunk: Shrunk, cause: frozenset[str]) -> tuple[Shrunk, Proof]:
        """Replay the shrunk case's scenario file `replays` times, each run read from the file itself.

        A replay that does not show the violation ends that case's proof, and the case before the last
        kept edit is proven instead, while time remains: a shrinking edit can leave a case that fails
        only some of the time. The first case every replay of which failed is the one reported; else
        the one that failed most often.
        """
        self.reports.mkdir(parents=True, exist_ok=True)
        scenario_file = self._scenario_file()
        tried: list[tuple[Shrunk, Proof]] = []
        for data in [shrunk.data, *reversed(shrunk.steps)]:
            if tried and self.campaign.left() < self.replays * self.campaign.estimate():
                break
            scenario_file.write_text(json.dumps(data, indent=2) + "\n")
            loaded, _ = load_raw(scenario_file)
            proof = Proof(scenario_file, self.replays)
            while len(proof.replays) < self.replays and (ran := self.campaign.execute(loaded)) is not None:
                proof.replays.append(replay(ran, cause))
                if not proof.replays[-1].violated:
                    break
            case = Shrunk(data, runs=shrunk.runs, kept=shrunk.kept[:len(shrunk.steps) - len(tried)],
                          cut_short=shrunk.cut_short)
            tried.append((case, proof))
            if proof.reproduced == self.replays or not proof.replays or proof.replays[-1].violated:
                break  # proven, or the time ran out in the middle of a proof
        best = max(tried, key=lambda t: t[1].reproduced / max(len(t[1].replays), 1))
        best[1].scenario.write_text(json.dumps(best[0].data, indent=2) + "\n")
        return best

    def _scenario_file(self, number: int | None = None) -> Path:
        """Where the case in hand is written; a hunt's Nth finding is kept as `...-N.json`."""
        suffix = f"-{number}" if number else ""
        return self.reports / f"found-{self.profile}{'-' + self.mutant if self.mutant else ''}{suffix}.json"

    def _result(self, case: dict[str, Any] | None) -> dict[str, Any]:
        campaign = self.campaign
        if case:
            # Interrupted before a replay could run: the case is in hand, unproven, and the stop was asked for.
            status = ("found" if case["proof"]["reproduced"] else
                      "interrupted" if campaign.interrupted else "unproven")
        else:
            status = ("interrupted" if campaign.interrupted else
                      "not-reproducible" if self.unreproducible else "nothing-found")
        return {"status": status, "exit_code": EXIT_CODES[status],
                "target": self.label, "profile": self.profile, "mutant": self.mutant, "seed": self.seed,
                "shard": self.shard, "budget": self.budget, "seconds": round(campaign.elapsed(), 1),
                "runs": campaign.runs, "inconclusive": campaign.inconclusive, "case": case,
                "hunt": self.hunt, "findings": self.findings, "explained": campaign.explained,
                "unreproducible": self.unreproducible, "partial": self.partial, "unconfirmed": self.unconfirmed,
                "coverage": campaign.coverage.to_json()}


def _target_name(target: dict[str, Any] | None) -> str:
    """A target block's name: its `name`, its target file's `name`, else its command's; empty for the
    reference server."""
    if not target:
        return ""
    if target.get("kind", "reference") == "reference":
        nodes = int(target.get("nodes", 1))
        shape = [*([f"{nodes}-nodes"] if nodes > 1 else []), *(s.lstrip("-") for s in target.get("switches", []))]
        return "-".join(["reference", *shape]) if shape else ""
    if target.get("name"):
        return str(target["name"])
    if target.get("file"):
        return load_target(target["file"]).name
    return Path(str(target.get("command", ["server"])[0])).stem


def _move_scenario(case: dict[str, Any], to: Path) -> None:
    """Move a case's scenario file to `to`, and say so in the case."""
    Path(case["scenario"]).replace(to)
    case["scenario"] = case["proof"]["scenario"] = str(to)


def _rate(case: dict[str, Any]) -> float:
    """The share of a case's replays that violated."""
    proof = case["proof"]
    return float(proof["reproduced"]) / max(len(proof["replays"]), 1)


def _case(found: Found, shrunk: Shrunk, proof: Proof) -> dict[str, Any]:
    faults, messages, clients = size(shrunk.data)
    return {"scenario": str(proof.scenario), "first_run": str(found.run_dir), "reasons": found.reasons,
            "categories": sorted(found.categories), "seconds_to_find": round(found.seconds, 1),
            "runs_to_find": found.runs, "found_size": dict(zip(("faults", "messages", "clients"), size(found.data),
                                                               strict=True)),
            "size": {"faults": faults, "messages": messages, "clients": clients},
            "faults": [f["kind"] for f in shrunk.data["faults"]], "shrink_runs": shrunk.runs,
            "shrink_kept": shrunk.kept, "shrink_cut_short": shrunk.cut_short, "proof": proof.to_json()}


__all__ = ["Session", "merge", "target_block", "target_nodes", "window_rows", "write_result"]


def write_result(reports: Path, result: dict[str, Any]) -> Path:
    reports.mkdir(parents=True, exist_ok=True)
    path = reports / RESULT
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


def window_rows(coverage: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(window, what it is, faults that hit it) for each window, for the terminal and the report."""
    return [(w, what, int(coverage["windows"].get(w, 0))) for w, (what, _) in WINDOWS.items()]
