"""Fault-window coverage read from hand-made histories: each window is hit only by a fault that meets it."""

from __future__ import annotations

from typing import Any

from harness.checkers.coverage import WINDOWS, Coverage, fault_windows

MS = 1_000_000


def ev(t: int, proc: str, type_: str, f: str, **value: Any) -> dict[str, Any]:
    return {"t": t * MS, "proc": proc, "type": type_, "f": f, "value": value}


def fault(t: int, kind: str, target: str, index: int) -> dict[str, Any]:
    return ev(t, "nemesis", "info", "fault", fault=kind, target=target, index=index)


def heal(t: int, kind: str, target: str, index: int, **extra: Any) -> dict[str, Any]:
    return ev(t, "nemesis", "info", "heal", fault=kind, target=target, index=index, **extra)


def sent(proc: str, seq: int, invoke: int, stored: int | None, acked: int | None) -> list[dict[str, Any]]:
    msg = f"{proc}:{seq}"
    events = [ev(invoke, proc, "invoke", "send", id=msg, client_offset=f"x-{seq}")]
    if stored is not None:
        events.append(ev(stored, proc, "ok", "recv", id=msg, server_offset=seq, content=msg))
    if acked is not None:
        events.append(ev(acked, proc, "ok", "send", id=msg, tries=1))
    return events


def test_a_fault_between_store_and_ack_hits_only_that_window() -> None:
    history = [ev(0, "c1", "ok", "connect", recovered=False, server_offset=0),
               *sent("c1", 1, 10, 20, 30), fault(25, "db_outage", "db", 0), heal(26, "db_outage", "db", 0)]
    windows = fault_windows(history).windows
    assert windows["store-to-ack"] == 1
    assert sum(windows.values()) == 1


def test_a_lost_ack_counts_where_its_frame_was_dropped() -> None:
    # Armed before the message was sent, fired (heal with `fired`) after its store: between store and ack.
    history = [*sent("c1", 1, 10, 20, 90), fault(5, "ack_drop", "c1", 0), heal(22, "ack_drop", "c1", 0, fired=1)]
    windows = fault_windows(history).windows
    assert windows["store-to-ack"] == 1 and windows["before-store"] == 0


def test_a_client_fault_reaches_only_its_own_messages() -> None:
    history = [*sent("c2", 1, 10, 20, 30), fault(15, "disconnect", "c1", 0), heal(16, "disconnect", "c1", 0)]
    assert fault_windows(history).windows["before-store"] == 0
    history = [*sent("c1", 1, 10, 20, 30), fault(15, "disconnect", "c1", 0), heal(16, "disconnect", "c1", 0)]
    assert fault_windows(history).windows["before-store"] == 1


def test_restart_offline_buffer_replay_and_handshake() -> None:
    history = [ev(0, "server", "info", "start", pid=1),
               ev(1, "c1", "ok", "connect", recovered=False, server_offset=0),
               *sent("c1", 1, 10, 12, 14),
               fault(20, "server_restart", "server", 0), ev(21, "server", "info", "stop", pid=1),
               ev(22, "c1", "info", "disconnect", reason="server disconnect"),
               ev(30, "c1", "invoke", "send", id="c1:2", client_offset="x-2"),
               ev(40, "server", "info", "start", pid=2), heal(40, "server_restart", "server", 0),
               ev(50, "c1", "ok", "connect", recovered=False, server_offset=1),
               ev(52, "c1", "ok", "recv", id="c1:1", server_offset=1, content="c1:1"),
               fault(51, "partition", "c1", 1), heal(60, "partition", "c1", 1)]
    windows = fault_windows(history).windows
    assert windows["server-restart"] == 1  # the restart, which c1 came back through; the partition came after
    assert windows["offline-buffer"] == 1  # c1 sent c1:2 while the server was down
    assert windows["offset-replay"] == 1  # the partition met the replay of c1:1 after the reconnect
    assert windows["csr-handshake"] == 0  # no handshake completed while a fault was active


def test_a_run_without_faults_covers_nothing_and_says_so() -> None:
    coverage = fault_windows(sent("c1", 1, 10, 20, 30))
    assert coverage.faults == 0 and not any(coverage.windows.values())
    assert "no fault fell between store and ack: lost acks were not explored" in coverage.missed()
    assert len(coverage.missed()) == len(WINDOWS)


def test_coverage_adds_and_round_trips() -> None:
    a = Coverage(2, {**dict.fromkeys(WINDOWS, 0), "store-to-ack": 1})
    b = Coverage(1, {**dict.fromkeys(WINDOWS, 0), "store-to-ack": 2, "before-store": 1})
    total = a.add(b)
    assert total.faults == 3 and total.windows["store-to-ack"] == 3 and total.windows["before-store"] == 1
    assert Coverage.from_json(total.to_json()) == total


def test_a_node_restart_window_ends_with_that_nodes_start() -> None:
    # n1 crashes; n2 starting (a run's second node, later than n1's crash in this history) is not n1 back.
    def node_history(restart: bool) -> list[dict[str, Any]]:
        return [ev(0, "server", "info", "start", pid=1, node="n1"),
                ev(1, "c1", "ok", "connect", recovered=False, server_offset=0),
                fault(10, "node_crash", "n1", 0), ev(11, "server", "info", "crash", pid=1, node="n1"),
                ev(12, "server", "info", "start", pid=2, node="n2"),
                *([ev(30, "server", "info", "start", pid=3, node="n1")] if restart else []),
                heal(30, "node_crash", "n1", 0),
                ev(40, "c1", "ok", "connect", recovered=False, server_offset=0)]

    assert fault_windows(node_history(restart=True)).windows["server-restart"] == 1
    assert fault_windows(node_history(restart=False)).windows["server-restart"] == 0
