"""The one outcome rule (harness.outcome) and the one Expectations (harness.expectations)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from checkers_support import Story

from harness.checkers import check
from harness.checkers.verdict import Verdict
from harness.cli import main
from harness.errors import ScenarioError
from harness.expectations import CATEGORIES, CLIENT_TO_SERVER, GUARANTEES, ExpectationError, Expectations
from harness.outcome import Outcome, decide, decide_saved, observed, saved_outcome
from harness.scenario import resolve


def verdict(counts: dict[str, int] | None = None, unknown: tuple[str, ...] = (),
            reasons: tuple[str, ...] = ()) -> Verdict:
    """A verdict with `counts` offending messages; the guarantees in `unknown` are inconclusive."""
    counts = counts or {}
    c2s = {c: [f"c1:{i}" for i in range(counts.get(c, 0))] for c in CLIENT_TO_SERVER}
    s2c = {"c1": {c: [str(i) for i in range(n)] for c, n in counts.items() if c not in CLIENT_TO_SERVER}}
    guarantees: dict[str, bool | None] = {
        g: None if g in unknown else not any(counts.get(c) for c in cats) for g, cats in GUARANTEES.items()}
    return Verdict(expected=[], expected_violations={}, guarantees=guarantees, client_to_server=c2s,
                   server_to_client=s2c, unchecked_lineages={}, latency={}, histograms={}, recoveries=[],
                   events=0, messages=0, rows=0, duration_ms=0.0, inconclusive=list(reasons))


def test_a_clean_run_passes_and_a_violated_guarantee_fails() -> None:
    exp = Expectations(("exactly-once",))
    assert decide(verdict(), exp) == Outcome("pass", [])
    out = decide(verdict({"lost": 1}), exp)
    assert out.status == "fail" and out.reasons == ["exactly-once violated: 1 lost"] and out.exit_code == 1


def test_required_violations_and_absent_categories() -> None:
    exp = Expectations(("at-most-once",), {"missed": 2}, ("abandoned",))
    assert decide(verdict({"missed": 2}), exp).passed
    assert decide(verdict({"missed": 1}), exp).reasons == ["expected at least 2 missed, found 1"]
    out = decide(verdict({"missed": 3, "abandoned": 1}), exp)
    assert out.status == "fail" and out.reasons == ["expected no abandoned, found 1"]


def test_missing_evidence_is_inconclusive_never_a_pass() -> None:
    no_sync = ("at-least-once", "exactly-once")
    out = decide(verdict(unknown=no_sync, reasons=("no client judged at the end",)),
                 Expectations(("exactly-once",)))
    assert out.status == "inconclusive" and out.exit_code == 3
    assert out.reasons == ["exactly-once could not be judged", "no client judged at the end"]
    # A required `missed` that nobody could look for is not "not found", and an absent one is not "absent".
    assert decide(verdict(unknown=no_sync), Expectations((), {"missed": 1})).status == "inconclusive"
    assert decide(verdict(unknown=no_sync), Expectations((), absent=("missed",))).status == "inconclusive"
    # Evidence missing elsewhere does not blur what was judged.
    assert decide(verdict(unknown=no_sync), Expectations(("at-most-once",))).passed
    assert decide(verdict({"duplicated": 1}, unknown=no_sync),
                  Expectations(("at-most-once",))).status == "fail"


def test_quiet_and_untriggered_faults_make_an_otherwise_passing_run_inconclusive() -> None:
    exp = Expectations(("at-most-once",))
    assert decide(verdict(), exp, quiet_reached=False) == Outcome("inconclusive", ["the run did not become quiet"])
    out = decide(verdict(), exp, untriggered=["ack_drop@c1"])
    assert out == Outcome("inconclusive", ["fault trigger never fired: ack_drop@c1"])
    # A decided failure stays a failure; the missing evidence is still said.
    out = decide(verdict({"duplicated": 1}), exp, quiet_reached=False)
    assert out.status == "fail" and out.reasons == ["at-most-once violated: 1 duplicated",
                                                    "the run did not become quiet"]


def test_a_saved_run_is_decided_from_its_run_json() -> None:
    exp = Expectations(("at-most-once",))
    meta = {"quiet": {"reached": False}, "untriggered": ["disconnect@c2"]}
    out = decide_saved(verdict(), exp, meta)
    assert out.status == "inconclusive" and len(out.reasons) == 2
    assert decide_saved(verdict(), exp, None).passed
    stored = {"outcome": {"status": "fail", "reasons": ["x"]}}
    assert saved_outcome(verdict(), stored) == Outcome("fail", ["x"])
    assert Outcome.from_dict(out.to_dict()) == out


def test_observed_names_what_held_and_what_broke() -> None:
    text = observed(verdict({"lost": 3}))
    assert text.startswith("observed: at-most-once, ordered, no-phantoms hold; ")
    assert "exactly-once violated: lost 3" in text and "at-least-once violated: lost 3" in text


def test_verdict_inconclusive_round_trips() -> None:
    v = verdict(unknown=("exactly-once",), reasons=("history torn: 2 lines skipped",))
    again = Verdict.from_json(v.to_json())
    assert again == v and again.guarantees["exactly-once"] is None
    assert again.inconclusive == ["history torn: 2 lines skipped"]


def test_expectations_validate_absent() -> None:
    assert Expectations(absent=["missed"]) == Expectations(absent=("missed",))
    with pytest.raises(ExpectationError, match="absent category 'vanished'"):
        Expectations(absent=("vanished",))
    with pytest.raises(ExpectationError, match="both a required violation and absent"):
        Expectations(violations={"missed": 1}, absent=("missed",))
    assert set(Expectations.from_dict({"absent": "missed"}).absent) <= set(CATEGORIES)


def test_the_scenario_schema_knows_absent() -> None:
    s = resolve({"name": "t", "expectations": {"guarantees": ["at-most-once"], "absent": ["missed"]}})
    assert s.expectations == Expectations(("at-most-once",), {}, ("missed",))
    assert resolve(s.to_dict()).expectations == s.expectations
    with pytest.raises(ScenarioError, match=r"field expectations\.absent\.0: 'gone' is not one of"):
        resolve({"name": "t", "expectations": {"absent": ["gone"]}})
    with pytest.raises(ScenarioError, match=r"^t: field expectations: .*both a required violation and absent"):
        resolve({"name": "t", "expectations": {"violations": {"missed": 1}, "absent": ["missed"]}}, source="t")


def _folder(tmp_path: Path, s: Story, expectations: dict, run: dict | None = None) -> Path:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "history.jsonl").write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in s.events))
    (folder / "rows.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in s.rows))
    (folder / "scenario.json").write_bytes(orjson.dumps({"name": "t", "expectations": expectations}))
    if run is not None:
        (folder / "run.json").write_bytes(orjson.dumps(run))
    return folder


def lossy() -> Story:
    s = Story().start("c1")
    s.sent("c1:1", "c1")
    s.invoke("c1:2").ack("c1:2")
    return s.end("c1")


def test_check_without_expectations_prints_what_it_observed(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    folder = _folder(tmp_path, lossy(), {"guarantees": []})
    assert main(["check", str(folder)]) == 0
    first = " ".join(capsys.readouterr().out.split(" events,")[0].split())
    assert first.startswith("observed: ") and "exactly-once violated: lost 1" in first
    assert "PASS" not in first


def test_check_exits_3_when_the_saved_run_never_became_quiet(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    s = Story().start("c1")
    s.sent("c1:1", "c1")
    folder = _folder(tmp_path, s.end("c1"), {"guarantees": ["at-most-once"]},
                     {"quiet": {"reached": False}, "untriggered": []})
    assert main(["check", str(folder)]) == 3
    assert "INCONCLUSIVE" in capsys.readouterr().out
    assert main(["check", str(folder / "history.jsonl"), str(folder / "rows.jsonl")]) == 0


def test_check_of_a_verdict_with_no_evidence_is_inconclusive() -> None:
    # Whatever the checker decides for an empty history, the rule never passes a None guarantee.
    v = check([], [])
    none = [g for g, held in v.guarantees.items() if held is None]
    out = decide(v, Expectations())
    assert out.status == ("inconclusive" if "exactly-once" in none else "pass")


def test_explore_shrinks_failed_runs_only(tmp_path: Path) -> None:
    from harness.runner import QuietReport, RunResult
    from harness.strategies import _broken

    def result(outcome: Outcome) -> RunResult:
        return RunResult(run_id="r", run_dir=tmp_path, scenario=resolve({"name": "t"}), verdict=verdict(),
                         outcome=outcome, quiet=QuietReport(outcome.status != "inconclusive", 0.1, 1.0),
                         seconds=0.1)

    assert _broken(result(Outcome("fail", ["exactly-once violated: 1 lost"]))) == ["exactly-once violated: 1 lost"]
    assert _broken(result(Outcome("inconclusive", ["the run did not become quiet"]))) == []
    assert _broken(result(Outcome("pass"))) == []
    assert result(Outcome("inconclusive")).exit_code == 3 and not result(Outcome("inconclusive")).passed


def test_an_overloaded_run_is_inconclusive_never_a_pass_nor_a_fail() -> None:
    exp = Expectations(("exactly-once",))
    reason = "harness overloaded: event loop lag p99 412 ms > 250 ms"
    passed = decide(verdict(), exp, overloaded=[reason])
    assert passed.status == "inconclusive" and passed.reasons == [reason] and passed.exit_code == 3
    failed = decide(verdict({"lost": 3}), exp, overloaded=[reason])
    assert failed.status == "inconclusive"
    assert failed.reasons == [reason, "exactly-once violated: 3 lost"]
    assert decide(verdict({"lost": 3}), exp).status == "fail"


def test_a_saved_run_keeps_its_overload() -> None:
    exp = Expectations(("exactly-once",))
    reason = "harness overloaded: proxy backlog 2000000 bytes for one client > 1048576 bytes"
    meta = {"quiet": {"reached": True}, "harness_load": {"overloaded": [reason]}}
    assert decide_saved(verdict(), exp, meta).reasons == [reason]
    assert decide_saved(verdict(), exp, {"quiet": {"reached": True}}).status == "pass"
