"""Per-node delivery (harness/checkers/nodes.py): missed deliveries charged to the node the receiver was on
when the message was sent, and the time a node fault's clients took to be connected again."""

from __future__ import annotations

from typing import Any

from harness.checkers import check
from harness.checkers.nodes import per_node

MS = 1_000_000


def _e(t: int, proc: str, type_: str, f: str, **value: Any) -> dict[str, Any]:
    return {"t": t * MS, "proc": proc, "type": type_, "f": f, "value": value}


def _history() -> list[dict[str, Any]]:
    """c1 on n1 hears nothing from c2 (on n2) while n1 is deaf; c3 moves from n1 to n2 after a crash."""
    events = [_e(0, c, "ok", "start", lineage=c, server_offset=0) for c in ("c1", "c2", "c3")]
    events += [_e(1, "c1", "ok", "connect", sid="a", recovered=False, server_offset=0, node="n1"),
               _e(1, "c2", "ok", "connect", sid="b", recovered=False, server_offset=0, node="n2"),
               _e(1, "c3", "ok", "connect", sid="c", recovered=False, server_offset=0, node="n1"),
               _e(10, "nemesis", "info", "fault", fault="deaf_node", target="n1", index=0),
               _e(12, "c2", "invoke", "send", id="c2:1", client_offset=None),
               _e(13, "c2", "ok", "recv", id="c2:1", server_offset=1, csr_offset=None, content="c2:1"),
               _e(30, "nemesis", "info", "heal", fault="deaf_node", target="n1", index=0),
               _e(40, "nemesis", "info", "fault", fault="node_crash", target="n1", index=1),
               _e(41, "c3", "info", "disconnect", reason="transport error"),
               _e(41, "c1", "info", "disconnect", reason="transport error"),
               _e(90, "c3", "ok", "connect", sid="d", recovered=False, server_offset=1, node="n2"),
               _e(95, "c1", "ok", "connect", sid="e", recovered=False, server_offset=1, node="n2"),
               _e(99, "nemesis", "info", "heal", fault="node_crash", target="n1", index=1)]
    # c3 got c2:1 (before the crash, through n1's late resubscription); c1 never did.
    events.insert(9, _e(31, "c3", "ok", "recv", id="c2:1", server_offset=1, csr_offset=None, content="c2:1"))
    events += [_e(100, c, "ok", "end", connected=True) for c in ("c1", "c2", "c3")]
    return events


def test_a_deaf_nodes_misses_are_charged_to_it_and_crash_recovery_is_timed() -> None:
    events = _history()
    verdict = check(iter(events), [{"id": 1, "client_offset": None, "content": "c2:1"}], ["at-most-once"])
    assert verdict.server_to_client["c1"]["missed"] == ["c2:1"]
    report = per_node(events, verdict)
    assert report is not None
    assert report.nodes["n1"].missed == 1 and report.nodes["n1"].missed_by_client == {"c1": 1}
    assert report.nodes["n2"].missed == 0
    assert report.nodes["n2"].clients == ["c2", "c3", "c1"]
    deaf, crash = report.faults
    assert (deaf.kind, deaf.disconnected, deaf.recovered_ms) == ("deaf_node", [], None)
    assert crash.disconnected == ["c1", "c3"] and crash.recovered_ms == 55.0


def test_a_single_server_history_has_no_breakdown() -> None:
    events = [{**e, "value": {k: v for k, v in e["value"].items() if k != "node"}} for e in _history()]
    verdict = check(iter(events), [{"id": 1, "client_offset": None, "content": "c2:1"}], ["at-most-once"])
    assert per_node(events, verdict) is None
