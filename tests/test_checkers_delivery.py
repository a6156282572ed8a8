"""The delivery checker on hand-built histories: each category alone, then clean runs.

Every test builds the smallest history that shows one thing, and asserts the exact ids reported and
the guarantees that break (and those that must not).
"""

from __future__ import annotations

import tracemalloc

import pytest
from checkers_support import MS, Story

from harness.checkers import GUARANTEES, Expectations, Verdict, check
from harness.checkers.verdict import ExpectationError, VerdictFormatError
from harness.history import HistoryError, make_content
from harness.outcome import decide, expectations_of


def passed(verdict: Verdict) -> bool:
    return decide(verdict, expectations_of(verdict)).passed


def failures(verdict: Verdict) -> list[str]:
    return decide(verdict, expectations_of(verdict)).reasons


def only(verdict: Verdict, **expected: int) -> None:
    """Exactly these categories are non-zero, with these counts."""
    counts = {name: n for name, n in verdict.counts.items() if n}
    assert counts == expected


def broken(verdict: Verdict) -> set[str]:
    return {name for name, held in verdict.guarantees.items() if held is False}


def clean_two_clients() -> Story:
    s = Story().start("c1").start("c2")
    s.sent("c1:1", "c1", "c2")
    s.sent("c2:1", "c1", "c2")
    s.sent("c1:2", "c1", "c2")
    return s.end("c1", "c2")


def test_a_clean_run_keeps_every_guarantee() -> None:
    s = clean_two_clients()
    verdict = check(s.events, s.rows)
    only(verdict)
    assert broken(verdict) == set()
    assert passed(verdict) and verdict.expected == ["exactly-once"]
    assert (verdict.events, verdict.messages, verdict.rows) == (len(s.events), 3, 3)
    assert set(verdict.server_to_client) == {"c1", "c2"}


def test_an_empty_history_and_no_rows_is_inconclusive_not_clean() -> None:
    verdict = check([], [])
    only(verdict)
    assert verdict.events == 0 and not passed(verdict)
    assert set(verdict.guarantees.values()) == {None}
    assert verdict.inconclusive == ["the history is empty"]
    assert decide(verdict, expectations_of(verdict)).status == "inconclusive"


def test_lost_is_acknowledged_but_never_stored() -> None:
    s = Story().start("c1")
    s.invoke("c1:1").ack("c1:1")
    s.sent("c1:2", "c1")
    verdict = check(s.end("c1").events, s.rows)
    only(verdict, lost=1)
    assert verdict.client_to_server["lost"] == ["c1:1"]
    assert broken(verdict) == {"at-least-once", "exactly-once"}
    assert failures(verdict) == ["exactly-once violated: 1 lost"]


@pytest.mark.parametrize(("outcome", "category"),
                         [("info", "indeterminate"), ("fail", "abandoned"), ("none", "indeterminate")])
def test_a_send_never_acknowledged_never_stored_is_abandoned_or_indeterminate(outcome: str,
                                                                              category: str) -> None:
    s = Story().start("c1").invoke("c1:1")
    if outcome == "info":
        s.info("c1:1", "gave-up")
    elif outcome == "fail":
        s.fail("c1:1")
    verdict = check(s.end("c1").events, s.rows)
    only(verdict, **{category: 1})
    assert verdict.client_to_server[category] == ["c1:1"]
    assert broken(verdict) == {"at-least-once", "exactly-once"}


def test_duplicated_is_stored_twice_and_is_not_a_redelivery() -> None:
    s = Story().start("c1").start("c2")
    s.invoke("c1:1")
    first, second = s.store("c1:1"), s.store("c1:1")
    s.ack("c1:1")
    for proc in ("c1", "c2"):
        s.recv(proc, first).recv(proc, second)
    verdict = check(s.end("c1", "c2").events, s.rows)
    only(verdict, duplicated=1)
    assert verdict.client_to_server["duplicated"] == ["c1:1"]
    assert broken(verdict) == {"at-most-once", "exactly-once"}


def test_unexpected_rows_nobody_sent_or_whose_send_definitely_failed() -> None:
    s = Story().start("c1")
    rid_foreign = s.store(None, "<b>typed by someone else</b>")
    rid_ghost = s.store("c9:1")
    s.invoke("c1:1").fail("c1:1")
    rid_failed = s.store("c1:1")
    for rid in (rid_foreign, rid_ghost, rid_failed):
        s.recv("c1", rid)
    verdict = check(s.end("c1").events, s.rows)
    only(verdict, unexpected=3)
    assert verdict.client_to_server["unexpected"] == ["c1:1", "c9:1", f"row:{rid_foreign}"]
    assert broken(verdict) == {"exactly-once", "no-phantoms"}


@pytest.mark.parametrize("outcome", ["info", "none"])
def test_recovered_is_indeterminate_yet_stored_once_and_breaks_nothing(outcome: str) -> None:
    s = Story().start("c1").invoke("c1:1")
    rid = s.store("c1:1")
    if outcome == "info":
        s.info("c1:1", "disconnect")
    s.recv("c1", rid)
    verdict = check(s.end("c1").events, s.rows)
    only(verdict, recovered=1)
    assert verdict.client_to_server["recovered"] == ["c1:1"]
    assert broken(verdict) == set() and passed(verdict)


def test_an_indeterminate_send_is_never_lost() -> None:
    s = Story().start("c1").invoke("c1:1").info("c1:1", "timeout")
    verdict = check(s.end("c1").events, s.rows)
    assert verdict.client_to_server["lost"] == []
    assert verdict.client_to_server["indeterminate"] == ["c1:1"]
    assert verdict.client_to_server["abandoned"] == []


def test_a_late_ack_after_a_timeout_counts_as_acknowledged() -> None:
    s = Story().start("c1").invoke("c1:1").info("c1:1").ack("c1:1")
    verdict = check(s.end("c1").events, s.rows)
    only(verdict, lost=1)


def test_reordered_sender_messages_stored_out_of_send_order() -> None:
    s = Story().start("c1").start("c2")
    for mid in ("c1:1", "c1:2", "c1:3"):
        s.invoke(mid)
    r2, r3, r1 = s.store("c1:2"), s.store("c1:3"), s.store("c1:1")
    for mid in ("c1:1", "c1:2", "c1:3"):
        s.ack(mid)
    s.sent("c2:1")  # another sender's row in between changes nothing
    for proc in ("c1", "c2"):
        for rid in (r2, r3, r1, r1 + 1):
            s.recv(proc, rid)
    verdict = check(s.end("c1", "c2").events, s.rows)
    only(verdict, reordered=1)
    assert verdict.client_to_server["reordered"] == ["c1:1"]
    assert broken(verdict) == {"ordered"}


def test_missed_is_a_row_above_the_initial_offset_never_received() -> None:
    s = Story().start("c1").start("c2")
    s.sent("c1:1", "c1", "c2")
    s.sent("c1:2", "c1")
    verdict = check(s.end("c1", "c2").events, s.rows)
    only(verdict, missed=1)
    assert verdict.server_to_client["c2"]["missed"] == ["c1:2"]
    assert verdict.server_to_client["c1"]["missed"] == []
    assert broken(verdict) == {"at-least-once", "exactly-once"}


def test_rows_at_or_below_the_initial_offset_are_not_expected() -> None:
    s = Story().start("c1")
    s.sent("c1:1", "c1")
    s.sent("c1:2", "c1")
    s.start("c2", offset=1)
    s.recv("c2", 2)
    s.sent("c1:3", "c1", "c2")
    verdict = check(s.end("c1", "c2").events, s.rows)
    only(verdict)


def test_a_lineage_not_connected_at_the_end_is_not_judged() -> None:
    s = Story().start("c1").start("c2")
    s.sent("c1:1", "c1")
    s.end("c1").end("c2", connected=False)
    verdict = check(s.events, s.rows)
    only(verdict)
    assert verdict.unchecked_lineages == {"c2": "not connected at the end"}


def test_a_page_refresh_starts_a_new_lineage_with_its_own_offset() -> None:
    s = Story().start("c1").start("c2")
    s.sent("c1:1", "c1", "c2")
    s.sent("c1:2", "c1", "c2")
    s.ev("c2", "info", "refresh", next="c2.1")
    s.sent("c1:3", "c1")  # the old page is gone: it cannot receive this
    s.start("c2.1", offset=2)  # a persisted offset: only row 3 onwards is owed to the fresh page
    s.sent("c2.1:1", "c1")
    verdict = check(s.end("c1", "c2.1").events, s.rows)
    only(verdict, missed=2)
    assert verdict.server_to_client["c2.1"]["missed"] == ["c1:3", "c2.1:1"]
    assert verdict.unchecked_lineages == {
        "c2": "refreshed (judged for missed up to its successor's offset)"}


def test_redelivered_is_the_same_offset_received_twice() -> None:
    s = Story().start("c1")
    rid = s.sent("c1:1", "c1")
    s.sent("c1:2", "c1")
    s.recv("c1", rid)
    verdict = check(s.end("c1").events, s.rows)
    only(verdict, redelivered=1)
    assert verdict.server_to_client["c1"]["redelivered"] == ["c1:1"]
    assert broken(verdict) == {"at-most-once", "exactly-once"}


def test_out_of_order_is_a_row_first_received_after_a_larger_one() -> None:
    s = Story().start("c1")
    for mid in ("c1:1", "c1:2", "c1:3"):
        s.invoke(mid).store(mid)
        s.ack(mid)
    s.recv("c1", 2).recv("c1", 1).recv("c1", 3)
    verdict = check(s.end("c1").events, s.rows)
    only(verdict, out_of_order=1)
    assert verdict.server_to_client["c1"]["out_of_order"] == ["c1:1"]
    assert broken(verdict) == {"ordered"}


def test_phantom_is_received_but_never_stored() -> None:
    s = Story().start("c1")
    s.invoke("c1:1").info("c1:1")
    s.recv("c1", 7, mid="c1:1")
    verdict = check(s.end("c1").events, s.rows)
    only(verdict, indeterminate=1, phantom=1)
    assert verdict.server_to_client["c1"]["phantom"] == ["c1:1"]
    assert broken(verdict) == {"at-least-once", "exactly-once", "no-phantoms"}


def test_an_offset_naming_another_messages_row_is_a_phantom() -> None:
    s = Story().start("c1")
    s.sent("c1:1", "c1")
    s.invoke("c1:2").ack("c1:2")
    s.recv("c1", 1, mid="c1:2")
    verdict = check(s.end("c1").events, s.rows)
    only(verdict, lost=1, phantom=1)


def test_a_receipt_without_offset_is_matched_by_its_message_id() -> None:
    s = Story().start("c1")
    s.invoke("c1:1")
    s.store("c1:1")
    s.ack("c1:1")
    s.recv("c1", None, mid="c1:1")
    verdict = check(s.end("c1").events, s.rows)
    only(verdict)


def test_latencies_are_per_client_nearest_rank() -> None:
    s = Story().start("c1").start("c2")
    for i, delay in enumerate([1, 2, 3, 4, 10], 1):
        mid = f"c1:{i}"
        s.invoke(mid)
        rid = s.store(mid)
        sent_at = s.t
        s.t += (delay - 1) * MS
        s.ack(mid)
        s.t = sent_at + 2 * delay * MS - MS
        s.recv("c2", rid)
        s.recv("c1", rid)
    verdict = check(s.end("c1", "c2").events, s.rows)
    ack = verdict.latency["ack"]["c1"]
    assert (ack.count, ack.p50_ms, ack.p95_ms, ack.p99_ms, ack.max_ms) == (5, 3.0, 10.0, 10.0, 10.0)
    delivery = verdict.latency["delivery"]["c2"]
    assert (delivery.count, delivery.p50_ms, delivery.max_ms) == (5, 6.0, 20.0)
    assert verdict.latency["delivery"]["all"].count == 10
    assert verdict.latency["delivery"]["all"].max_ms == 21.0
    assert sum(verdict.histograms["ack"].counts) == 5


def test_messages_sent_before_a_page_opened_have_no_delivery_latency_to_it() -> None:
    s = Story().start("c1")
    s.sent("c1:1", "c1")
    s.at(60_000).start("c2")
    s.recv("c2", 1)
    verdict = check(s.end("c1", "c2").events, s.rows)
    assert "c2" not in verdict.latency["delivery"]


def test_recovery_time_after_a_heal_waits_for_the_target_client() -> None:
    s = Story().start("c1").start("c2")
    s.ev("nemesis", "info", "fault", fault="partition", target="c2")
    s.at(100).ev("nemesis", "info", "heal", fault="partition", target="c2")
    s.at(150).sent("c1:1", "c1")  # c1's progress does not count for c2
    s.at(300).recv("c2", 1)
    s.ev("nemesis", "info", "fault", fault="server_crash", target="server")
    s.at(500).ev("nemesis", "info", "heal", fault="server_crash", target="server")
    s.at(540).sent("c2:1", "c1", "c2")
    s.ev("nemesis", "info", "heal", fault="latency", target="c1")
    verdict = check(s.end("c1", "c2").events, s.rows)
    partition, crash, latency = verdict.recoveries
    assert (partition.fault, partition.target, partition.recovery_ms) == ("partition", "c2", 200.0)
    assert partition.started_ms is not None and partition.started_ms < partition.healed_ms
    assert (crash.target, crash.recovery_ms) == ("server", 41.0)
    assert latency.recovery_ms is None and latency.started_ms is None


def test_expected_violations_must_be_found_with_their_minimum() -> None:
    s = Story().start("c1")
    s.invoke("c1:1")
    s.recv("c1", s.store("c1:1"))
    s.recv("c1", s.store("c1:1"))
    s.ack("c1:1")
    events = s.end("c1").events
    assert passed(check(events, s.rows, Expectations((), {"duplicated": 1})))
    verdict = check(events, s.rows, Expectations((), {"duplicated": 2, "lost": 1}))
    assert failures(verdict) == ["expected at least 2 duplicated, found 1",
                                "expected at least 1 lost, found 0"]
    assert passed(check(events, s.rows, ["at-least-once", "ordered"]))


def test_expectations_from_a_scenario() -> None:
    assert Expectations.from_scenario(None) == Expectations()
    exp = Expectations.from_scenario({"expectations": {"guarantees": ["ordered"],
                                                       "violations": ["lost"]}})
    assert exp == Expectations(("ordered",), {"lost": 1})


def test_unknown_guarantees_and_categories_are_refused_with_the_known_ones() -> None:
    with pytest.raises(ExpectationError, match="exactly-twice.*exactly-once"):
        Expectations.of(["exactly-twice"])
    with pytest.raises(ExpectationError, match="vanished.*out_of_order"):
        Expectations(violations={"vanished": 1})
    with pytest.raises(ExpectationError, match="minimum count"):
        Expectations(violations={"lost": 0})


def test_verdict_round_trips_through_json() -> None:
    s = clean_two_clients()
    s.invoke("c1:9").ack("c1:9")
    s.ev("nemesis", "info", "heal", fault="partition", target="c1")
    verdict = check(s.events, s.rows, ["ordered"])
    again = Verdict.from_json(verdict.to_json())
    assert again == verdict
    assert again.counts["lost"] == 1 and passed(again)
    with pytest.raises(VerdictFormatError):
        Verdict.from_json('{"expected": []}')
    clean = clean_two_clients()
    unknown = check(clean.events[:-1], clean.rows)  # c2's end event is gone: it never ended
    assert unknown.inconclusive == ["lineage c2 never ended"]
    assert Verdict.from_json(unknown.to_json()) == unknown


@pytest.mark.parametrize("event", [
    {"t": 1, "proc": "c1", "type": "ok", "f": "recv"},
    {"t": 1, "proc": "c1", "type": "invoke", "f": "send", "value": {}},
    {"proc": "c1", "type": "ok", "f": "start", "value": {}},
    {"t": 1, "proc": 3, "type": "ok", "f": "recv", "value": {"id": None, "server_offset": 1}},
])
def test_a_malformed_event_is_a_history_error_naming_it(event: dict) -> None:
    good = {"t": 0, "proc": "c1", "type": "ok", "f": "start", "value": {"server_offset": 0}}
    with pytest.raises(HistoryError, match="malformed|no integer|must be a string"):
        check([good, event], [])


@pytest.mark.parametrize("row", [{"content": "x"}, {"id": 0, "content": "x"}, "row", {"id": True},
                                 {"id": 2**63, "content": "x"}, {"id": 1.5}, {"id": None}])
def test_a_malformed_row_is_a_history_error(row: object) -> None:
    with pytest.raises(HistoryError):
        check([], [row])


def test_row_ids_are_integers_or_strings_never_both() -> None:
    with pytest.raises(HistoryError, match="mix"):
        check([], [{"id": 1, "content": "a"}, {"id": "b", "content": "b"}])
    with pytest.raises(HistoryError, match="share an id"):
        check([], [{"id": "a", "content": "a"}, {"id": "a", "content": "b"}])


def test_a_row_id_of_2_63_minus_1_costs_memory_for_one_row_not_for_its_size() -> None:
    s = Story().start("c1").start("c2")
    s.invoke("c1:1").ack("c1:1")
    content = make_content("c1:1", "hi")
    s.rows.append({"id": 2**63 - 1, "client_offset": None, "content": content})
    for proc in ("c1", "c2"):
        s.ev(proc, "ok", "recv", id="c1:1", server_offset=2**63 - 1, csr_offset=None, content=content)
    tracemalloc.start()
    try:
        verdict = check(s.end("c1", "c2").events, s.rows)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    only(verdict)
    assert verdict.guarantees["exactly-once"] is True
    assert peak < 1_000_000  # bytes: a few rows' worth, where 2**63 counters would not fit anywhere


def test_string_row_ids_keep_the_order_the_rows_were_read_in() -> None:
    s = Story().start("c1")
    rows = [{"id": rid, "client_offset": None, "content": make_content(f"c1:{i}", "hi")}
            for i, rid in enumerate(("zz", "aa", "mm"), 1)]
    for row in rows:
        s.invoke(row["content"].split(" ")[0]).ack(row["content"].split(" ")[0])
    for row in (rows[0], rows[2], rows[1]):
        s.ev("c1", "ok", "recv", id=row["content"].split(" ")[0], server_offset=row["id"],
             csr_offset=None, content=row["content"])
    verdict = check(s.end("c1").events, rows)
    only(verdict, out_of_order=1)
    assert verdict.server_to_client["c1"]["out_of_order"] == ["c1:2"]


def test_a_recv_that_is_not_ok_is_not_a_receipt() -> None:
    s = Story().start("c1").start("c2")
    rid = s.sent("c1:1", "c1")
    s.ev("c2", "fail", "recv", id="c1:1", server_offset=rid, csr_offset=None,
         content=s.rows[0]["content"])
    verdict = check(s.end("c1", "c2").events, s.rows)
    only(verdict, missed=1)


def test_server_offset_true_is_not_row_1() -> None:
    s = Story().start("c1").start("c2")
    s.sent("c1:1", "c1")
    s.recv("c2", None, mid="c1:1")
    s.events[-1]["value"]["server_offset"] = True
    verdict = check(s.end("c1", "c2").events, s.rows)
    only(verdict, missed=1, phantom=1)


def test_certain_categories_are_judged_on_pages_not_judged_at_the_end() -> None:
    s = Story().start("c1").start("c2")
    r1 = s.sent("c1:1", "c1", "c2")
    s.recv("c1", r1)  # c1 received row 1 twice ...
    s.ev("c1", "info", "refresh", next="c1.1")  # ... and was then refreshed
    s.start("c1.1")
    s.recv("c1.1", r1)
    s.invoke("c2:1").info("c2:1")
    s.recv("c2", 9, mid="c2:1")  # c2 saw a phantom, and is disconnected at the end
    verdict = check(s.end("c1.1").end("c2", connected=False).events, s.rows)
    only(verdict, redelivered=1, phantom=1, indeterminate=1)
    assert verdict.guarantees["at-most-once"] is False and verdict.guarantees["no-phantoms"] is False


def test_a_refreshed_page_resuming_past_a_gap_missed_the_gap() -> None:
    s = Story().start("c1").start("c2")
    s.sent("c1:1", "c1", "c2")
    s.sent("c2:1", "c2")
    r3 = s.sent("c2:2", "c1", "c2")
    s.ev("c1", "info", "refresh", next="c1.1")
    s.start("c1.1", offset=r3)
    verdict = check(s.end("c1.1", "c2").events, s.rows)
    only(verdict, missed=1)
    assert verdict.server_to_client["c1"]["missed"] == ["c2:1"]


def test_all_clients_disconnected_at_the_end_leaves_at_least_once_inconclusive() -> None:
    s = Story().start("c1").start("c2")
    s.sent("c1:1", "c1")
    verdict = check(s.end("c1", "c2", connected=False).events, s.rows)
    only(verdict)
    assert verdict.guarantees["at-least-once"] is None and verdict.guarantees["at-most-once"] is True
    assert verdict.inconclusive == ["no client judged at the end"] and not passed(verdict)


def test_a_run_that_never_became_quiet_reports_no_delivery_in_flight_as_missed() -> None:
    s = Story().start("c1").start("c2")
    s.sent("c1:1", "c1")
    s.invoke("c1:2").info("c1:2", "timeout")
    s.ev("harness", "info", "quiet", waited=15.0, not_connected=[], pending={"c2": 1})
    verdict = check(s.end("c1", "c2").events, s.rows)
    only(verdict, indeterminate=1)
    assert verdict.guarantees["at-least-once"] is None and verdict.guarantees["exactly-once"] is None
    assert verdict.undecided == ["indeterminate", "missed"]
    assert verdict.inconclusive == ["the run did not become quiet (pending: {'c2': 1})"]


def test_a_redelivery_of_a_retried_message_says_it_may_be_a_phantom_retry() -> None:
    s = Story().start("c1").start("c2")
    s.invoke("c1:1")
    rid = s.store("c1:1")
    s.recv("c2", rid).recv("c2", rid).recv("c1", rid)
    s.ev("c1", "ok", "send", id="c1:1", tries=2)
    verdict = check(s.end("c1", "c2").events, s.rows)
    only(verdict, redelivered=1)
    assert any("cannot tell a redelivery from a phantom" in note for note in verdict.notes)


def test_every_guarantee_is_defined_by_categories_the_verdict_counts() -> None:
    verdict = check([], [])
    for categories in GUARANTEES.values():
        assert set(categories) <= set(verdict.counts)


def test_a_page_whose_initial_offset_names_no_row_is_not_judged_for_missed() -> None:
    rows = [{"id": "a1", "client_offset": None, "content": make_content("c1:1", "hi")}]
    s = Story()
    s.ev("c1", "ok", "start", lineage="c1", server_offset="zz")
    s.invoke("c1:1").ack("c1:1")
    verdict = check(s.end("c1").events, rows)
    assert verdict.unchecked_lineages == {"c1": "its initial offset names no row"}
    assert verdict.inconclusive == ["no client judged at the end"]
    assert verdict.guarantees["at-least-once"] is None
