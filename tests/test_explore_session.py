"""An exploration's logic against a stand-in runner (no processes): the search stops at the first failure
without Hypothesis re-running it, shrinking reaches the cause, the proof replays the saved file, a case
that does not replay is never reported as found, and the budget holds."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness import strategies
from harness.explore.proof import Proof, Replay
from harness.explore.session import Session, merge
from harness.explore.shrink import EARLIEST, shrink, size
from harness.outcome import Outcome


class StandIn:
    """run_scenario's stand-in: a run fails (`redelivered`) when its schedule holds a server crash or
    restart; with `fails_at_most` set, only that many runs of one scenario can fail (the later ones pass)."""

    def __init__(self, tmp: Path, fails_at_most: int | None = None, seconds: float = 0.0) -> None:
        self.tmp, self.fails_at_most, self.seconds = tmp, fails_at_most, seconds
        self.schedules: list[list[str]] = []
        self.seen: dict[str, int] = {}

    async def __call__(self, scenario: Any, reports: Path) -> SimpleNamespace:
        kinds = [f.kind for f in scenario.faults]
        self.schedules.append(kinds)
        run_dir = self.tmp / f"run-{len(self.schedules)}"
        run_dir.mkdir(parents=True)
        lines = [{"t": i, "proc": "nemesis", "type": "info", "f": "fault",
                  "value": {"fault": k, "target": "server", "index": i}} for i, k in enumerate(kinds)]
        (run_dir / "history.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines))
        if self.seconds:
            time.sleep(self.seconds)
        bad = bool({"server_crash", "server_restart"} & set(kinds))
        key = scenario.to_json()
        self.seen[key] = self.seen.get(key, 0) + 1
        if self.fails_at_most is not None and self.seen[key] > self.fails_at_most:
            bad = False
        reasons = ["exactly-once violated: 1 redelivered"] if bad else []
        return SimpleNamespace(outcome=Outcome("fail" if bad else "pass", reasons), run_dir=run_dir,
                               verdict=SimpleNamespace(counts={"redelivered": int(bad), "recovered": 0}))


@pytest.fixture
def stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StandIn:
    runner = StandIn(tmp_path / "runs")
    monkeypatch.setattr(strategies, "run_scenario", runner)
    return runner


def _session(tmp_path: Path, **kw: Any) -> Session:
    settings: dict[str, Any] = {"mutant": "replay-off-by-one", "budget": 60.0, "guess": 0.1, **kw}
    return Session(profile="exactly-once", reports=tmp_path / "explore", **settings)


def test_a_found_case_is_shrunk_to_its_cause_and_proven(tmp_path: Path, stand_in: StandIn) -> None:
    result = _session(tmp_path).run()
    assert result["status"] == "found" and result["exit_code"] == 1
    case = result["case"]
    assert case["faults"] in (["server_crash"], ["server_restart"])
    assert case["size"]["clients"] == 1
    assert case["proof"]["reproduced"] == 3 and case["proof"]["sentence"].startswith("3 of 3 replays violate")
    saved = json.loads(Path(case["scenario"]).read_text())
    assert [f["kind"] for f in saved["faults"]] == case["faults"]
    assert json.loads((tmp_path / "explore" / "explore.json").read_text())["status"] == "found"
    # Every run is the search's, the shrinker's or the proof's: Hypothesis's own replay of the failing
    # example read the kept result instead of running it again.
    # (and one run confirming the first failure before shrinking).
    assert len(stand_in.schedules) == result["runs"] == case["runs_to_find"] + 1 + case["shrink_runs"] + 3
    assert result["coverage"]["faults"] >= 1


def test_a_failure_that_does_not_fail_twice_is_not_shrunk(tmp_path: Path, stand_in: StandIn) -> None:
    stand_in.fails_at_most = 1
    result = _session(tmp_path, budget=3.0).run()
    assert result["unconfirmed"] and not result["unreproducible"]
    # The search goes on to the budget's end; a failure found just before it has no time to be run again
    # and is reported unproven, never found.
    assert result["status"] == "nothing-found" or (result["status"] == "unproven"
                                                    and not result["case"]["proof"]["replays"])


def test_a_case_that_does_not_replay_is_not_reported_as_found(tmp_path: Path, stand_in: StandIn) -> None:
    # Every scenario fails on its first two runs only: found, confirmed and shrunk, then no replay fails.
    stand_in.fails_at_most = 2
    result = _session(tmp_path).run()
    assert result["status"] == "not-reproducible" and result["exit_code"] == 3
    assert result["case"] is None and len(result["unreproducible"]) == 3
    lost = result["unreproducible"][0]
    assert lost["proof"]["reproduced"] == 0 and lost["proof"]["replays"]
    assert lost["proof"]["sentence"].startswith("0 of 1 replays")


def test_the_budget_ends_the_search(tmp_path: Path, stand_in: StandIn) -> None:
    stand_in.seconds = 0.3
    began = time.monotonic()
    result = _session(tmp_path, budget=3.0, mutant=None, kinds=("ack_drop",)).run()
    assert time.monotonic() - began < 3.0 + 1.0
    assert result["status"] == "nothing-found" and result["runs"] >= 1


def test_the_proof_falls_back_to_a_larger_case_when_the_smallest_fails_only_sometimes(
        tmp_path: Path, stand_in: StandIn) -> None:
    # One client alone shows the violation on its first two runs only: the shrinker keeps it (two in a
    # row), the proof does not, and the case before that edit (two clients) is proven instead.
    runs_of: dict[str, int] = {}
    plain = stand_in.__call__

    async def sometimes(scenario: Any, reports: Path) -> SimpleNamespace:
        result = await plain(scenario, reports)
        key = scenario.to_json()
        runs_of[key] = runs_of.get(key, 0) + 1
        if len(scenario.clients.slots) == 1 and runs_of[key] > 2:
            result.outcome, result.verdict.counts = Outcome("pass", []), {"redelivered": 0}
        return result

    strategies.run_scenario = sometimes  # type: ignore[assignment]
    result = _session(tmp_path).run()
    case = result["case"]
    assert result["status"] == "found" and case["size"]["clients"] == 2
    assert case["proof"]["reproduced"] == 3 and not any("client" in edit for edit in case["shrink_kept"])


def test_shrinking_drops_faults_clients_and_messages(tmp_path: Path) -> None:
    data = strategies.schedule_scenario("exactly-once", "replay-off-by-one", [
        {"kind": "ack_drop", "target": "c1", "trigger": {"frame": {"nth": 3}}},
        {"kind": "disconnect", "target": "c2", "trigger": {"after_sends": {"client": "c1", "n": 9}}, "duration": 0.5},
        {"kind": "server_crash", "trigger": {"after_sends": {"client": "c2", "n": 16}}, "duration": 0.4},
        {"kind": "partition", "target": "c1", "trigger": {"after_sends": {"client": "c1", "n": 20}}, "duration": 1.0},
    ], 24, seed=1)

    def trial(candidate: dict[str, Any], current: dict[str, Any]) -> frozenset[str]:
        return frozenset({"redelivered"} if any(f["kind"] == "server_crash" for f in candidate["faults"]) else ())

    shrunk = shrink(data, frozenset({"redelivered"}), trial)
    assert [f["kind"] for f in shrunk.data["faults"]] == ["server_crash"]
    # The outage is the likeliest cause of the four: tried alone first, kept after its two runs.
    assert shrunk.kept[0] == "only fault 2 (server_crash)"
    assert size(shrunk.data) < size(data) and shrunk.data["clients"]["count"] == 1
    assert shrunk.data["workload"]["messages"] <= EARLIEST + strategies.TAIL
    assert not shrunk.cut_short and shrunk.runs < 30


def test_shrinking_cut_short_keeps_the_smallest_case_so_far() -> None:
    data = strategies.schedule_scenario("exactly-once", None, [
        {"kind": "server_crash", "trigger": {"after_sends": {"client": "c1", "n": 4}}, "duration": 0.4},
        {"kind": "server_crash", "trigger": {"after_sends": {"client": "c1", "n": 30}}, "duration": 0.4},
        {"kind": "server_crash", "trigger": {"after_sends": {"client": "c1", "n": 60}}, "duration": 0.4},
    ], 60, seed=1)
    calls = iter(range(2))

    def trial(candidate: dict[str, Any], current: dict[str, Any]) -> frozenset[str] | None:
        if next(calls, None) is None:
            return None
        return frozenset({"redelivered"} if candidate["faults"] else ())

    shrunk = shrink(data, frozenset({"redelivered"}), trial)
    assert shrunk.cut_short and shrunk.runs == 2 and len(shrunk.data["faults"]) == 1


def test_a_five_fault_case_is_down_to_its_cause_in_two_runs() -> None:
    """The likeliest cause alone comes first, so a single-cause case loses its other faults in the two runs
    the search keeps back for it (`Campaign.follow_runs`), however late it was found."""
    data = strategies.schedule_scenario("exactly-once", "ack-before-commit", [
        {"kind": "latency", "target": "c1", "trigger": {"after_sends": {"client": "c1", "n": 2}}, "duration": 0.5},
        {"kind": "disconnect", "target": "c2", "trigger": {"after_sends": {"client": "c1", "n": 5}}, "duration": 0.3},
        {"kind": "partition", "target": "c1", "trigger": {"after_sends": {"client": "c1", "n": 8}}, "duration": 0.3},
        {"kind": "ack_drop", "target": "c1", "trigger": {"frame": {"nth": 10}}},
        {"kind": "server_crash", "trigger": {"after_sends": {"client": "c1", "n": 12}}, "duration": 0.4},
    ], 20, seed=1)
    tried: list[list[str]] = []

    def trial(candidate: dict[str, Any], current: dict[str, Any]) -> frozenset[str] | None:
        if len(tried) == 2:
            return None  # the time kept back is spent
        tried.append([f["kind"] for f in candidate["faults"]])
        return frozenset({"lost"} if any(f["kind"] == "server_crash" for f in candidate["faults"]) else ())

    shrunk = shrink(data, frozenset({"lost"}), trial)
    assert tried == [["server_crash"], ["server_crash"]]
    assert [f["kind"] for f in shrunk.data["faults"]] == ["server_crash"] and shrunk.cut_short


def test_late_in_the_budget_the_search_draws_no_more_faults_than_a_cause(tmp_path: Path, stand_in: StandIn) -> None:
    campaign = strategies.Campaign(reports=tmp_path, budget=20.0, guess=1.0)
    assert campaign.max_faults() == strategies.MAX_FAULTS
    # Less time left than a found case needs to be confirmed, shrunk and proven: schedules of two faults.
    campaign.started -= 20.0 - campaign.reserve() - campaign.follow_runs * 1.0 + 0.5
    assert campaign.max_faults() == strategies.CAUSE_FAULTS
    machine = strategies.chaos_machine(campaign)()
    for kind in ("disconnect", "latency", "partition"):
        machine.fault(kind, "c1")
    campaign.check = lambda data: ran.append(data) or []  # type: ignore[method-assign]
    ran: list[dict[str, Any]] = []
    machine.teardown()
    assert [f["kind"] for f in ran[0]["faults"]] == ["disconnect", "latency"]
    del campaign.check
    # And the search stops while the confirmation and the proof still fit.
    campaign.started -= campaign.left() - campaign.search_reserve() - 0.5
    with pytest.raises(strategies.SearchOver):
        campaign.check(strategies.schedule_scenario("exactly-once", None, [], 5, seed=1))
    assert stand_in.schedules == []


def test_the_proof_sentence() -> None:
    hit = Replay("r1", "fail", ["exactly-once violated: 1 redelivered"], True)
    proof = Proof(Path("found.json"), 3, [hit, Replay("r2", "pass", [], False)])
    assert proof.sentence() == "1 of 2 replays violate exactly-once: 1 redelivered (stopped at the first replay " \
                               "without it)"
    assert Proof(Path("found.json"), 3, [hit]).sentence().endswith("(2 not run: the budget ran out)")
    assert Proof(Path("found.json"), 2, [hit, hit]).sentence() == "2 of 2 replays violate exactly-once: 1 redelivered"


def test_merge_takes_the_quickest_proven_case_and_sums_the_rest() -> None:
    base = {"target": "t", "profile": "exactly-once", "mutant": None, "inconclusive": [], "unreproducible": []}
    cov = {"faults": 2, "windows": {"store-to-ack": 1}}

    def result(seed: int, runs: int, case_id: str, seconds_to_find: float, reproduced: int) -> dict[str, Any]:
        case = {"seconds_to_find": seconds_to_find, "id": case_id, "proof": {"reproduced": reproduced}}
        return {**base, "seed": seed, "seconds": 50.0, "runs": runs, "case": case, "coverage": cov}

    merged = merge([result(1, 10, "a", 30.0, 3), result(2, 7, "b", 12.0, 3), result(3, 2, "c", 5.0, 0)])
    assert merged["case"]["id"] == "b" and merged["runs"] == 19 and merged["status"] == "found"
    assert merged["coverage"]["faults"] == 6 and merged["coverage"]["windows"]["store-to-ack"] == 3


def test_report_merges_the_explore_json_of_shards(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main

    base = {"target": "t", "profile": "exactly-once", "mutant": None, "inconclusive": [], "unreproducible": [],
            "case": None, "coverage": {"faults": 1, "windows": {"before-store": 1}}}
    for shard, seed in (("1", 1), ("2", 2)):
        (tmp_path / shard).mkdir()
        (tmp_path / shard / "explore.json").write_text(json.dumps({**base, "seed": seed, "seconds": 9.0, "runs": 4}))
    assert main(["report", str(tmp_path)]) == 0
    merged = json.loads((tmp_path / "explore.json").read_text())
    assert merged["status"] == "nothing-found" and merged["runs"] == 8 and merged["seeds"] == [1, 2]
    assert merged["coverage"]["windows"]["before-store"] == 2
    assert "2 result(s) merged" in capsys.readouterr().out


def test_target_takes_a_scenario_files_target_block(tmp_path: Path) -> None:
    from harness.errors import HarnessError
    from harness.explore.session import target_block

    block = {"kind": "reference", "profile": "at-least-once", "mutant": None}
    (tmp_path / "s.json").write_text(json.dumps({"name": "s", "target": block}))
    assert target_block(str(tmp_path / "s.json"), None) == (block, "at-least-once")
    assert target_block(str(tmp_path / "s.json"), "csr") == (block, "csr")
    (tmp_path / "t.json").write_text(json.dumps({"target_version": 1, "name": "mine", "step": "server-delivery",
                                                 "url": "http://127.0.0.1:1"}))
    assert target_block(str(tmp_path / "t.json"), None) == (
        {"kind": "external", "file": str((tmp_path / "t.json").resolve())}, "server-delivery")
    (tmp_path / "n.json").write_text(json.dumps({"name": "n"}))
    with pytest.raises(HarnessError, match="neither a target file nor a scenario file"):
        target_block(str(tmp_path / "n.json"), None)


def test_a_second_search_starts_from_what_the_first_found(tmp_path: Path, stand_in: StandIn) -> None:
    database = tmp_path / "examples"
    first = _session(tmp_path / "one", database=database, seed=7).run()
    again = _session(tmp_path / "two", database=database, seed=7).run()
    assert first["status"] == again["status"] == "found"
    assert again["case"]["runs_to_find"] == 1
    assert again["case"]["found_size"] == first["case"]["size"]


def test_a_step_without_acks_draws_no_lost_acks(capsys: pytest.CaptureFixture[str]) -> None:
    from harness.commands.explore import _acked

    assert _acked("server-delivery", ("ack_drop", "server_crash")) == ("server_crash",)
    assert "ack_drop: step server-delivery does not acknowledge sends; not drawn" in capsys.readouterr().out
    assert _acked("exactly-once", ("ack_drop", "server_crash")) == ("ack_drop", "server_crash")


def test_a_case_that_replays_only_sometimes_is_set_aside_while_the_search_goes_on(
        tmp_path: Path, stand_in: StandIn) -> None:
    # Every scenario fails on its first three runs only: found, confirmed, shrunk (two runs), one replay of
    # two fails. The search looks for a better case; none replays every time, so the best one is reported.
    stand_in.fails_at_most = 3
    result = _session(tmp_path).run()
    assert result["status"] == "found"
    case, weak = result["case"], result["partial"]
    assert 0 < case["proof"]["reproduced"] < len(case["proof"]["replays"]) and len(weak) == 2
    files = {case["scenario"], *(w["scenario"] for w in weak)}
    assert len(files) == 3 and all(Path(f).exists() for f in files)
    assert case["scenario"] == str(tmp_path / "explore" / "found-exactly-once-replay-off-by-one.json")
    saved = json.loads(Path(case["scenario"]).read_text())
    assert [f["kind"] for f in saved["faults"]] == case["faults"]


def test_a_run_the_harness_could_not_carry_out_does_not_end_the_search(tmp_path: Path, stand_in: StandIn) -> None:
    from harness.errors import HarnessError

    plain = stand_in.__call__
    calls = []

    async def first_fails(scenario: Any, reports: Path) -> SimpleNamespace:
        calls.append(scenario)
        if len(calls) == 1:
            raise HarnessError("healing server_crash@server failed: port already in use")
        return await plain(scenario, reports)

    strategies.run_scenario = first_fails  # type: ignore[assignment]
    result = _session(tmp_path).run()
    assert result["status"] == "found" and len(calls) > 1
    assert result["inconclusive"][0].startswith("harness error: healing server_crash@server failed")


def test_runs_that_never_start_end_the_search_with_the_error(tmp_path: Path, stand_in: StandIn) -> None:
    from harness.errors import HarnessError

    async def broken(scenario: Any, reports: Path) -> SimpleNamespace:
        raise HarnessError("external server exited with code 1 before it was ready")

    strategies.run_scenario = broken  # type: ignore[assignment]
    with pytest.raises(HarnessError, match="3 runs in a row could not be carried out; the last: external server"):
        _session(tmp_path).run()


class TwoCauses(StandIn):
    """A crash or restart of the server redelivers, a database outage loses an acked message: two causes."""

    async def __call__(self, scenario: Any, reports: Path) -> SimpleNamespace:
        ran = await super().__call__(scenario, reports)
        kinds = {f.kind for f in scenario.faults}
        counts = {"redelivered": int(bool({"server_crash", "server_restart"} & kinds)),
                  "lost": int("db_outage" in kinds), "recovered": 0}
        reasons = [f"exactly-once violated: 1 {c}" for c, n in counts.items() if n]
        return SimpleNamespace(outcome=Outcome("fail" if reasons else "pass", reasons), run_dir=ran.run_dir,
                               verdict=SimpleNamespace(counts=counts))


def test_a_hunt_spends_its_budget_and_reports_each_cause_once(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(strategies, "run_scenario", TwoCauses(tmp_path / "runs"))
    result = _session(tmp_path, budget=4.0, hunt=True, seed=3).run()
    findings = result["findings"]
    causes = {(tuple(f["faults"]), tuple(f["categories"])) for f in findings}
    assert len(causes) == len(findings) >= 2, causes
    assert all(len(f["faults"]) == 1 and f["proof"]["reproduced"] == 3 for f in findings)
    assert {"lost"} in [set(f["categories"]) for f in findings]
    assert {"redelivered"} in [set(f["categories"]) for f in findings]
    assert result["explained"] >= 1 and result["status"] == "found" and result["case"] == findings[0]
    files = [Path(f["scenario"]) for f in findings]
    assert len(set(files)) == len(files) and all(p.exists() for p in files)


def test_a_cause_explains_the_failures_that_hold_its_faults_and_show_nothing_more() -> None:
    campaign = strategies.Campaign(causes=[(frozenset({"server_crash"}), frozenset({"redelivered"}))])
    crash_and_latency = {"faults": [{"kind": "latency"}, {"kind": "server_crash"}]}
    assert campaign.explains(crash_and_latency, frozenset({"redelivered"}))
    assert not campaign.explains(crash_and_latency, frozenset({"redelivered", "lost"}))
    assert not campaign.explains({"faults": [{"kind": "server_restart"}]}, frozenset({"redelivered"}))


def test_a_cause_that_needs_a_companion_fault_is_shrunk_to_the_pair() -> None:
    """A crash that loses a message only when a disconnect of c2 at the same send starts before it (the
    milliseconds of that fault's start): neither alone fails, the pair does, and the pair is what is kept."""
    at = {"after_sends": {"client": "c1", "n": 1}}
    data = strategies.schedule_scenario("exactly-once", "ack-before-commit", [
        {"kind": "disconnect", "target": "c2", "trigger": at, "duration": 0.1},
        {"kind": "server_crash", "trigger": at, "duration": 1.0},
        {"kind": "latency", "target": "c1", "trigger": {"after_sends": {"client": "c1", "n": 3}}, "duration": 0.1},
        {"kind": "disconnect", "target": "c2", "trigger": {"after_sends": {"client": "c1", "n": 4}}, "duration": 1.0},
        {"kind": "latency", "target": "c2", "trigger": {"after_sends": {"client": "c1", "n": 5}}, "duration": 0.1},
    ], 8, seed=1)

    def trial(candidate: dict[str, Any], current: dict[str, Any]) -> frozenset[str]:
        kinds = [(f["kind"], f.get("target")) for f in candidate["faults"]]
        crash = ("server_crash", None)
        lost = crash in kinds and ("disconnect", "c2") in kinds[:kinds.index(crash)]
        return frozenset({"lost"} if lost else ())

    shrunk = shrink(data, frozenset({"lost"}), trial)
    assert [(f["kind"], f.get("target")) for f in shrunk.data["faults"]] == [("disconnect", "c2"),
                                                                             ("server_crash", None)]
    assert shrunk.kept[0] == "only faults 0 and 1"
    assert shrunk.runs <= 5 + 4 + 2 + 4, shrunk.kept
